#include "resonance_analyzer.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>

namespace bm {

namespace {

const double kLn10Over20 = std::log(10.0) / 20.0;
constexpr double kIdentityDb = 1e-4;  // a curve (and make-up) within this of 0 dB is the identity filter
constexpr double kLinked = 0.999;     // stereo_link from which one detector and filter serve both channels

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument(what); }

void require_size(const char* what, std::size_t size, std::size_t want) {
    if (size != want) fail(std::string(what) + " must have " + std::to_string(want) + " values, got " + std::to_string(size));
}

// np.maximum / np.minimum: NaN wins
inline double nan_max(double a, double b) { return (a >= b || std::isnan(a)) ? a : b; }
inline double nan_min(double a, double b) { return (a <= b || std::isnan(a)) ? a : b; }

// both rows of a (2, n) state become their mean
void average_rows(std::vector<double>& st) {
    const std::size_t n = st.size() / 2;
    for (std::size_t i = 0; i < n; ++i) st[i] = st[n + i] = (st[i] + st[n + i]) * 0.5;
}

double max_abs_diff(const double* a, const double* b, std::size_t n) {
    double m = 0.0;
    for (std::size_t i = 0; i < n; ++i) m = std::max(m, std::abs(a[i] - b[i]));
    return m;
}

}  // namespace

void SparseRows::validate(const char* what, int want_rows, int want_cols) const {
    const std::string w(what);
    if (rows != want_rows || cols != want_cols)
        fail(w + " must have shape (" + std::to_string(want_rows) + ", " + std::to_string(want_cols) + "), got (" +
             std::to_string(rows) + ", " + std::to_string(cols) + ")");
    require_size((w + ".indptr").c_str(), indptr.size(), static_cast<std::size_t>(rows) + 1);
    if (indptr[0] != 0 || static_cast<std::size_t>(indptr[rows]) != indices.size() || indices.size() != data.size())
        fail(w + ": inconsistent indptr / indices / data");
    for (int r = 0; r < rows; ++r)
        if (indptr[r] > indptr[r + 1]) fail(w + ": indptr must not decrease");
    for (int j : indices)
        if (j < 0 || j >= cols) fail(w + ": column index out of range");
}

void SparseRows::apply(const double* x, double* y) const {
    for (int r = 0; r < rows; ++r) {
        double sum = 0.0;
        for (int jj = indptr[r]; jj < indptr[r + 1]; ++jj) sum += data[jj] * x[indices[jj]];
        y[r] = sum;
    }
}

