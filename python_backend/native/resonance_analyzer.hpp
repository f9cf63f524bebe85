// ResonanceEQ's analysis update (bandmate/engines/resonance.py describes the method): from the
// input history to the new minimum-phase filter installed in the engine's PartitionedConvolver,
// in one call. A port of the numpy code it replaced, operation for operation (uniform filters,
// np.interp and the sparse maps accumulate as scipy/numpy do), so outputs match it to rounding.
// Plain C++ (no Python); bindings: resonance_bindings.cpp. Everything update() needs is
// allocated by the constructor (and by the setters, which run only when a parameter changed).
#pragma once

#include <cstddef>
#include <vector>

#include "filters1d.hpp"
#include "partitioned_convolver.hpp"
#include "real_fft.hpp"

namespace bm {

// rows x cols CSR matrix (scipy's indptr/indices/data)
struct SparseRows {
    int rows = 0, cols = 0;
    std::vector<int> indptr, indices;
    std::vector<double> data;

    void validate(const char* what, int want_rows, int want_cols) const;  // throws std::invalid_argument
    void apply(const double* x, double* y) const;  // y = A x, summed in entry order as scipy does
};

// The constant tables the engine builds once (shapes: G grid points, nl of them with a low path,
// K filter bins; see ResonanceEngine.__init__)
struct ResonanceTables {
    int channels = 2;
    int update = 1024;   // input samples per analysis update
    int decimate = 8;    // low path: one output per `decimate` input samples
    int fade = 128;      // filter crossfade, samples
    std::vector<double> win_short;  // main-path window (n_short)
    std::vector<double> win_long;   // low-path window (n_long decimated samples)
    std::vector<double> lowpass;    // low path's FIR, reversed (taps): y = sum_j x[j] lowpass[j]
    SparseRows map_short;           // (G, n_short / 2 + 1): bin power -> grid
    SparseRows map_long;            // (nl, n_long / 2 + 1)
    SparseRows bins_map;            // (K - k_cross, G): grid -> filter bins >= k_cross (interpolation)
    std::vector<int> pool_bins;     // filter bins < k_cross that take the extreme of grid points ...
    std::vector<int> pool_idx;      // ... [pool_idx[i], pool_idx[i + 1])
    int k_cross = 0;
    std::vector<double> a_det;      // (G) main-path smoothing coefficients
    std::vector<double> a_onset;    // (G) cuts: smoothing of the main path's rise in power (empty: cuts are
                                    // detected on the smoothed power itself, as emphasis is)
    double a_det_long = 0.0;        // low-path smoothing coefficient
    std::vector<double> low_pen;    // (nl) low-path prominence offset (crossover fade, threshold)
    std::vector<double> fold;       // (K) cepstrum fold: 1, 2, ..., 2, 1
    double a_makeup = 0.0;
    double floor = 1e-12;           // added to powers
    int envelope_half = 32;         // envelope half-width, grid points
    double envelope_clip = 1.0;     // second envelope pass: power clipped to envelope * this
    int long_sd = 1;                // low path's smoothing half-width, grid points
    double flat_lo_db = -6.0, flat_hi_db = -3.0;  // low path gated in between these flatnesses ...
    double long_gate_db = 30.0;                   // ... from -long_gate_db to 0 dB
    double skip_db = 0.05;          // rebuild the filter only when the curve moved more than this
    std::vector<int> meter_edges;   // first filter bin of each meter band
};

class ResonanceAnalyzer {
public:
    struct Settings {
        bool mid_side = false;
        double stereo_link = 1.0;
        double amount = -0.7;
        double depth_db = 12.0;
    };

    explicit ResonanceAnalyzer(ResonanceTables tables);  // throws std::invalid_argument

    // Parameter-derived tables (the engine caches them and calls these when they change)
    void set_sharpness(int detect_half, int dilate_half);  // smoothing / cut-dilation half-widths
    void set_threshold(const double* thr);                 // (G) dB
    void set_band(const double* band);                     // (G) weights
    void set_attack_release(const double* attack, const double* release);  // (G) one-pole coefficients
    void set_gain_table(const double* xp, const double* fp, int n);         // prominence -> gain (np.interp)

