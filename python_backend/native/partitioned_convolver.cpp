#include "partitioned_convolver.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace bm {

namespace {

int checked_hop(int channels, int hop, int n_fir, int identity_delay) {
    if (channels != 1 && channels != 2)
        throw std::invalid_argument("channels must be 1 or 2, got " + std::to_string(channels));
    if (hop < 1) throw std::invalid_argument("hop must be >= 1, got " + std::to_string(hop));
    if (n_fir < 1 || n_fir % hop != 0)
        throw std::invalid_argument("n_fir (" + std::to_string(n_fir) + ") must be a positive multiple of hop (" +
                                    std::to_string(hop) + ")");
    if (identity_delay < 0)
        throw std::invalid_argument("identity_delay must be >= 0, got " + std::to_string(identity_delay));
    return hop;
}

// acc += x h over n bins, split complex (n real parts, then n imaginary ones)
inline void multiply_add(double* __restrict acc, const double* __restrict x, const double* __restrict h, int n) {
    const double *xr = x, *xi = x + n, *hr = h, *hi = h + n;
    double *ar = acc, *ai = acc + n;
    for (int k = 0; k < n; ++k) {
        ar[k] += xr[k] * hr[k] - xi[k] * hi[k];
        ai[k] += xr[k] * hi[k] + xi[k] * hr[k];
    }
}

// the same for mid and side: acc_m += (l + r) h_m, acc_s += (l - r) h_s (the M/S scales come later)
inline void multiply_add_ms(double* __restrict acc_m, double* __restrict acc_s, const double* __restrict l,
                            const double* __restrict r, const double* __restrict h_m, const double* __restrict h_s,
                            int n) {
    for (int k = 0; k < n; ++k) {
        const double mr = l[k] + r[k], mi = l[n + k] + r[n + k];
        const double sr = l[k] - r[k], si = l[n + k] - r[n + k];
        acc_m[k] += mr * h_m[k] - mi * h_m[n + k];
        acc_m[n + k] += mr * h_m[n + k] + mi * h_m[k];
        acc_s[k] += sr * h_s[k] - si * h_s[n + k];
        acc_s[n + k] += sr * h_s[n + k] + si * h_s[k];
    }
}

}  // namespace

PartitionedConvolver::PartitionedConvolver(int channels, int hop, int n_fir, int identity_delay)
    : channels_(channels),
      hop_(checked_hop(channels, hop, n_fir, identity_delay)),
      n_fir_(n_fir),
      parts_(n_fir / hop),
      bins_(hop + 1),
      delay_(identity_delay),
      fft_(2 * hop),
      prev_in_(static_cast<std::size_t>(channels) * hop),
      dry_(static_cast<std::size_t>(channels) * (static_cast<std::size_t>(identity_delay) + hop)),
      frame_(2 * static_cast<std::size_t>(hop)),
      fdl_(static_cast<std::size_t>(parts_) * channels * 2 * bins_),
      acc_(static_cast<std::size_t>(channels) * 2 * bins_),
      spec_(static_cast<std::size_t>(hop) + 1),
      out_(2 * static_cast<std::size_t>(hop)),
      y_old_(static_cast<std::size_t>(channels) * hop) {
    for (Filter& f : slots_) f.spectra.resize(fdl_.size());
    reset();
}

void PartitionedConvolver::reset() {
    std::fill(prev_in_.begin(), prev_in_.end(), 0.0);
    std::fill(dry_.begin(), dry_.end(), 0.0);
    dry_w_ = 0;
    std::fill(fdl_.begin(), fdl_.end(), 0.0);
    head_ = 0;
    slots_[0].identity = slots_[1].identity = true;
    cur_ = tgt_ = 0;
    fading_ = false;
    fade_pos_ = 0;
    fade_len_ = 1;
}

void PartitionedConvolver::forward(const double* frame, double* spectrum) {
    fft_.forward(frame, spec_.data());
    double *re = spectrum, *im = spectrum + bins_;
    for (int k = 0; k < bins_; ++k) {
        re[k] = spec_[k].real();
        im[k] = spec_[k].imag();
    }
}

void PartitionedConvolver::inverse_last_hop(const double* spectrum, double* y) {
    const double *re = spectrum, *im = spectrum + bins_;
    for (int k = 0; k < bins_; ++k) spec_[k] = cpx(re[k], im[k]);
    fft_.inverse(spec_.data(), out_.data());
    std::copy(out_.begin() + hop_, out_.end(), y);
}

void PartitionedConvolver::read_ring(int start, double* y) const {
    const int len = delay_ + hop_;
    for (int c = 0; c < channels_; ++c) {
        const double* ring = &dry_[static_cast<std::size_t>(c) * len];
        int i = start % len;
        for (int j = 0; j < hop_; ++j, ++i) {
            if (i >= len) i -= len;
            y[c * hop_ + j] = ring[i];
        }
    }
}

void PartitionedConvolver::delayed_input(double* y) const { read_ring(dry_w_, y); }  // process() advanced dry_w_