ResonanceAnalyzer::ResonanceAnalyzer(ResonanceTables tables)
    : t_(std::move(tables)),
      C_(t_.channels),
      G_(static_cast<int>(t_.a_det.size())),
      nl_(static_cast<int>(t_.low_pen.size())),
      K_(static_cast<int>(t_.fold.size())),
      n_fir_(2 * (K_ - 1)),
      n_short_(static_cast<int>(t_.win_short.size())),
      n_long_(static_cast<int>(t_.win_long.size())),
      taps_(static_cast<int>(t_.lowpass.size())),
      fft_short_(n_short_),
      fft_long_(n_long_),
      fft_fir_(n_fir_) {
    if (C_ != 1 && C_ != 2) fail("channels must be 1 or 2, got " + std::to_string(C_));
    if (G_ < 2 || nl_ < 1 || nl_ > G_) fail("need 2 or more grid points and 1..G low-path points");
    if (t_.decimate < 1 || t_.update < t_.decimate || t_.update % t_.decimate != 0)
        fail("update must be a positive multiple of decimate");
    if (taps_ < 1) fail("lowpass must have taps");
    if (t_.fade < 1) fail("fade must be >= 1 sample");
    if (t_.envelope_half < 0 || t_.long_sd < 0) fail("half-widths must be >= 0");
    if (!(t_.flat_lo_db < t_.flat_hi_db)) fail("flat_db must increase");
    t_.map_short.validate("map_short", G_, n_short_ / 2 + 1);
    t_.map_long.validate("map_long", nl_, n_long_ / 2 + 1);
    if (t_.k_cross < 0 || t_.k_cross > K_) fail("k_cross out of range");
    t_.bins_map.validate("bins_map", K_ - t_.k_cross, G_);
    if (!t_.pool_bins.empty()) {
        require_size("pool_idx", t_.pool_idx.size(), t_.pool_bins.size() + 1);
        for (int k : t_.pool_bins)
            if (k < 0 || k >= t_.k_cross) fail("pool_bins must lie below k_cross");
        for (std::size_t i = 0; i < t_.pool_idx.size(); ++i)
            if (t_.pool_idx[i] < 0 || t_.pool_idx[i] >= G_ + (i + 1 == t_.pool_idx.size() ? 1 : 0))
                fail("pool_idx out of range");
    }
    for (int e : t_.meter_edges)
        if (e < 0 || e >= K_) fail("meter_edges out of range");
    if (t_.meter_edges.empty()) fail("need meter edges");
    if (!t_.a_onset.empty()) require_size("a_onset", t_.a_onset.size(), t_.a_det.size());

    const double flat_x[2] = {t_.flat_lo_db, t_.flat_hi_db}, flat_y[2] = {-t_.long_gate_db, 0.0};
    flat_gate_.assign(flat_x, flat_y, 2);

    const std::size_t C = C_, G = G_, K = K_;
    const int n_max = std::max({n_short_, n_long_, n_fir_});
    const std::size_t bins_max = static_cast<std::size_t>(std::max(n_short_, n_long_)) / 2 + 1;
    thr_.assign(G, 0.0);
    band_.assign(G, 0.0);
    attack_.assign(G, 1.0);
    release_.assign(G, 1.0);
    ps_.resize(C * G);
    prev_.resize(C * G);
    os_.resize(C * G);
    psl_.resize(C * nl_);
    g_.resize(C * G);
    makeup_.resize(C);
    lbuf_w_ = n_long_ + 64 * (t_.update / t_.decimate);
    lbuf_.resize(C * lbuf_w_);
    gk_.resize(C * K);
    gk_new_.resize(C * K);
    gk_makeup_.resize(C);
    frame_.resize(n_max);
    spec_.resize(C * std::max(bins_max, K));
    pow_.resize(C * bins_max);
    grid_pow_.resize(C * G);
    grid_main_.assign(C * G, 0.0);
    lev_.resize(2 * C * G);
    env_.resize(2 * C * G);
    flat_.resize(C * nl_);
    mean_.resize(nl_);
    logs_.resize(nl_);
    tmp_.resize(G);
    target_.resize(C * G);
    cep_.resize(n_fir_);
    fir_.resize(C * n_fir_);
    ext_.resize(G + 2 * std::max(t_.envelope_half, t_.long_sd));
    reset();
}

long ResonanceAnalyzer::history() const {
    return std::max<long>(n_short_, static_cast<long>(t_.update) + taps_ - t_.decimate);
}

void ResonanceAnalyzer::set_sharpness(int detect_half, int dilate_half) {
    if (detect_half < 0 || dilate_half < 0) fail("sharpness half-widths must be >= 0");
    sd_ = detect_half;
    dil_ = dilate_half;
    const std::size_t need = G_ + 2 * static_cast<std::size_t>(std::max({t_.envelope_half, t_.long_sd, sd_, dil_}));
    if (ext_.size() < need) ext_.resize(need);
}

void ResonanceAnalyzer::set_threshold(const double* thr) { std::copy(thr, thr + G_, thr_.begin()); }
void ResonanceAnalyzer::set_band(const double* band) { std::copy(band, band + G_, band_.begin()); }

void ResonanceAnalyzer::set_attack_release(const double* attack, const double* release) {
    std::copy(attack, attack + G_, attack_.begin());
    std::copy(release, release + G_, release_.begin());
}

void ResonanceAnalyzer::set_gain_table(const double* xp, const double* fp, int n) {
    if (n < 1) fail("the gain table needs points");
    for (int j = 0; j + 1 < n; ++j)
        if (!(xp[j] < xp[j + 1])) fail("the gain table's xp must increase");
    gain_table_.assign(xp, fp, n);
}

void ResonanceAnalyzer::reset() {
    std::fill(ps_.begin(), ps_.end(), 0.0);
    std::fill(prev_.begin(), prev_.end(), 0.0);
    std::fill(os_.begin(), os_.end(), 0.0);
    std::fill(psl_.begin(), psl_.end(), 0.0);
    std::fill(g_.begin(), g_.end(), 0.0);
    std::fill(makeup_.begin(), makeup_.end(), 0.0);
    std::fill(lbuf_.begin(), lbuf_.end(), 0.0);
    lw_ = n_long_;
    std::fill(grid_main_.begin(), grid_main_.end(), 0.0);
    ms_cur_ = false;
    ms_switched_ = false;
    rows_ = 1;
    filter_on_ = false;
    gk_rows_ = 1;
}