    // One analysis update. x: channels rows of input history, element (c, j) at x[c * x_row + j];
    // the newest sample is j = end - 1 and end >= history(). energy: (2, channels) smoothed dry and
    // wet energies (emphasis make-up). Installs a new filter in conv when it changed.
    void update(const double* x, std::ptrdiff_t x_row, long end, const Settings& s, const double* energy,
                PartitionedConvolver& conv);
    // update() in two steps, so a learned detector can look at the spectra in between: analyze()
    // computes and smooths the spectra (main_power() then holds the main path's grid power, (rows,
    // G)); finish() detects, moves the curve and installs the filter. main_db, if not null, is the
    // main path's prominence for cuts (rows, G) dB, replacing the rule's; low_db, if not null,
    // (rows, G) dB is added to the low path's prominence for cuts (the detector gates it).
    void analyze(const double* x, std::ptrdiff_t x_row, long end, const Settings& s);
    void finish(const Settings& s, const double* energy, PartitionedConvolver& conv, const double* main_db,
                const double* low_db = nullptr);
    const double* main_power() const { return grid_main_.data(); }
    int rows() const { return rows_; }  // detector/filter rows of the last analyze(): 1 when linked

    void reset();  // zero state, identity filter (the tables are kept)

    void last_gain_db(double* out) const;  // (channels, K) dB: the curve the playing filter was built from
    void meters(double* out) const;        // (meter bands) the largest-magnitude gain per band, channel mean

    int channels() const { return C_; }
    int grid_points() const { return G_; }
    int bins() const { return K_; }
    int meter_bands() const { return static_cast<int>(t_.meter_edges.size()); }
    long history() const;  // input samples update() reads before `end`

private:
    // windowed power spectrum of x (channels x n), mid/side and stereo link applied, mapped to the
    // grid: out (rows, map.rows); returns rows
    int power(const double* x, std::ptrdiff_t x_row, const RealFft& fft, const std::vector<double>& win, bool ms,
              double link, const SparseRows& map, double* out);
    const double* low_input(const double* x, std::ptrdiff_t x_row, long end);  // the decimated window, row stride lbuf_w_
    void smooth_powers(const double* x, std::ptrdiff_t x_row, long end, int rows, bool ms, double link);  // ps_, os_, psl_
    // lev_: (2 rows, G) dB, main path (its smoothed rise when `onset`; left alone unless main_path)
    // then low path; flat_: (rows, nl) dB
    void prominence(int rows, bool onset, bool main_path);
    // target_ (rows, G): the gain curve the one-poles move toward
    void detect(int rows, bool cut, const double* main_db, const double* low_db);
    void move_curve(int rows, double amount, const double* energy);  // g_ toward target_; makeup_
    // the identity, or a new filter when the curve moved more than skip_db (or rows / domain changed)
    void install_filter(int rows, bool cut, bool ms, bool ms_switched, PartitionedConvolver& conv);
    void to_filter_bins(int rows, bool cut, double* out) const;  // g_ (rows, G) -> out (rows, K)
    void minimum_phase(int rows, const double* gain_db, const double* makeup_db, double* fir);

    ResonanceTables t_;
    int C_, G_, nl_, K_, n_fir_, n_short_, n_long_, taps_;
    RealFft fft_short_, fft_long_, fft_fir_;
    PiecewiseLinear flat_gate_, gain_table_;
    // parameter-derived tables
    int sd_ = 0, dil_ = 1;
    std::vector<double> thr_, band_, attack_, release_;
    // state
    std::vector<double> ps_, psl_, g_, makeup_;  // (C, G), (C, nl), (C, G) dB, (C) dB
    std::vector<double> prev_, os_;              // (C, G) the last update's grid power, the smoothed rise
    std::vector<double> lbuf_;                   // (C, lbuf_w_) decimated low-path input
    int lbuf_w_ = 0, lw_ = 0;                    // row length, write position
    bool ms_cur_ = false;
    bool filter_on_ = false;  // a filter (not identity) is installed; gk_ is its curve
    int gk_rows_ = 1;
    std::vector<double> gk_, gk_makeup_;  // (rows, K) dB and (rows) dB the playing filter was built from
    // scratch
    int rows_ = 1;
    bool ms_switched_ = false;
    std::vector<double> grid_main_;  // (rows, G) the main path's grid power of the last analyze()
    std::vector<double> frame_, pow_, grid_pow_, lev_, env_, flat_, mean_, logs_, tmp_, ext_, target_, gk_new_,
        cep_, fir_;
    std::vector<RealFft::cpx> spec_;
};

}  // namespace bm
