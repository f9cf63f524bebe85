"""Before/after spectrum PNG for ResonanceEQ: pink noise with injected +12 dB resonances.

    PYTHONPATH=python_backend python bench/plot_resonance.py [--out bench/resonance_spectrum.png]

Needs matplotlib (``pip install matplotlib``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import scipy.signal as ss

sys.path.insert(0, str(Path(__file__).resolve().parent))

from resonance_quality import FS, inject, oracle_notch, pink_noise, run_engine  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "resonance_spectrum.png"))
    ap.add_argument("--seconds", type=float, default=6.0)
    args = ap.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(3)
    n = int(args.seconds * FS)
    x = pink_noise(n, rng)
    peaks = [{"f0": f, "q": 25.0, "t0": 0.5, "t1": args.seconds - 0.2} for f in (350.0, 1200.0, 3100.0, 7500.0)]
    xin = inject(x, peaks)
    y, curves, _ = run_engine(xin.astype(np.float32), {"amount": -1.0})
    s = slice(FS, n - FS // 4)
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(11, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1.3]})
    for sig, label, kw in ((x, "original (no resonances)", {"color": "0.6"}),
                           (xin, "input: +12 dB, Q 25 resonances", {"color": "tab:red"}),
                           (oracle_notch(xin, peaks), "oracle static notch", {"color": "tab:green", "lw": 0.8}),
                           (y, "ResonanceEQ, amount -1", {"color": "tab:blue"})):
        f, p = ss.welch(sig[0, s], FS, nperseg=8192)
        a1.semilogx(f[1:], 10 * np.log10(p[1:]), label=label, **kw)
    a1.set_ylabel("PSD (dB/Hz)")
    a1.legend(loc="lower left")
    a1.grid(True, which="both", alpha=0.3)
    fk = np.arange(curves.shape[1]) * FS / (2 * (curves.shape[1] - 1))
    a2.semilogx(fk[1:], curves[len(curves) // 2, 1:], color="tab:blue", label="gain curve (mid-file frame)")
    a2.semilogx(fk[1:], curves[len(curves) // 4 :].mean(axis=0)[1:], color="k", lw=0.8, label="mean gain")
    a2.set_ylabel("gain (dB)")
    a2.set_xlabel("frequency (Hz)")
    a2.set_xlim(30, 20000)
    a2.legend(loc="lower left")
    a2.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