int ResonanceAnalyzer::power(const double* x, std::ptrdiff_t x_row, const RealFft& fft, const std::vector<double>& win,
                             bool ms, double link, const SparseRows& map, double* out) {
    const int n = fft.size(), nb = n / 2 + 1;
    RealFft::cpx* X = spec_.data();
    for (int c = 0; c < C_; ++c) {
        const double* xc = x + c * x_row;
        for (int j = 0; j < n; ++j) frame_[j] = xc[j] * win[j];
        fft.forward(frame_.data(), X + c * nb);
    }
    if (ms && link < kLinked) {
        const double h = std::sqrt(0.5);
        for (int k = 0; k < nb; ++k) {
            const RealFft::cpx a = X[k], b = X[nb + k];
            X[k] = (a + b) * h;
            X[nb + k] = (a - b) * h;
        }
    }
    double* P = pow_.data();
    for (int i = 0; i < C_ * nb; ++i) P[i] = X[i].real() * X[i].real() + X[i].imag() * X[i].imag();
    int rows = C_;
    if (C_ == 2 && link > 0.0) {
        double *p0 = P, *p1 = P + nb;
        if (link >= kLinked) {
            for (int k = 0; k < nb; ++k) p0[k] = (p0[k] + p1[k]) * 0.5;
            rows = 1;
        } else {  // each channel blended with the channel mean
            const double w = 0.5 * link, keep = 1.0 - link;
            for (int k = 0; k < nb; ++k) {
                const double m = (p0[k] + p1[k]) * w;
                p0[k] = p0[k] * keep + m;
                p1[k] = p1[k] * keep + m;
            }
        }
    }
    for (int r = 0; r < rows; ++r) map.apply(P + r * nb, out + r * map.rows);
    return rows;
}

const double* ResonanceAnalyzer::low_input(const double* x, std::ptrdiff_t x_row, long end) {
    const int d = t_.decimate, m_new = t_.update / d;
    const long start = end - t_.update - taps_ + d;  // output m uses the taps samples ending at end - update + (m + 1) d
    if (lw_ + m_new > lbuf_w_) {  // ring: move the window to the front
        for (int c = 0; c < C_; ++c) {
            double* row = &lbuf_[static_cast<std::size_t>(c) * lbuf_w_];
            std::copy(row + lw_ - n_long_, row + lw_, row);
        }
        lw_ = n_long_;
    }
    const double* lp = t_.lowpass.data();
    for (int c = 0; c < C_; ++c) {
        double* row = &lbuf_[static_cast<std::size_t>(c) * lbuf_w_];
        for (int m = 0; m < m_new; ++m) {
            const double* seg = x + c * x_row + start + static_cast<long>(m) * d;
            double acc = 0.0;
            for (int j = 0; j < taps_; ++j) acc += seg[j] * lp[j];
            row[lw_ + m] = acc;
        }
    }
    lw_ += m_new;
    return lbuf_.data() + lw_ - n_long_;
}

void ResonanceAnalyzer::prominence(int rows, bool onset, bool main_path) {
    const int G = G_, nl = nl_, h = 2 * t_.envelope_half + 1;
    double* ext = ext_.data();
    for (int r = 0; r < rows; ++r) {
        double* main = &lev_[static_cast<std::size_t>(r) * G];
        double* low = &lev_[static_cast<std::size_t>(rows + r) * G];
        const double* ps = &(onset ? os_ : ps_)[static_cast<std::size_t>(r) * G];
        const double* psl = &psl_[static_cast<std::size_t>(r) * nl];
        if (main_path)
            for (int i = 0; i < G; ++i) main[i] = ps[i] + t_.floor;
        for (int i = 0; i < G; ++i) low[i] = psl[i < nl ? i : nl - 1] + t_.floor;
        // flatness of the low path over the envelope width: geometric / arithmetic mean, dB
        double* flat = &flat_[static_cast<std::size_t>(r) * nl];
        uniform_filter_nearest(low, nl, h, mean_.data(), ext);
        for (int i = 0; i < nl; ++i) logs_[i] = std::log10(low[i]);
        uniform_filter_nearest(logs_.data(), nl, h, flat, ext);
        for (int i = 0; i < nl; ++i) flat[i] = (flat[i] - std::log10(mean_[i])) * 10.0;
        if (main_path && sd_ > 0) uniform_filter_nearest(main, G, 2 * sd_ + 1, main, ext);
        if (t_.long_sd > 0) uniform_filter_nearest(low, G, 2 * t_.long_sd + 1, low, ext);
    }
    // robust envelope: moving average, peaks clipped to it + envelope_clip, moving average again
    for (int r = main_path ? 0 : rows; r < 2 * rows; ++r) {
        double* lev = &lev_[static_cast<std::size_t>(r) * G];
        double* env = &env_[static_cast<std::size_t>(r) * G];
        uniform_filter_nearest(lev, G, h, env, ext);
        for (int i = 0; i < G; ++i) env[i] = nan_min(env[i] * t_.envelope_clip, lev[i]);
        uniform_filter_nearest(env, G, h, env, ext);
        const int used = r < rows ? G : nl;  // the low path is read below nl only
        for (int i = 0; i < used; ++i) lev[i] = std::log10(lev[i] / env[i]) * 10.0;
    }
}

