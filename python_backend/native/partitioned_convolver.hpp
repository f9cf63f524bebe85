// Uniformly partitioned overlap-save convolution (partitions of one hop) with a crossfade on
// filter changes: the per-hop filtering of the ResonanceEQ and matching engines in one call.
// Plain C++ (no Python); bindings.cpp exposes it as bandmate._dsp.PartitionedConvolver.
#pragma once

#include <complex>
#include <cstddef>
#include <vector>

#include "real_fft.hpp"

namespace bm {

class PartitionedConvolver {
public:
    using cpx = std::complex<double>;

    // channels 1 or 2, hop >= 1, n_fir a positive multiple of hop; throws std::invalid_argument.
    // The identity filter outputs the input delayed by identity_delay >= 0 samples (exactly: a
    // linear-phase activation's "no correction" is a delay). Everything process() and set_filter()
    // need is allocated here.
    PartitionedConvolver(int channels, int hop, int n_fir, int identity_delay = 0);

    // h: rows x n_fir, row-major, finite (the caller validates); nullptr = identity (the delay).
    // rows 1 filters every channel, rows == channels one filter per channel; ms (2 channels, 2 rows)
    // filters mid and side instead of left and right (ignored otherwise: a shared filter is the
    // same in L/R and M/S). The change crossfades linearly over `fade` >= 1 samples, from the next
    // process().
    void set_filter(const double* h, int rows, bool ms, long fade);

    // One hop: x and y are channels x hop, element (c, j) at x[c * x_row + j * x_col] and
    // y[c * hop + j]. Output sample t = sum_k h[k] x[t - k] (no added latency).
    void process(const double* x, std::ptrdiff_t x_row, std::ptrdiff_t x_col, double* y);

    // y (channels x hop): the input identity_delay samples before the hop process() last filtered
    // (what the identity filter outputs), for a dry path aligned with the filtered one.
    void delayed_input(double* y) const;

    // Zero history, identity filter, no fade.
    void reset();

    int channels() const { return channels_; }
    int hop() const { return hop_; }
    int n_fir() const { return n_fir_; }
    int partitions() const { return parts_; }
    int identity_delay() const { return delay_; }

private:
    // Spectra are stored split, a block of 2 (hop + 1) doubles per spectrum: the real parts, then
    // the imaginary ones (so that the multiply-add vectorises).
    struct Filter {
        bool identity = true;
        int rows = 1;
        bool ms = false;
        std::vector<double> spectra;  // [partition][row] blocks: each hop-long piece, zero-padded to 2 hop
    };

    void forward(const double* frame, double* spectrum);       // 2 hop real samples -> hop + 1 bins
    void inverse_last_hop(const double* spectrum, double* y);  // hop + 1 bins -> the last hop of 2 hop samples
    void read_ring(int start, double* y) const;  // hop samples per channel of dry_ from index start, wrapping
    void filter_hop(const Filter& f, double* y);  // this hop through f (after process() took the input)
    void crossfade(double* y);                    // y = the fade's start output + (y - it) * ramp

    int channels_, hop_, n_fir_, parts_, bins_, delay_;
    RealFft fft_;                   // the real 2 hop-point transform and its inverse
    std::vector<double> prev_in_;   // channels x hop: the previous input hop
    std::vector<double> dry_;       // channels x (delay + hop): ring of the input, for the delayed identity
    int dry_w_ = 0;                 // where the next hop is written
    std::vector<double> frame_;     // 2 hop: [previous hop, this hop] of one channel
    std::vector<double> fdl_;       // frequency-domain delay line: [partition slot][channel] blocks, a ring
    int head_ = 0;                  // slot of the newest input spectrum
    std::vector<double> acc_;       // [channel] blocks: the output spectra
    std::vector<cpx> spec_;         // hop + 1 bins: interleaved spectrum for fft_
    std::vector<double> out_;       // 2 hop: fft_'s inverse, whose last hop is the output
    std::vector<double> y_old_;     // channels x hop: the fade's start filter's output
    Filter slots_[2];
    int cur_ = 0;  // the filter playing (the fade's start during a fade)
    int tgt_ = 0;  // the fade's target
    bool fading_ = false;
    long fade_len_ = 1, fade_pos_ = 0;  // samples in the fade, samples of it already produced
};

}  // namespace bm
