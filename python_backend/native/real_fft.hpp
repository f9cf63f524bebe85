// Real FFT of an even length n with numpy's conventions (rfft: n/2 + 1 bins, unscaled; irfft:
// scaled by 1/n, the imaginary parts of DC and Nyquist ignored), on kissfft's n/2-point complex
// transforms. Header-only; all scratch is allocated by the constructor.
#pragma once

#include <algorithm>
#include <cmath>
#include <complex>
#include <stdexcept>
#include <string>
#include <vector>

#include <kissfft.hh>

namespace bm {

class RealFft {
public:
    using cpx = std::complex<double>;

    explicit RealFft(int n)
        : n_(checked(n)), half_(n / 2), fwd_(half_, false), inv_(half_, true), post_(half_), z_in_(half_), z_out_(half_) {
        const double pi = std::acos(-1.0);
        for (int k = 0; k < half_; ++k) post_[k] = std::polar(0.5 / half_, pi * k / half_);
        // kissfft sizes its scratch for radices > 5 on first use: do that here
        std::vector<double> zeros(n_);
        std::vector<cpx> bins(half_ + 1);
        forward(zeros.data(), bins.data());
        inverse(bins.data(), zeros.data());
    }

    int size() const { return n_; }

    // x: n samples -> X: n/2 + 1 bins
    void forward(const double* x, cpx* X) const {
        fwd_.transform_real(x, X);  // X[0] packs DC (real) and Nyquist (imag)
        X[half_] = cpx(X[0].imag(), 0.0);
        X[0] = cpx(X[0].real(), 0.0);
    }

    // X: n/2 + 1 bins -> x: n samples. Even samples come from E[k] = (X[k] + conj X[M-k]) / 2,
    // odd ones from O[k] = (X[k] - conj X[M-k]) e^{i pi k/M} / 2 (M = n/2): z = ifft(E + i O) / M,
    // x[2m] = Re z[m], x[2m+1] = Im z[m].
    void inverse(const cpx* X, double* x) {
        const int m = half_;
        const double scale = 0.5 / m;
        for (int k = 0; k < m; ++k) {
            const double ar = X[k].real(), ai = k == 0 ? 0.0 : X[k].imag();
            const double br = X[m - k].real(), bi = k == 0 ? 0.0 : -X[m - k].imag();  // b = conj X[M-k]
            const double dr = ar - br, di = ai - bi, ur = post_[k].real(), ui = post_[k].imag();
            const double odd_r = ur * dr - ui * di, odd_i = ur * di + ui * dr;
            z_in_[k] = cpx(scale * (ar + br) - odd_i, scale * (ai + bi) + odd_r);
        }
        inv_.transform(z_in_.data(), z_out_.data());
        const double* z = reinterpret_cast<const double*>(z_out_.data());  // interleaved: x itself
        std::copy(z, z + n_, x);
    }

private:
    static int checked(int n) {
        if (n < 2 || n % 2 != 0) throw std::invalid_argument("real FFT length must be even, got " + std::to_string(n));
        return n;
    }

    int n_, half_;
    kissfft<double> fwd_, inv_;
    std::vector<cpx> post_;  // e^{i pi k/M} / (2M): the inverse's odd-part twiddle and scale
    std::vector<cpx> z_in_, z_out_;
};

}  // namespace bm
