"""Matching engine quality bench: random smooth EQs on music, matched back to the untouched version.

    PYTHONPATH=python_backend python bench/matching_quality.py [--trials 6] [--seconds 20] [--seed 1]
        [--matchering-path /tmp/mtch]

Material: music rendered from MIDI with fluidsynth (bench/resonance_quality.py's song and
renderer; a different song per trial), 48 kHz stereo. Each trial applies a random smooth EQ:
5 peaking bands, centre log-uniform 50 Hz .. 12 kHz, gain uniform +-6 dB, Q 0.5 .. 2.

Methods (target = the untouched file's gated whole-file long-term spectrum, engine defaults except
smoothing ``--smoothing`` octaves (1/3), window ``--window`` s (10), learning from the start,
stereo L/R-linked):

* engine, minimum phase (latency 0) and linear phase (latency 2048), real-time (causal);
* engine, minimum phase, "live ref": the untouched file played in sync and learnt by a second
  LongTermSpectrum (same window), published as the target at every curve update (what a linked
  Reference instance does);
* baseline: static whole-file FFT ratio (offline, knows the whole file): Welch spectra (8192) of
  input and reference, per-bin ratio sqrt(P_ref / P_in), applied as an 8192-tap linear-phase FIR;
* matchering 2.0.6 (offline, whole files; no limiter, no normalisation), if importable from
  ``--matchering-path`` (installed there with ``pip install --target``), run in a subprocess.

Metrics: residual = RMS over 31 log-spaced 1/3-octave bands (40 Hz .. 16 kHz) of the band-level
difference output - original (mean removed: every method may change the overall level), over
seconds 5 .. end. Convergence (engine): first time after which the applied correction curve
stays within 1 dB (and 0.5 dB) RMS of the ideal one (the EQ's inverse, mean removed) at the band
centres. Loudness: K-weighted level change output vs input (dB), seconds 5 .. end. Speed:
process() time per second of audio.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.signal as ss
from scipy.io import wavfile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python_backend"))
sys.path.insert(0, str(ROOT / "bench"))

from bandmate.engines.matching import MatchingCore  # noqa: E402
from bandmate.engines.spectrum import LongTermSpectrum, k_weight_power, long_term_spectrum_db, to_mid_side  # noqa: E402
from resonance_quality import music, peaking  # noqa: E402

FS = 48000
BAND_FC = np.geomspace(40.0, 16000.0, 31)
START_S = 5.0


def random_eq(rng: np.random.Generator) -> list[tuple[float, float, float]]:
    return [(float(np.exp(rng.uniform(np.log(50), np.log(12000)))), float(rng.uniform(-6, 6)),
             float(rng.uniform(0.5, 2.0))) for _ in range(5)]


def apply_eq(x: np.ndarray, bands) -> np.ndarray:
    for f0, g, q in bands:
        b, a = peaking(f0, g, q)
        x = ss.lfilter(b, a, x, axis=-1)
    return x


def eq_response_db(bands, f: np.ndarray) -> np.ndarray:
    h = np.ones(len(f), complex)
    for f0, g, q in bands:
        b, a = peaking(f0, g, q)
        h *= ss.freqz(b, a, worN=2 * np.pi * f / FS)[1]
    return 20 * np.log10(np.abs(h))


def band_levels(x: np.ndarray, fs: int = FS) -> np.ndarray:
    f, p = ss.welch(np.atleast_2d(x), fs, nperseg=16384 * fs // FS, axis=-1)
    p = p.mean(axis=0)
    return np.array([10 * np.log10(p[(f >= c * 2 ** (-1 / 6)) & (f < c * 2 ** (1 / 6))].sum() + 1e-30)
                     for c in BAND_FC])


def residual(y: np.ndarray, orig: np.ndarray, fs_y: int = FS) -> float:
    r = band_levels(y[:, int(START_S * fs_y):], fs_y) - band_levels(orig[:, int(START_S * FS):])
    r -= r.mean()
    return float(np.sqrt(np.mean(r**2)))


def k_level(x: np.ndarray, fs: int = FS) -> float:
    f, p = ss.welch(np.atleast_2d(x)[:, int(START_S * fs):], fs, nperseg=8192, axis=-1)
    return float(10 * np.log10(np.sum(p.sum(axis=0) * k_weight_power(f, fs))))


def run_engine(x: np.ndarray, target_db: np.ndarray | None, ideal_db: np.ndarray, phase: int, params: dict,
               live_ref: np.ndarray | None = None):
    """``live_ref``: a reference signal played in sync, learnt by its own LongTermSpectrum (what a
    linked Reference instance publishes) and passed as the target at every curve update."""
    core = MatchingCore(FS, x.shape[0], phase)
    ref = None
    if live_ref is not None:
        ref = LongTermSpectrum(FS, 2, window_s=params.get("window_s", 10.0))
        rpad = np.zeros((2, x.shape[1] + core.latency + core.hop))
        rpad[:, : x.shape[1]] = live_ref
    else:
        core.set_target(target_db)
    n, hop, lat = x.shape[1], core.hop, core.latency
    total = -(-(n + lat) // hop) * hop
    pad = np.zeros((x.shape[0], total), np.float32)
    pad[:, :n] = x
    out = np.empty_like(pad)
    fb = core.filter.freqs
    lf = np.log2(np.maximum(fb, 1e-3))
    errs, times = [], []
    t0 = time.perf_counter()
    for s in range(0, total, hop):
        if ref is not None:
            ref.push(to_mid_side(rpad[:, s : s + hop]))
            if (s // hop) % core.update_hops == 0 and ref.ready:
                core.set_target(ref.spectrum_db(mean_rows=True)[0])
        out[:, s : s + hop], _ = core.process(pad[:, s : s + hop], params)
        if (s // hop) % core.update_hops == 0:
            c = np.interp(np.log2(BAND_FC), lf, core.filter.last_bins_db.mean(axis=0))
            c = c - c.mean()
            errs.append(float(np.sqrt(np.mean((c - ideal_db) ** 2))))
            times.append(s / FS)
    dt = time.perf_counter() - t0
    errs, times = np.array(errs), np.array(times)

    def settle(th):
        bad = np.nonzero(errs > th)[0]
        if len(bad) == 0:
            return 0.0
        return float(times[bad[-1] + 1]) if bad[-1] + 1 < len(times) else float("inf")

    return out[:, lat : lat + n].astype(np.float64), settle(1.0), settle(0.5), dt * FS / n


def static_fft_ratio(x: np.ndarray, orig: np.ndarray, n_fir: int = 8192) -> np.ndarray:
    f, pi = ss.welch(x, FS, nperseg=n_fir, axis=-1)
    _, pr = ss.welch(orig, FS, nperseg=n_fir, axis=-1)
    mag = np.sqrt((pr.mean(axis=0) + 1e-20) / (pi.mean(axis=0) + 1e-20))
    h = np.roll(np.fft.irfft(mag, n=n_fir), n_fir // 2) * np.kaiser(n_fir, 6.0)
    y = ss.fftconvolve(x, h[None], axes=-1)
    return y[:, n_fir // 2 : n_fir // 2 + x.shape[1]]


MATCHERING_SCRIPT = """
import sys, matchering as mg
mg.log(print)
mg.process(target=sys.argv[1], reference=sys.argv[2],
           results=[mg.Result(sys.argv[3], subtype="FLOAT", use_limiter=False, normalize=False)])