void ResonanceAnalyzer::detect(int rows, bool cut, const double* main_db, const double* low_db) {
    const int G = G_, nl = nl_;
    prominence(rows, cut && !t_.a_onset.empty(), main_db == nullptr);  // a detector's main path replaces the rule's
    for (int r = 0; r < rows; ++r) {
        double* x = &lev_[static_cast<std::size_t>(r) * G];
        if (main_db) std::copy_n(main_db + static_cast<std::size_t>(r) * G, G, x);
        const double* xl = &lev_[static_cast<std::size_t>(rows + r) * G];
        const double* flat = &flat_[static_cast<std::size_t>(r) * nl];
        const double* gate = low_db ? low_db + static_cast<std::size_t>(r) * G : nullptr;
        // the low path counts only where the spectrum is noise-like (flat) and the detector lets it
        for (int i = 0; i < nl; ++i) {
            double v = xl[i] + flat_gate_(flat[i]);
            v += t_.low_pen[i];
            if (gate) v += gate[i];
            x[i] = nan_max(x[i], v);
        }
        double* y = cut ? tmp_.data() : &target_[static_cast<std::size_t>(r) * G];
        for (int i = 0; i < G; ++i) y[i] = gain_table_(x[i] - thr_[i]) * band_[i];
        if (cut) {  // cut the peak over its width: dilate, then smooth
            double* out = &target_[static_cast<std::size_t>(r) * G];
            minimum_filter_nearest(y, G, dil_, out);
            uniform_filter_nearest(out, G, 2 * dil_ + 1, out, ext_.data());
        }
    }
}

void ResonanceAnalyzer::to_filter_bins(int rows, bool cut, double* out) const {
    const int G = G_, K = K_, n_pool = static_cast<int>(t_.pool_bins.size());
    for (int r = 0; r < rows; ++r) {
        const double* g = &g_[static_cast<std::size_t>(r) * G];
        double* o = out + static_cast<std::size_t>(r) * K;
        std::fill(o, o + t_.k_cross, 0.0);
        for (int i = 0; i < n_pool; ++i) {  // np.minimum/maximum.reduceat over the covered points
            const int a = t_.pool_idx[i], b = t_.pool_idx[i + 1];
            double v = g[a];
            for (int j = a + 1; j < b; ++j) v = cut ? nan_min(v, g[j]) : nan_max(v, g[j]);
            o[t_.pool_bins[i]] = v;
        }
        t_.bins_map.apply(g, o + t_.k_cross);
    }
}

void ResonanceAnalyzer::minimum_phase(int rows, const double* gain_db, const double* makeup_db, double* fir) {
    // real cepstrum of the log magnitude, folded onto positive quefrencies, exponentiated
    const int K = K_, N = n_fir_;
    RealFft::cpx* S = spec_.data();
    double* c = cep_.data();
    for (int r = 0; r < rows; ++r) {
        const double* gd = gain_db + static_cast<std::size_t>(r) * K;
        for (int k = 0; k < K; ++k) S[k] = RealFft::cpx(gd[k] * kLn10Over20, 0.0);
        fft_fir_.inverse(S, c);
        for (int k = 0; k < K; ++k) c[k] *= t_.fold[k];
        c[0] += makeup_db[r] * kLn10Over20;
        std::fill(c + K, c + N, 0.0);
        fft_fir_.forward(c, S);
        for (int k = 0; k < K; ++k) S[k] = std::exp(S[k]);
        fft_fir_.inverse(S, fir + static_cast<std::size_t>(r) * N);
    }
}