void PartitionedConvolver::filter_hop(const Filter& f, double* y) {
    const int C = channels_, B = bins_, hop = hop_;
    if (f.identity) {  // the input delay_ samples back: in a ring of delay_ + hop samples, the hop
        // after the one process() just wrote (which it reaches by wrapping where delay_ < hop)
        read_ring(dry_w_ + hop, y);
        return;
    }
    const std::size_t blk = 2 * static_cast<std::size_t>(B);
    std::fill(acc_.begin(), acc_.end(), 0.0);
    double* acc = acc_.data();
    for (int p = 0; p < parts_; ++p) {
        int slot = head_ - p;  // the input spectrum p hops old meets partition p
        if (slot < 0) slot += parts_;
        const double* X = &fdl_[slot * C * blk];
        const double* H = &f.spectra[p * f.rows * blk];
        if (f.ms) {
            multiply_add_ms(acc, acc + blk, X, X + blk, H, H + blk, B);
        } else {
            for (int c = 0; c < C; ++c) multiply_add(acc + c * blk, X + c * blk, H + (f.rows == 1 ? 0 : c * blk), B);
        }
    }
    if (f.ms) {  // back to L/R: both M/S scales (sqrt 1/2 each) at once
        for (std::size_t k = 0; k < blk; ++k) {
            const double m = acc[k], s = acc[blk + k];
            acc[k] = 0.5 * (m + s);
            acc[blk + k] = 0.5 * (m - s);
        }
    }
    for (int c = 0; c < C; ++c) inverse_last_hop(acc + c * blk, y + c * hop);
}

void PartitionedConvolver::set_filter(const double* h, int rows, bool ms, long fade) {
    if (rows != 1 && rows != channels_)
        throw std::invalid_argument("the filter needs 1 or " + std::to_string(channels_) + " rows, got " +
                                    std::to_string(rows));
    if (fade < 1) throw std::invalid_argument("fade must be >= 1 sample, got " + std::to_string(fade));
    if (!fading_) {
        tgt_ = 1 - cur_;
    } else if (fade_pos_ > 0) {
        // a fade in progress: the new fade starts from that fade's target (its start is dropped,
        // so the output steps by the unfinished part of the old fade; the engines never do this)
        cur_ = tgt_;
        tgt_ = 1 - cur_;
    }  // else a fade that has not produced a sample yet: only its target is replaced
    Filter& f = slots_[tgt_];
    f.identity = h == nullptr;
    f.rows = rows;
    f.ms = ms && channels_ == 2 && rows == 2;
    if (h != nullptr) {
        const int hop = hop_;
        std::fill(frame_.begin() + hop, frame_.end(), 0.0);
        for (int p = 0; p < parts_; ++p) {
            for (int r = 0; r < rows; ++r) {
                const double* piece = h + static_cast<std::size_t>(r) * n_fir_ + static_cast<std::size_t>(p) * hop;
                std::copy(piece, piece + hop, frame_.begin());
                forward(frame_.data(), &f.spectra[(static_cast<std::size_t>(p) * rows + r) * 2 * bins_]);
            }
        }
    }
    fading_ = true;
    fade_pos_ = 0;
    fade_len_ = fade;
}

void PartitionedConvolver::process(const double* x, std::ptrdiff_t x_row, std::ptrdiff_t x_col, double* y) {
    const int C = channels_, hop = hop_;
    head_ = head_ + 1 == parts_ ? 0 : head_ + 1;
    const int len = delay_ + hop;
    for (int c = 0; c < C; ++c) {  // input spectrum of [previous hop, this hop] into the delay line
        double* prev = &prev_in_[static_cast<std::size_t>(c) * hop];
        double* ring = &dry_[static_cast<std::size_t>(c) * len];
        std::copy(prev, prev + hop, frame_.begin());
        int i = dry_w_;
        for (int j = 0; j < hop; ++j, ++i) {
            if (i >= len) i -= len;
            frame_[hop + j] = prev[j] = ring[i] = x[c * x_row + j * x_col];
        }
        forward(frame_.data(), &fdl_[(static_cast<std::size_t>(head_) * C + c) * 2 * bins_]);
    }
    if (!fading_) {
        filter_hop(slots_[cur_], y);
    } else {
        filter_hop(slots_[tgt_], y);
        filter_hop(slots_[cur_], y_old_.data());
        crossfade(y);
    }
    dry_w_ += hop;
    if (dry_w_ >= len) dry_w_ -= len;
}

void PartitionedConvolver::crossfade(double* y) {
    const int C = channels_, hop = hop_;
    // ramp (i + 1) / fade for the fade's i-th sample; past its end the target alone
    const long n = std::min<long>(hop, fade_len_ - fade_pos_);
    for (int c = 0; c < C; ++c) {
        double* yc = y + c * hop;
        const double* old = &y_old_[static_cast<std::size_t>(c) * hop];
        for (long j = 0; j < n; ++j)
            yc[j] = old[j] + (yc[j] - old[j]) * (static_cast<double>(fade_pos_ + j + 1) / fade_len_);
    }
    fade_pos_ += hop;
    if (fade_pos_ >= fade_len_) {
        fading_ = false;
        cur_ = tgt_;
    }
}

}  // namespace bm