"""


def run_matchering(x: np.ndarray, orig: np.ndarray, path: str) -> tuple[np.ndarray, int] | None:
    with tempfile.TemporaryDirectory() as d:
        a, b, c = (os.path.join(d, f) for f in ("in.wav", "ref.wav", "out.wav"))
        wavfile.write(a, FS, x.T.astype(np.float32))
        wavfile.write(b, FS, orig.T.astype(np.float32))
        env = dict(os.environ, PYTHONPATH=path)
        r = subprocess.run([sys.executable, "-c", MATCHERING_SCRIPT, a, b, c], env=env, capture_output=True,
                           text=True, timeout=600)
        if r.returncode != 0 or not os.path.exists(c):
            print("matchering failed:", (r.stderr or r.stdout)[-500:], file=sys.stderr)
            return None
        fs, y = wavfile.read(c)
    return y.T.astype(np.float64), int(fs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--matchering-path", default="/tmp/mtch")
    ap.add_argument("--smoothing", type=float, default=1 / 3, help="smoothing_oct")
    ap.add_argument("--window", type=float, default=10.0, help="window_s")
    ap.add_argument("--no-matchering", action="store_true")
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    have_mg = os.path.isdir(os.path.join(args.matchering_path, "matchering")) and not args.no_matchering
    params = {"smoothing_oct": args.smoothing, "window_s": args.window}
    rows = []
    source = ""
    for t in range(args.trials):
        rng = np.random.default_rng(args.seed * 1000 + t)
        orig, source = music(args.seconds, rng)
        bands = random_eq(rng)
        x = apply_eq(orig, bands)
        x *= 0.5 / np.max(np.abs(x))
        target = long_term_spectrum_db(orig, FS)
        ideal = -eq_response_db(bands, BAND_FC)
        ideal -= ideal.mean()
        row = {"trial": t, "eq": [[round(v, 1) for v in b] for b in bands], "input": residual(x, orig)}
        for phase, name in ((0, "min"), (1, "lin")):
            y, c1, c05, rt = run_engine(x, target, ideal, phase, params)
            row[name] = residual(y, orig)
            row[f"{name}_conv1"], row[f"{name}_conv05"], row[f"{name}_rt"] = c1, c05, rt
            row[f"{name}_dLU"] = k_level(y) - k_level(x)
        y, c1, c05, _ = run_engine(x, None, ideal, 0, params, live_ref=orig)
        row["live"], row["live_conv1"], row["live_conv05"] = residual(y, orig), c1, c05
        row["static"] = residual(static_fft_ratio(x, orig), orig)
        if have_mg:
            r = run_matchering(x, orig, args.matchering_path)
            row["matchering"] = residual(r[0], orig, r[1]) if r else float("nan")
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)

    def col(k):
        return np.array([r[k] for r in rows if k in r], float)

    print(f"# Matching quality: {args.trials} trials x {args.seconds:.0f} s, music = {source}, 48 kHz stereo")
    print("# residual: dB RMS over 31 1/3-oct bands 40 Hz-16 kHz (mean removed), seconds 5..end")
    print(f"# engine: smoothing_oct {args.smoothing:.3f}, window_s {args.window:g}; file target = whole-file spectrum "
          "of the original; live ref = the original learnt in sync (linked Reference instance)")
    hdr = ("| trial | input | engine min | engine lin | engine min, live ref | static FFT ratio | matchering | "
           "conv file target 1 dB / 0.5 dB (s) | conv live ref 1 dB / 0.5 dB (s) | dLU min |")
    print(hdr)
    print("|" + "---|" * (hdr.count("|") - 1))
    for r in rows:
        mg = f"{r['matchering']:.2f}" if "matchering" in r else "n/a"
        print(f"| {r['trial']} | {r['input']:.2f} | {r['min']:.2f} | {r['lin']:.2f} | {r['live']:.2f} | "
              f"{r['static']:.2f} | {mg} | {r['min_conv1']:.2f} / {r['min_conv05']:.2f} | "
              f"{r['live_conv1']:.2f} / {r['live_conv05']:.2f} | {r['min_dLU']:+.2f} |")
    mg_mean = f"{np.nanmean(col('matchering')):.2f}" if have_mg else "n/a"
    print(f"| mean | {col('input').mean():.2f} | {col('min').mean():.2f} | {col('lin').mean():.2f} | "
          f"{col('live').mean():.2f} | {col('static').mean():.2f} | {mg_mean} | {col('min_conv1').mean():.2f} / "
          f"{col('min_conv05').mean():.2f} | {col('live_conv1').mean():.2f} / {col('live_conv05').mean():.2f} | "
          f"{np.abs(col('min_dLU')).max():.2f} (max abs) |")
    print(f"# worst engine residual: min {col('min').max():.2f} dB, lin {col('lin').max():.2f} dB, live ref "
          f"{col('live').max():.2f} dB; worst convergence to 1 dB: file target {col('min_conv1').max():.2f} s, "
          f"live ref {col('live_conv1').max():.2f} s")
    if have_mg:
        print(f"# engine min vs matchering: {100 * (1 - col('min').mean() / np.nanmean(col('matchering'))):.0f}% "
              "lower residual (mean)")
    print(f"# speed: process() {100 * col('min_rt').mean():.1f}% (min, hop 192) / "
          f"{100 * col('lin_rt').mean():.1f}% (lin, hop 512) of real time, stereo, this machine (shared, nice)")
    if not have_mg:
        print(f"# matchering: not importable from {args.matchering_path} (pip install --target there)")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