void ResonanceAnalyzer::update(const double* x, std::ptrdiff_t x_row, long end, const Settings& s,
                               const double* energy, PartitionedConvolver& conv) {
    analyze(x, x_row, end, s);
    finish(s, energy, conv, nullptr);
}

void ResonanceAnalyzer::analyze(const double* x, std::ptrdiff_t x_row, long end, const Settings& s) {
    const bool ms = C_ == 2 && s.mid_side;
    if (ms != ms_cur_) {  // domain switch: start the new domain from the channel mean
        for (std::vector<double>* st : {&ps_, &prev_, &os_, &psl_, &g_, &makeup_}) average_rows(*st);
        ms_cur_ = ms;
        ms_switched_ = true;  // until a finish() installs a filter (kept if a detector throws in between)
    }
    const double link = C_ == 2 ? s.stereo_link : 0.0;
    rows_ = C_ == 1 || link >= kLinked ? 1 : C_;  // fully linked: one detector and one filter for both
    smooth_powers(x, x_row, end, rows_, ms, link);
}

void ResonanceAnalyzer::finish(const Settings& s, const double* energy, PartitionedConvolver& conv,
                               const double* main_db, const double* low_db) {
    const int rows = rows_;
    if (s.amount != 0.0 && s.depth_db > 0.0) {
        if (gain_table_.empty()) throw std::logic_error("ResonanceAnalyzer: set_gain_table before update");
        const bool cut = s.amount < 0.0;
        detect(rows, cut, cut ? main_db : nullptr, cut ? low_db : nullptr);
    } else {
        std::fill(target_.begin(), target_.begin() + rows * G_, 0.0);
    }
    move_curve(rows, s.amount, energy);
    install_filter(rows, s.amount <= 0.0, ms_cur_, ms_switched_, conv);
    ms_switched_ = false;
}

void ResonanceAnalyzer::smooth_powers(const double* x, std::ptrdiff_t x_row, long end, int rows, bool ms,
                                      double link) {
    const int G = G_;
    power(x + (end - n_short_), x_row, fft_short_, t_.win_short, ms, link, t_.map_short, grid_pow_.data());
    std::copy_n(grid_pow_.begin(), static_cast<std::size_t>(rows) * G, grid_main_.begin());
    for (int r = 0; r < rows; ++r) {
        double* ps = &ps_[static_cast<std::size_t>(r) * G];
        const double* p = &grid_pow_[static_cast<std::size_t>(r) * G];
        for (int i = 0; i < G; ++i) ps[i] += t_.a_det[i] * (p[i] - ps[i]);
        if (t_.a_onset.empty()) continue;
        // A resonance rings whenever the input moves (hits and note onsets pass through it); a held
        // partial adds little: cuts are detected on the smoothed rise in power since the last update
        double* os = &os_[static_cast<std::size_t>(r) * G];
        double* prev = &prev_[static_cast<std::size_t>(r) * G];
        for (int i = 0; i < G; ++i) {
            os[i] += t_.a_onset[i] * (std::max(p[i] - prev[i], 0.0) - os[i]);
            prev[i] = p[i];
        }
    }
    const double* low = low_input(x, x_row, end);
    power(low, lbuf_w_, fft_long_, t_.win_long, ms, link, t_.map_long, grid_pow_.data());
    for (int i = 0; i < rows * nl_; ++i) psl_[i] += t_.a_det_long * (grid_pow_[i] - psl_[i]);
}

