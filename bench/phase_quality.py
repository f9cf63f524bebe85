"""Multiband Phase quality bench: simulated microphone pairs, aligned by the engine and by baselines.

    PYTHONPATH=python_backend python bench/phase_quality.py [--trials 16] [--seconds 20] [--seed 1]

Material: music rendered from MIDI with fluidsynth (bench/resonance_quality.py's song and renderer;
a different song per trial), 48 kHz, mono mix = the source. Mic A = source + noise; mic B =
polarity x filter(source delayed by d) + noise, with d uniform in +-100 ms (fractional), polarity
inverted with probability 1/2, noise at 20..40 dB SNR (each mic), and the filter one of: none; a
2nd-order allpass (60..400 Hz, Q 0.5..1.5); a 1st-order shelf (+-6 dB, 100..1000 Hz); both.

Methods (B is corrected to sum with A; energies over seconds 6..end, after learning):
* engine: the real-time engine (Stereo mode: A as L, B as R), Learn mode defaults (5 s, frozen);
* engine time-only: the same with Band phase off (fractional delay + polarity);
* baseline: integer-sample cross-correlation over the same first 5 s, polarity = sign of the peak
  (MAutoAlign-like: delay + polarity only);
* oracle: the exact inverse of the simulation's delay, polarity and filter phase (magnitudes
  untouched), applied to the whole of B.

Metrics: delay error (samples, vs the simulated d), polarity correct; summed energy E = sum (A + B')^2
as a fraction of the oracle's; per octave band (63 Hz .. 8 kHz): engine vs engine time-only (dB),
the worst band of all trials, and the gain in bands below 500 Hz where the filters differ (the
oracle beats time-only there by >= 1.5 dB). CPU: process() time per second of audio, stereo 48 kHz
instances: Link Target while learning and once learnt (frozen), Reference, Stereo mode.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.signal as ss

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python_backend"))
sys.path.insert(0, str(ROOT / "bench"))

from bandmate.engines.base import EngineConfig  # noqa: E402
from bandmate.engines.phase import MultibandPhaseEngine, align_offline  # noqa: E402
from bandmate.links import LinkBoard  # noqa: E402
from resonance_quality import music  # noqa: E402

FS = 48000
LEARN_S = 5.0
EVAL_FROM_S = 6.0
OCTAVES = 1000 * 2.0 ** np.arange(-4, 4)  # 62.5 Hz .. 8 kHz


def allpass2(f0: float, q: float):
    w0 = 2 * np.pi * f0 / FS
    al, c = np.sin(w0) / (2 * q), np.cos(w0)
    return np.array([1 - al, -2 * c, 1 + al]) / (1 + al), np.array([1 + al, -2 * c, 1 - al]) / (1 + al)


def shelf1(fc: float, gain_db: float):
    """1st-order low shelf (bilinear): gain_db below fc, 0 dB above."""
    g = 10 ** (gain_db / 20)
    wc = np.tan(np.pi * fc / FS)
    b = np.array([g * wc + 1, g * wc - 1])
    a = np.array([wc + 1, wc - 1])
    return b / a[0], a / a[0]


def spectrum_op(x: np.ndarray, fn) -> np.ndarray:
    """Apply a frequency response fn(f in Hz) to x, zero-padded (no wrap-around)."""
    N = 1 << int(np.ceil(np.log2(len(x) + 2 * FS)))
    f = np.fft.rfftfreq(N, 1 / FS)
    return np.fft.irfft(np.fft.rfft(x, N) * fn(f), N)[: len(x)]


def simulate(src: np.ndarray, rng: np.random.Generator) -> dict:
    d = float(rng.uniform(-0.1, 0.1) * FS)
    pol = int(rng.choice([-1, 1]))
    kind = ["none", "allpass", "shelf", "allpass+shelf"][int(rng.integers(4))]
    filters = []
    if "allpass" in kind:
        filters.append(allpass2(float(np.exp(rng.uniform(np.log(60), np.log(400)))), float(rng.uniform(0.5, 1.5))))
    if "shelf" in kind:
        filters.append(shelf1(float(np.exp(rng.uniform(np.log(100), np.log(1000)))), float(rng.uniform(-6, 6))))

    def response(f: np.ndarray) -> np.ndarray:
        h = np.ones(len(f), complex)
        for b, a in filters:
            h *= ss.freqz(b, a, worN=2 * np.pi * f / FS)[1]
        return h

    b_clean = pol * spectrum_op(src, lambda f: response(f) * np.exp(-2j * np.pi * f * d / FS))

    def noisy(x: np.ndarray) -> np.ndarray:
        snr = rng.uniform(20, 40)
        return x + rng.standard_normal(len(x)) * x.std() * 10 ** (-snr / 20)

    a, b = noisy(src), noisy(b_clean)
    oracle = pol * spectrum_op(b, lambda f: np.exp(2j * np.pi * f * d / FS - 1j * np.angle(response(f))))
    return {"a": a.astype(np.float32), "b": b.astype(np.float32), "oracle": oracle, "d": d, "pol": pol,
            "kind": kind}


def xcorr_baseline(a: np.ndarray, b: np.ndarray, max_lag: int) -> tuple[int, int]:
    """Integer lag (b late by lag) and polarity from the plain cross-correlation."""
    n = len(a)
    N = 1 << int(np.ceil(np.log2(2 * n)))
    cc = np.fft.irfft(np.fft.rfft(b, N) * np.conj(np.fft.rfft(a, N)), N)
    lags = np.concatenate([np.arange(0, max_lag + 1), np.arange(-max_lag, 0)])
    i = int(np.argmax(np.abs(cc[lags])))
    return int(lags[i]), 1 if cc[lags[i]] >= 0 else -1


def shift(x: np.ndarray, lag: int) -> np.ndarray:
    """x advanced by lag samples (zeros shifted in)."""
    y = np.zeros_like(x)
    if lag >= 0:
        y[: len(x) - lag] = x[lag:]
    else:
        y[-lag:] = x[: len(x) + lag]
    return y


def octave_db(x: np.ndarray) -> np.ndarray:
    f, p = ss.welch(x, FS, nperseg=16384)
    return np.array([10 * np.log10(p[(f >= c / 2**0.5) & (f < c * 2**0.5)].sum()) for c in OCTAVES])


def cpu_percent(seconds: float = 10.0) -> dict[str, float]:
    """process() CPU time per second of audio (% of one core), stereo instances at 48 kHz: a Link
    Target while learning and once learnt, its Reference, and a Stereo-mode instance once learnt."""
    src = music(seconds, np.random.default_rng(0))[0].astype(np.float32)
    board = LinkBoard()
    ref = MultibandPhaseEngine(EngineConfig(FS, 2, links=board, identity=b"r"))
    tgt = MultibandPhaseEngine(EngineConfig(FS, 2, links=board, identity=b"t"))
    st = MultibandPhaseEngine(EngineConfig(FS, 2))
    p = ref.spec.defaults()
    hop = ref.hop
    spent: dict[str, float] = {}
    hops: dict[str, int] = {}

    def timed(key: str, eng: MultibandPhaseEngine, x: np.ndarray, params: dict) -> None:
        t0 = time.process_time()
        eng.process(x, params)
        spent[key] = spent.get(key, 0.0) + time.process_time() - t0
        hops[key] = hops.get(key, 0) + 1

    for s in range(0, src.shape[1] - hop, hop):
        x = src[:, s: s + hop]
        timed("reference", ref, x, p | {"role": 0.0})
        timed("target, learning" if tgt.aligner.learning else "target, learnt", tgt, x[::-1], p | {"role": 1.0})
        if not st.aligner.learning:
            timed("stereo mode, learnt", st, x, p | {"mode": 2.0})
        else:
            st.process(x, p | {"mode": 2.0})
    return {k: 100 * spent[k] / (hops[k] * hop / FS) for k in spent}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    ev = slice(int(EVAL_FROM_S * FS), None)
    rows = []
    for trial in range(args.trials):
        src, source_name = music(args.seconds, rng)
        sim = simulate(src.mean(axis=0), rng)
        a, b = sim["a"], sim["b"]
        y_full, al = align_offline(a, b, FS, {"learn_s": LEARN_S})
        y_time, al_t = align_offline(a, b, FS, {"learn_s": LEARN_S, "band_phase": 0.0})
        lag, pol = xcorr_baseline(a[: int(LEARN_S * FS)], b[: int(LEARN_S * FS)], int(0.1 * FS))
        y_base = pol * shift(b, lag)

        def energy(y: np.ndarray, a: np.ndarray = a) -> float:
            return float(np.sum((a[ev].astype(float) + y[ev]) ** 2))

        e_or = energy(sim["oracle"])
        e_time_bands = octave_db(a[ev] + y_time[ev])
        band_gain = octave_db(a[ev] + y_full[ev]) - e_time_bands
        room = octave_db(a[ev] + sim["oracle"][ev]) - e_time_bands  # what a perfect phase fix would gain
        rows.append({
            "kind": sim["kind"],
            "err": {"engine": abs(al.delay - sim["d"]), "time": abs(al_t.delay - sim["d"]),
                    "base": abs(lag - sim["d"])},
            "pol": {"engine": al.polarity == sim["pol"], "time": al_t.polarity == sim["pol"],
                    "base": pol == sim["pol"]},
            "energy": {"engine": energy(y_full) / e_or, "time": energy(y_time) / e_or, "base": energy(y_base) / e_or,
                       "none": energy(b) / e_or},
            "band_gain": band_gain, "room": room,
        })
        print(f"trial {trial}: {sim['kind']:<14} d={sim['d']:8.1f} pol={sim['pol']:+d}  err engine "
              f"{rows[-1]['err']['engine']:.3f} base {rows[-1]['err']['base']:.3f}  E/E_oracle engine "
              f"{rows[-1]['energy']['engine']:.3f} time-only {rows[-1]['energy']['time']:.3f} base "
              f"{rows[-1]['energy']['base']:.3f}", flush=True)

    cpu = cpu_percent()
    print(f"\nmaterial: {source_name}, {args.trials} trials x {args.seconds:.0f} s, seed {args.seed}\n")
    names = {"engine": "engine (delay + polarity + band phase)", "time": "engine, time-only (band phase off)",
             "base": "baseline: integer xcorr + polarity", "none": "unaligned"}
    base_err = np.median([r["err"]["base"] for r in rows])
    base_e = np.median([r["energy"]["base"] for r in rows])
    print("| method | median delay error (samples) | p90 | polarity correct | median E/E_oracle | min | "
          "delay error / baseline | E / baseline |")
    print("|---|---|---|---|---|---|---|---|")
    for k in ("engine", "time", "base", "none"):
        e = np.array([r["energy"][k] for r in rows])
        if k == "none":
            print(f"| {names[k]} | - | - | - | {np.median(e):.3f} | {e.min():.3f} | - | {np.median(e) / base_e:.2f} |")
            continue
        err = np.array([r["err"][k] for r in rows])
        pc = 100 * np.mean([r["pol"][k] for r in rows])
        print(f"| {names[k]} | {np.median(err):.3f} | {np.quantile(err, 0.9):.3f} | {pc:.0f} % | "
              f"{np.median(e):.3f} | {e.min():.3f} | {np.median(err) / base_err:.3f} | {np.median(e) / base_e:.3f} |")
    g = np.array([r["band_gain"] for r in rows])
    ap_rows = np.array([r["band_gain"] for r in rows if "allpass" in r["kind"]])
    print("\nper octave band, engine vs engine time-only (dB): worst of all trials and bands "
          f"{g.min():+.2f}; median per band:")
    print("| band (Hz) | " + " | ".join(f"{c:.0f}" for c in OCTAVES) + " |")
    print("|---|" + "---|" * len(OCTAVES))
    print("| all trials | " + " | ".join(f"{v:+.2f}" for v in np.median(g, axis=0)) + " |")
    if len(ap_rows):
        print("| allpass trials | " + " | ".join(f"{v:+.2f}" for v in np.median(ap_rows, axis=0)) + " |")
    room = np.array([r["room"] for r in rows])
    print("| oracle vs time-only, all | " + " | ".join(f"{v:+.2f}" for v in np.median(room, axis=0)) + " |")
    low = OCTAVES < 500
    differ = room[:, low] >= 1.5  # bands below 500 Hz where the filters differ (a perfect fix gains >= 1.5 dB)
    if differ.any():
        got = g[:, low][differ]
        print(f"\nbands below 500 Hz where the filters differ ({differ.sum()} (trial, band) pairs): engine vs "
              f"time-only median {np.median(got):+.2f} dB, min {got.min():+.2f} dB, >= 1 dB in "
              f"{100 * np.mean(got >= 1.0):.0f} %")
    print("\nCPU per stereo instance at 48 kHz (% of one core): " + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
