// 1-D helpers with scipy/numpy semantics, so that native ports reproduce the numpy code they
// replace: scipy.ndimage's uniform_filter1d and minimum_filter1d (mode "nearest", origin 0) and
// np.interp (constant beyond the table's ends). Header-only, no allocation.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace bm {

// out = uniform_filter1d(x, size, mode="nearest") over n points; out may alias x. ext: scratch of
// n + size - 1. scipy's arithmetic: a running sum over the edge-extended line, divided per point.
inline void uniform_filter_nearest(const double* x, int n, int size, double* out, double* ext) {
    const int left = size / 2, right = size - left - 1;
    std::fill(ext, ext + left, x[0]);
    std::copy(x, x + n, ext + left);
    std::fill(ext + left + n, ext + left + n + right, x[n - 1]);
    double sum = 0.0;
    for (int i = 0; i < size; ++i) sum += ext[i];
    out[0] = sum / size;
    for (int i = 1; i < n; ++i) {
        sum += ext[i + size - 1] - ext[i - 1];
        out[i] = sum / size;
    }
}

// out = minimum_filter1d(x, 2 half + 1, mode="nearest") over n points; out must not alias x
inline void minimum_filter_nearest(const double* x, int n, int half, double* out) {
    std::copy(x, x + n, out);
    for (int k = 1; k <= half; ++k) {
        for (int i = 0; i < n; ++i) {
            const double lo = x[i - k < 0 ? 0 : i - k], hi = x[i + k >= n ? n - 1 : i + k];
            out[i] = std::min(out[i], std::min(lo, hi));
        }
    }
}

// np.interp(x, xp, fp) for one table (xp increasing): fp[0] below xp[0], fp[-1] above xp[-1].
// The slopes are precomputed as numpy does for long inputs, (fp[j+1] - fp[j]) * (1 / dx).
class PiecewiseLinear {
public:
    void assign(const double* xp, const double* fp, int n) {
        xp_.assign(xp, xp + n);
        fp_.assign(fp, fp + n);
        slope_.resize(n > 1 ? n - 1 : 0);
        for (int j = 0; j + 1 < n; ++j) slope_[j] = (fp[j + 1] - fp[j]) * (1.0 / (xp[j + 1] - xp[j]));
    }

    bool empty() const { return xp_.empty(); }

    double operator()(double x) const {
        const int n = static_cast<int>(xp_.size());
        if (std::isnan(x)) return x;
        if (x < xp_[0]) return fp_[0];
        if (x > xp_[n - 1]) return fp_[n - 1];
        int j = 0;  // the last knot <= x (tables are short: a linear search)
        while (j + 1 < n && xp_[j + 1] <= x) ++j;
        if (j == n - 1 || xp_[j] == x) return fp_[j];
        return slope_[j] * (x - xp_[j]) + fp_[j];
    }

private:
    std::vector<double> xp_, fp_, slope_;
};

}  // namespace bm