void ResonanceAnalyzer::move_curve(int rows, double amount, const double* energy) {
    const int C = C_, G = G_;
    // attack when moving away from 0 dB (down for cuts, up for boosts), release when returning
    for (int r = 0; r < rows; ++r) {
        double* g = &g_[static_cast<std::size_t>(r) * G];
        const double* target = &target_[static_cast<std::size_t>(r) * G];
        for (int i = 0; i < G; ++i) {
            const bool away = amount <= 0.0 ? target[i] < g[i] : target[i] > g[i];
            g[i] += (target[i] - g[i]) * (away ? attack_[i] : release_[i]);
        }
    }
    if (amount > 0.0) {  // emphasis: integrate the measured wet/dry energy ratio into the make-up gain
        for (int r = 0; r < rows; ++r) {
            double dry = energy[r], wet = energy[C + r];
            if (rows < C) {  // one make-up for both channels: their summed energies
                dry = energy[0] + energy[1];
                wet = energy[C] + energy[C + 1];
            }
            const double m = makeup_[r] + t_.a_makeup * 10.0 * std::log10((dry + 1e-12) / (wet + 1e-12));
            makeup_[r] = std::min(std::max(m, -24.0), 0.0);
        }
    } else {
        for (int r = 0; r < rows; ++r) makeup_[r] -= t_.a_makeup * makeup_[r];
    }
    if (rows < C) {  // keep the second channel's state in step, for a later switch to unlinked
        std::copy(ps_.begin(), ps_.begin() + G, ps_.begin() + G);
        std::copy(prev_.begin(), prev_.begin() + G, prev_.begin() + G);
        std::copy(os_.begin(), os_.begin() + G, os_.begin() + G);
        std::copy(psl_.begin(), psl_.begin() + nl_, psl_.begin() + nl_);
        std::copy(g_.begin(), g_.begin() + G, g_.begin() + G);
        makeup_[1] = makeup_[0];
    }
}

void ResonanceAnalyzer::install_filter(int rows, bool cut, bool ms, bool ms_switched, PartitionedConvolver& conv) {
    double g_min = std::numeric_limits<double>::infinity(), g_max = -g_min, m_max = 0.0;
    for (int i = 0; i < rows * G_; ++i) {
        g_min = nan_min(g_min, g_[i]);
        g_max = nan_max(g_max, g_[i]);
    }
    for (int r = 0; r < rows; ++r) m_max = std::max(m_max, std::abs(makeup_[r]));
    if (-kIdentityDb < g_min && g_max < kIdentityDb && m_max < kIdentityDb) {  // the identity filter
        if (filter_on_) conv.set_filter(nullptr, 1, false, t_.fade);
        filter_on_ = false;
        return;
    }
    to_filter_bins(rows, cut, gk_new_.data());
    const std::size_t n = static_cast<std::size_t>(rows) * K_;
    if (filter_on_ && gk_rows_ == rows && !ms_switched && max_abs_diff(gk_new_.data(), gk_.data(), n) <= t_.skip_db &&
        max_abs_diff(makeup_.data(), gk_makeup_.data(), rows) <= t_.skip_db)
        return;  // the playing filter is kept (no crossfade either)
    minimum_phase(rows, gk_new_.data(), makeup_.data(), fir_.data());
    std::swap(gk_, gk_new_);
    std::copy(makeup_.begin(), makeup_.begin() + rows, gk_makeup_.begin());
    gk_rows_ = rows;
    filter_on_ = true;
    for (int i = 0; i < rows * n_fir_; ++i)
        if (!std::isfinite(fir_[i])) fail("the filter has non-finite values (NaN or inf in the input?)");
    conv.set_filter(fir_.data(), rows, ms, t_.fade);
}

void ResonanceAnalyzer::last_gain_db(double* out) const {
    const std::size_t K = K_;
    for (int c = 0; c < C_; ++c) {
        if (filter_on_)
            std::copy_n(&gk_[(gk_rows_ == C_ ? c : 0) * K], K, out + c * K);
        else
            std::fill(out + c * K, out + (c + 1) * K, 0.0);
    }
}

void ResonanceAnalyzer::meters(double* out) const {
    const int K = K_, nb = meter_bands();
    const std::size_t row1 = filter_on_ && gk_rows_ == C_ && C_ > 1 ? K : 0;
    auto gain = [&](int k) {  // the channel mean of the applied curve at bin k
        if (!filter_on_) return 0.0;
        return C_ > 1 ? (gk_[k] + gk_[row1 + k]) * 0.5 : gk_[k];
    };
    for (int b = 0; b < nb; ++b) {  // np.minimum/maximum.reduceat over [edge b, edge b + 1)
        const int lo = t_.meter_edges[b], hi = b + 1 < nb ? t_.meter_edges[b + 1] : K;
        double mn = gain(lo), mx = mn;
        for (int k = lo + 1; k < hi; ++k) {
            mn = nan_min(mn, gain(k));
            mx = nan_max(mx, gain(k));
        }
        out[b] = -mn > mx ? mn : mx;
    }
}

}  // namespace bm
