"""Before/after spectrogram PNG for ResonanceEQ: music with injected +12 dB resonances.

    PYTHONPATH=python_backend python bench/plot_resonance.py [--out docs/resonance_before_after.png]

Music rendered with fluidsynth as in ``resonance_quality.py`` (additive-synth stand-in without
it), four narrow (+12 dB, Q 30) resonances injected for a few seconds each; the engine runs with
amount -1, other parameters default. Panels: spectrogram of the input and of the output, the
applied gain curve over time, and the level change against the resonance-free original while all
four resonances ring (input, engine output, oracle static notch; 1/24-octave smoothed).
Needs matplotlib (``pip install matplotlib``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import scipy.signal as ss

sys.path.insert(0, str(Path(__file__).resolve().parent))

from resonance_quality import FS, inject, music, oracle_notch, run_engine  # noqa: E402

PEAKS = [  # f0, t0, t1 (s); Q 30, +12 dB
    (220.0, 1.5, 8.0),
    (930.0, 2.5, 9.0),
    (2600.0, 1.0, 6.5),
    (6100.0, 4.0, 9.5),
]


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(root / "docs" / "resonance_before_after.png"))
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(args.seed)
    x, src = music(args.seconds, rng)
    peaks = [{"f0": f, "q": 30.0, "t0": t0, "t1": min(t1, args.seconds - 0.2)} for f, t0, t1 in PEAKS]
    xin = inject(x, peaks)
    y, curves, _ = run_engine(xin.astype(np.float32), {"amount": -1.0})

    fig, ax = plt.subplots(2, 2, figsize=(13, 8.5), layout="constrained")
    lo, hi = 50.0, 16000.0
    _, _, z0 = ss.stft(xin.mean(axis=0), FS, nperseg=4096, noverlap=4096 - 512)
    vmax = 20 * np.log10(np.abs(z0).max()) - 6

    def spectrogram(a, sig, title):
        f, t, z = ss.stft(sig.mean(axis=0), FS, nperseg=4096, noverlap=4096 - 512)
        m = (f >= lo) & (f <= hi)
        im = a.pcolormesh(t, f[m], 20 * np.log10(np.abs(z[m]) + 1e-9), vmin=vmax - 66, vmax=vmax, shading="auto",
                          cmap="magma", rasterized=True)
        a.set_yscale("log")
        a.set_ylim(lo, hi)
        a.set_title(title)
        a.set_ylabel("Hz")
        return im

    spectrogram(ax[0, 0], xin, f"before: music ({src.split('/')[0]}) + four +12 dB, Q 30 resonances (cyan)")
    for p in peaks:
        ax[0, 0].plot([p["t0"], p["t1"]], [p["f0"] * 1.15] * 2, color="cyan", lw=1.2)
    im = spectrogram(ax[0, 1], y, "after: ResonanceEQ, amount -1, defaults")
    fig.colorbar(im, ax=ax[0, 1], label="dB")

    fk = np.arange(curves.shape[1]) * FS / (2 * (curves.shape[1] - 1))
    m = (fk >= lo) & (fk <= hi)
    tk = np.arange(len(curves)) * 256 / FS
    im2 = ax[1, 0].pcolormesh(tk, fk[m], curves[:, m].T, vmin=-12, vmax=0, shading="auto", cmap="Blues_r",
                              rasterized=True)
    for p in peaks:
        ax[1, 0].plot([p["t0"], p["t1"]], [p["f0"]] * 2, color="tab:red", lw=0.8)
    ax[1, 0].set_yscale("log")
    ax[1, 0].set_ylim(lo, hi)
    ax[1, 0].set_title("applied gain (red: injected resonances)")
    ax[1, 0].set_xlabel("time (s)")
    ax[1, 0].set_ylabel("Hz")
    fig.colorbar(im2, ax=ax[1, 0], label="gain dB")

    s = slice(int(4.0 * FS), int(6.5 * FS))  # all four resonances ring here
    fc = lo * 2.0 ** (np.arange(0, np.log2(hi / lo) * 24) / 24)

    def smoothed(sig):  # 1/24-octave band powers
        f, pw = ss.welch(sig[:, s], FS, nperseg=16384, axis=-1)
        pw = pw.sum(axis=0)
        return np.array([pw[(f >= c * 2 ** (-1 / 48)) & (f < c * 2 ** (1 / 48))].sum() for c in fc])

    ref = smoothed(x)
    ax[1, 1].axhline(0.0, color="0.6", lw=0.8)
    for sig, label, kw in ((xin, "input", {"color": "tab:red"}),
                           (oracle_notch(xin, peaks), "oracle static notch", {"color": "tab:green", "lw": 0.8}),
                           (y, "ResonanceEQ", {"color": "tab:blue"})):
        ax[1, 1].semilogx(fc, 10 * np.log10((smoothed(sig) + 1e-20) / (ref + 1e-20)), label=label, **kw)
    for p in peaks:
        ax[1, 1].axvline(p["f0"], color="tab:red", lw=0.5, ls=":")
    ax[1, 1].set_xlim(lo, hi)
    ax[1, 1].set_title("level vs the resonance-free original, 4.0..6.5 s")
    ax[1, 1].set_xlabel("frequency (Hz)")
    ax[1, 1].set_ylabel("dB")
    ax[1, 1].legend(loc="lower left", fontsize=8)
    ax[1, 1].grid(True, which="both", alpha=0.3)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=80)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
