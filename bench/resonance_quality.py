"""ResonanceEQ quality bench: peak removal, collateral, gain-curve flux, emphasis, speed.

    PYTHONPATH=python_backend python bench/resonance_quality.py [--seconds 20] [--seeds 1 2 3 4 5 6]

Material (seeded, offline), per seed: pink noise, and music rendered with fluidsynth from a MIDI
file written here (strings, piano, bass, flute, drums; FluidR3 GM soundfont). If fluidsynth or the
soundfont is missing, an additive-synth stand-in is used and the table says so. Narrow +12 dB
peaking resonances (Q 20..40, random frequency 150 Hz..10 kHz and onset, 2.5..4 s long, 20 ms
fades; 6 per material and seed) are injected into both channels. The injected peaks are random:
results are pooled over all seeds (several seeds, not one), nothing is tuned to a seed.

Methods: the engine (amount -1, other params default, stereo, 48 kHz; normal and low-latency
mode, amount -0.5 for the trade-off, with the rule-based cut detector instead of the learned
one, ``--detector`` picks the default, and with Low at 2.8 kHz scored on the peaks from 2.8 kHz
up only, the range where the learned detector finds resonances), (a) an oracle static notch
(exact inverse peaking filter at the known frequencies, always on), (b) a plain per-bin downward compressor
(STFT 2048/256, threshold = long-term per-bin mean level + T, ratio 8, same attack/release
one-poles), with T bisected per seed so its mean peak removal equals the engine's.

Metrics: removal = 1 - residual/excess of the level (dB) in each peak's bandwidth f0/Q while
it is active, vs the peak-free original (mean and minimum over all peaks of all seeds, and the
share of peaks with >= 75 %); collateral = RMS dB change in third-octave bands (50 Hz..16 kHz)
more than 1/3 octave away from every injected peak (mean and max over seeds); flux = mean |dB
change| of the gain curve per 256-sample frame (bins 50 Hz..16 kHz). Emphasis: amount +1 on
harmonic tones over pink noise (and on music): change of harmonic-peak-to-floor ratio and
broadband level. Speed: process() CPU time per hop as % of the hop's duration (mean; p99 of the
wall-clock time per hop), offline x real time.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import scipy.signal as ss

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python_backend"))

from bandmate.data.midi import MidiFile, tempo_event, write_midi  # noqa: E402
from bandmate.data.render import fluidsynth_render_stereo  # noqa: E402
from bandmate.data.resonance import peaking  # noqa: E402
from bandmate.data.sources import SOUNDFONTS  # noqa: E402
from bandmate.engines.base import EngineConfig  # noqa: E402
from bandmate.engines.resonance import ResonanceEngine  # noqa: E402
from bandmate.signals import pink_noise  # noqa: E402

FS = 48000
SOUNDFONT = SOUNDFONTS["FluidR3_GM"]


# ----------------------------------------------------------------------------- material
def song_midi(seconds: float, rng: np.random.Generator) -> bytes:
    """A MIDI file's bytes (format 0): I-vi-IV-V in C at 120 bpm with five GM parts."""
    tpq = 480
    beat = 0.5  # s at 120 bpm
    bars = int(np.ceil(seconds / (4 * beat)))
    ev: list[tuple[int, bytes]] = [tempo_event(0, 120.0)]  # write_midi adds the meta length byte
    for ch, prog in ((0, 48), (1, 0), (2, 33), (3, 73)):
        ev.append((0, bytes([0xC0 | ch, prog])))
    ev.append((0, bytes([0xB0 | 3, 7, 90])))

    def note(ch, key, t0, dur, vel):
        ev.append((int(t0 * tpq), bytes([0x90 | ch, key, vel])))
        ev.append((int((t0 + dur) * tpq) - 1, bytes([0x80 | ch, key, 0])))

    chords = [(60, 64, 67), (57, 60, 64), (53, 57, 60), (55, 59, 62)]
    scale = [72, 74, 76, 77, 79, 81, 83, 84]
    for bar in range(bars):
        c = chords[bar % 4]
        t = bar * 4.0
        for k in c:
            note(0, k, t, 4.0, 70)
        for i in range(8):
            note(1, c[i % 3] + (12 if i >= 4 else 0), t + i * 0.5, 0.5, 80)
        for i in range(4):
            note(2, c[0] - 24, t + i, 0.9, 95)
        i = 0.0
        while i < 4.0:
            d = float(rng.choice([0.5, 1.0]))
            note(3, int(rng.choice(scale)), t + i, d, 85)
            i += d
        for i in range(8):
            note(9, 42, t + i * 0.5, 0.25, 60)
        for i in (0, 2):
            note(9, 36, t + i, 0.5, 100)
        for i in (1, 3):
            note(9, 38, t + i, 0.5, 90)
    return write_midi(MidiFile(tpq, [ev]))


def synth_music(n: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / FS
    x = np.zeros(n)
    for k in range(int(n / FS / 0.5)):
        f0 = 110.0 * 2 ** (rng.integers(0, 24) / 12)
        seg = slice(int(k * 0.5 * FS), min(n, int((k + 1) * 0.5 * FS)))
        env = np.exp(-3 * (t[seg] - t[seg][0]))
        for h in range(1, 30):
            if f0 * h < 16000:
                x[seg] += env * np.sin(2 * np.pi * f0 * h * t[seg]) / h
    x += pink_noise(n, rng, 1)[0] * 0.5
    return np.stack([x, np.roll(x, 7)]) / np.max(np.abs(x)) * 0.5


def music(seconds: float, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    n = int(seconds * FS)
    if shutil.which("fluidsynth") and SOUNDFONT.exists():
        audio, _ = fluidsynth_render_stereo(song_midi(seconds, rng), SOUNDFONT, FS, gain=0.6)
        y = audio.astype(np.float64)
        if y.shape[1] < n:
            y = np.pad(y, ((0, 0), (0, n - y.shape[1])))
        y = y[:, :n]
        return y / np.max(np.abs(y)) * 0.5, "fluidsynth/FluidR3_GM"
    return synth_music(n, rng), "additive synth (fluidsynth missing)"


def make_peaks(seconds: float, rng: np.random.Generator, count: int = 6) -> list[dict]:
    peaks: list[dict] = []
    while len(peaks) < count:
        f0 = float(np.exp(rng.uniform(np.log(150), np.log(10000))))
        if any(abs(np.log2(f0 / p["f0"])) < 0.5 for p in peaks):
            continue
        dur = float(rng.uniform(2.5, 4.0))
        t0 = float(rng.uniform(1.0, seconds - dur - 0.5))
        peaks.append({"f0": f0, "q": float(rng.uniform(20, 40)), "t0": t0, "t1": t0 + dur})
    return peaks


def inject(x: np.ndarray, peaks: list[dict]) -> np.ndarray:
    y = x.copy()
    n = x.shape[1]
    fade = int(0.02 * FS)
    for p in peaks:
        b, a = peaking(p["f0"], 12.0, p["q"])
        w = np.zeros(n)
        i0, i1 = int(p["t0"] * FS), int(p["t1"] * FS)
        w[i0:i1] = 1.0
        w[i0 : i0 + fade] = np.linspace(0, 1, fade)
        w[i1 - fade : i1] = np.linspace(1, 0, fade)
        y = y + w * (ss.lfilter(b, a, y, axis=-1) - y)
    return y


# ----------------------------------------------------------------------------- methods
DETECTOR: str | None = None  # the engine's cut detector (--detector): None = the shipped model
# The "upper range" row: Low limit at the learned detector's band edge (bench/resonance_detector_roc.py),
# removal over the peaks at or above it only (collateral as for every row).
UPPER_HZ = 2800.0
UPPER_METHOD = f"engine, Low {UPPER_HZ / 1000:g} kHz (peaks >=)"


def run_engine(x: np.ndarray, params: dict, quality: int = 0,
               detector: str | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """Aligned output, the applied gain curve (ch 0, dB) every 256 samples (x rate factor; held
    between the engine's updates), seconds spent in process()."""
    e = ResonanceEngine(EngineConfig(FS, x.shape[0], {"quality": quality}), detector or DETECTOR)
    p = e.spec.defaults() | params
    n = x.shape[1]
    total = n + e.latency
    pad = np.zeros((x.shape[0], -(-total // e.hop) * e.hop), np.float32)
    pad[:, :n] = x
    out = np.empty_like(pad)
    curves = []
    frame = 256 * e.rate_factor
    t = time.perf_counter()
    for s in range(0, pad.shape[1], e.hop):
        out[:, s : s + e.hop], _ = e.process(pad[:, s : s + e.hop], p)
        if s % frame == 0:
            curves.append(e.last_gain_db[0].copy())
    dt = time.perf_counter() - t
    return out[:, e.latency : e.latency + n].astype(np.float64), np.array(curves), dt


def oracle_notch(x: np.ndarray, peaks: list[dict]) -> np.ndarray:
    y = x
    for p in peaks:
        b, a = peaking(p["f0"], -12.0, p["q"])
        y = ss.lfilter(b, a, y, axis=-1)
    return y


class PerBinCompressor:
    """Baseline (b): STFT 2048/256 per-bin downward compressor; the forward STFT is cached so the
    threshold can be bisected cheaply."""

    def __init__(self, x: np.ndarray, ratio: float = 8.0, attack_ms: float = 15.0, release_ms: float = 120.0):
        self.n = x.shape[1]
        _, _, self.Z = ss.stft(x, FS, window="hann", nperseg=2048, noverlap=2048 - 256, axis=-1)
        self.lev = 10 * np.log10(np.abs(self.Z) ** 2 + 1e-12)  # (ch, K, frames)
        self.mean = self.lev.mean(axis=-1, keepdims=True)
        self.ratio = ratio
        self.a_att = 1 - np.exp(-256 / (FS * attack_ms * 1e-3))
        self.a_rel = 1 - np.exp(-256 / (FS * release_ms * 1e-3))

    def __call__(self, thr_offset_db: float) -> tuple[np.ndarray, np.ndarray]:
        target = -np.maximum(self.lev - (self.mean + thr_offset_db), 0.0) * (1 - 1 / self.ratio)
        g = np.zeros(target.shape[:2])
        gains = np.empty_like(target)
        for i in range(target.shape[-1]):
            t = target[..., i]
            g += np.where(t < g, self.a_att, self.a_rel) * (t - g)
            gains[..., i] = g
        _, y = ss.istft(self.Z * 10 ** (gains / 20), FS, window="hann", nperseg=2048, noverlap=2048 - 256)
        return y[:, : self.n], gains[0].T


def perbin_compressor(x: np.ndarray, thr_offset_db: float, **kw) -> tuple[np.ndarray, np.ndarray]:
    return PerBinCompressor(x, **kw)(thr_offset_db)


# ----------------------------------------------------------------------------- metrics
def band_level(x: np.ndarray, lo: float, hi: float, i0: int, i1: int) -> float:
    f, p = ss.welch(x[:, i0:i1], FS, nperseg=16384, axis=-1)
    m = (f >= lo) & (f <= hi)
    return 10 * np.log10(p[:, m].sum() + 1e-30)


def removal(orig, inj, proc, peaks) -> np.ndarray:
    out = []
    for p in peaks:
        i0, i1 = int((p["t0"] + 0.1) * FS), int(p["t1"] * FS)
        bw = p["f0"] / p["q"]
        lo, hi = p["f0"] - bw / 2, p["f0"] + bw / 2
        l0 = band_level(orig, lo, hi, i0, i1)
        exc = band_level(inj, lo, hi, i0, i1) - l0
        res = band_level(proc, lo, hi, i0, i1) - l0
        out.append(1.0 - res / exc)
    return np.array(out)


def third_octave_levels(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f, p = ss.welch(x, FS, nperseg=8192, axis=-1)
    p = p.sum(axis=0)
    centers = 1000.0 * 2.0 ** (np.arange(-14, 13) / 3)
    lev = np.array([10 * np.log10(p[(f >= c * 2 ** (-1 / 6)) & (f < c * 2 ** (1 / 6))].sum() + 1e-30)
                    for c in centers])
    return centers, lev


def collateral(inj, proc, peaks) -> float:
    c, a = third_octave_levels(inj)
    _, b = third_octave_levels(proc)
    keep = np.array([all(abs(np.log2(cc / p["f0"])) > 1 / 6 + 1 / 3 for p in peaks) for cc in c])
    return float(np.sqrt(np.mean((b - a)[keep] ** 2)))


def flux(curves: np.ndarray, nbins: int = 1025) -> float:
    f = np.arange(curves.shape[1]) * FS / (2 * (curves.shape[1] - 1))
    m = (f >= 50) & (f <= 16000)
    return float(np.mean(np.abs(np.diff(curves[:, m], axis=0))))


def peak_to_floor(x: np.ndarray, notes: list[tuple[float, float, float]]) -> float:
    vals = []
    for f0, t0, t1 in notes:
        f, p = ss.welch(x[0, int(t0 * FS) : int(t1 * FS)], FS, nperseg=8192)
        df = f[1]
        for h in range(1, int(8000 / f0)):
            fh = f0 * h
            pk = p[(f > fh - 3 * df) & (f < fh + 3 * df)].max()
            fl = np.median(p[(f > fh + f0 * 0.3) & (f < fh + f0 * 0.7)])
            vals.append(10 * np.log10(pk / fl))
    return float(np.mean(vals))


def rms_db(x: np.ndarray) -> float:
    return 10 * np.log10(np.mean(x**2) + 1e-30)


# ----------------------------------------------------------------------------- main
def materials(seed: int, seconds: float) -> tuple[list[tuple[str, np.ndarray, list[dict]]], np.random.Generator]:
    """The seed's materials with their injected peaks (same draws as the single-seed bench had)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FS)
    mus, src = music(seconds, rng)
    mats = [("pink noise", pink_noise(n, rng)), (f"music ({src})", mus)]
    return [(name, x, make_peaks(seconds, rng)) for name, x in mats], rng


class Pool:
    """Per (material, method): removal of every peak, collateral and flux of every seed."""

    def __init__(self):
        self.rows: dict[tuple[str, str], dict[str, list]] = {}

    def add(self, mat: str, method: str, r: np.ndarray, coll: float, fl: float = float("nan")) -> None:
        d = self.rows.setdefault((mat, method), {"r": [], "c": [], "f": []})
        d["r"].append(r)
        d["c"].append(coll)
        d["f"].append(fl)

    def stats(self, mat: str, method: str) -> tuple[float, float, float, float, float, float]:
        d = self.rows[(mat, method)]
        r = np.concatenate(d["r"])
        return (float(r.mean()), float(r.min()), float((r >= 0.75).mean()), float(np.mean(d["c"])),
                float(np.max(d["c"])), float(np.mean(d["f"])))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6])
    ap.add_argument("--quick", action="store_true", help="engine rows only (for tuning)")
    ap.add_argument("--speed", action="store_true", help="the speed section only")
    ap.add_argument("--set", nargs="*", default=[], metavar="ID=VALUE", help="extra engine params")
    ap.add_argument("--detector", default=None, help="the engine's cut detector: an ONNX file, or 'rule' "
                    "(default: the shipped model)")
    args = ap.parse_args()
    global DETECTOR
    DETECTOR = args.detector
    params = {"amount": -1.0} | {kv.split("=")[0]: float(kv.split("=")[1]) for kv in args.set}

    if args.speed:
        speed(params, np.random.default_rng(args.seeds[0]))
        return
    print(f"ResonanceEQ bench, {args.seconds:.0f} s per material and seed, 48 kHz stereo, seeds {args.seeds}")
    print(f"engine: {ResonanceEngine(EngineConfig(FS, 2), DETECTOR).detector_name} cut detector")
    print(f"engine params: defaults + {params}; peaks +12 dB, Q 20..40, 150 Hz..10 kHz, 6 per material and seed\n")
    pool = Pool()
    methods = ["engine", "engine, low-latency mode", "engine, amount -0.5", "engine, rule detector", UPPER_METHOD,
               "(a) oracle static notch", "(b) per-bin compressor"]
    details: list[str] = []
    first = None
    for seed in args.seeds:
        mats, rng = materials(seed, args.seconds)
        if first is None:
            first = (mats, rng)
        for mname, x, peaks in mats:
            xin = inject(x, peaks)
            y, curves, _ = run_engine(xin.astype(np.float32), params)
            r_eng = removal(x, xin, y, peaks)
            pool.add(mname, "engine", r_eng, collateral(xin, y, peaks), flux(curves))
            details.append(f"  seed {seed} {mname[:10]:10s} collateral {collateral(xin, y, peaks):4.2f} dB, removal "
                           + " ".join(f"{p['f0']:.0f}Hz:{100 * v:.0f}%" for p, v in zip(peaks, r_eng, strict=True)))
            if args.quick:
                print(details[-1], flush=True)
                continue
            y2, c2, _ = run_engine(xin.astype(np.float32), params, quality=1)
            pool.add(mname, "engine, low-latency mode", removal(x, xin, y2, peaks), collateral(xin, y2, peaks),
                     flux(c2))
            y3, c3, _ = run_engine(xin.astype(np.float32), params | {"amount": -0.5})
            pool.add(mname, "engine, amount -0.5", removal(x, xin, y3, peaks), collateral(xin, y3, peaks), flux(c3))
            y4, c4, _ = run_engine(xin.astype(np.float32), params, detector="rule")
            pool.add(mname, "engine, rule detector", removal(x, xin, y4, peaks), collateral(xin, y4, peaks), flux(c4))
            upper = [p for p in peaks if p["f0"] >= UPPER_HZ]
            if upper:
                y5, c5, _ = run_engine(xin.astype(np.float32), params | {"low_hz": UPPER_HZ})
                pool.add(mname, UPPER_METHOD, removal(x, xin, y5, upper), collateral(xin, y5, peaks), flux(c5))
            ya = oracle_notch(xin, peaks)
            pool.add(mname, "(a) oracle static notch", removal(x, xin, ya, peaks), collateral(xin, ya, peaks))
            comp = PerBinCompressor(xin)
            lo, hi = -10.0, 30.0  # bisect the compressor threshold to match the engine's mean removal
            for _ in range(10):
                mid = 0.5 * (lo + hi)
                yb, gb = comp(mid)
                if removal(x, xin, yb, peaks).mean() > r_eng.mean():
                    lo = mid
                else:
                    hi = mid
            pool.add(mname, "(b) per-bin compressor", removal(x, xin, yb, peaks), collateral(xin, yb, peaks),
                     flux(gb))
            print(f"  seed {seed} {mname[:10]} done", file=sys.stderr, flush=True)

    hdr = (f"{'material':30s} {'method':30s} {'removal mean':>12s} {'min':>5s} {'>=75%':>6s} "
           f"{'collateral dB (max)':>19s} {'flux dB':>8s}")
    print(hdr)
    print("-" * len(hdr))
    for mname in [m[0] for m in first[0]]:
        for method in methods:
            if (mname, method) not in pool.rows:
                continue
            rm, rmin, ok, c, cmax, fl = pool.stats(mname, method)
            print(f"{mname:30s} {method:30s} {100 * rm:11.0f}% {100 * rmin:4.0f}% {100 * ok:5.0f}% "
                  f"{c:11.2f} ({cmax:4.2f}) {fl:8.3f}")
        if not args.quick:
            e, a, b = (pool.stats(mname, m) for m in ("engine", "(a) oracle static notch", "(b) per-bin compressor"))
            print(f"{'':30s} ratios engine/(a): removal {e[0] / a[0]:.2f}; engine/(b) at equal removal: "
                  f"collateral {e[3] / b[3]:.2f}, flux {e[5] / b[5]:.2f}")
    if args.quick:
        return
    print("\nper seed (engine, normal mode):")
    print("\n".join(details))

    # emphasis
    mats, rng = first
    n = int(args.seconds * FS)
    mus = mats[1][1]
    print("\nEmphasis (amount +1, other params default)")
    t = np.arange(n) / FS
    tone = np.zeros(n)
    notes = []
    for k in range(int(args.seconds)):
        f0 = 110.0 * 2 ** (int(rng.integers(0, 24)) / 12)
        seg = slice(k * FS, (k + 1) * FS)
        for h in range(1, int(16000 / f0)):
            tone[seg] += np.sin(2 * np.pi * f0 * h * t[seg] + rng.uniform(0, 6.3)) / h
        notes.append((f0, k + 0.2, k + 1.0))
    tone = tone / np.sqrt(np.mean(tone**2)) * 0.05
    xt = np.stack([tone, tone]) + pink_noise(n, rng) * 0.5
    for label, xe, pf in (("harmonic tones + pink noise", xt, True), (mats[1][0], mus, False)):
        ye, _, _ = run_engine(xe.astype(np.float32), {"amount": 1.0})
        s = slice(FS, None)
        line = f"  {label:34s} broadband level change {rms_db(ye[:, s]) - rms_db(xe[:, s]):+.2f} dB"
        if pf:
            line += f", harmonic peak-to-floor {peak_to_floor(xe, notes):.1f} -> {peak_to_floor(ye, notes):.1f} dB"
        print(line)

    speed(params, rng)


def speed(params: dict, rng: np.random.Generator) -> None:
    print("\nSpeed (this machine, one process() call per hop, stereo; CPU time mean, wall-clock p99)")
    runs = [(q, label, fs, None) for q, label in ((0, "normal"), (1, "low latency")) for fs in (48000, 96000)]
    runs.append((0, "normal", 48000, "rule"))  # the learned detector's cost: the same without it
    for q, label, fs, det in runs:
        e = ResonanceEngine(EngineConfig(fs, 2, {"quality": q}), det or DETECTOR)
        p = e.spec.defaults() | params
        xs = (pink_noise(fs * 4, rng) * 3).astype(np.float32)
        hops = [xs[:, s : s + e.hop] for s in range(0, xs.shape[1] - e.hop, e.hop)]
        for h in hops[:50]:
            e.process(h, p)
        walls = []
        c0 = time.process_time()
        for h in hops[50:]:
            t0 = time.perf_counter()
            e.process(h, p)
            walls.append(time.perf_counter() - t0)
        cpu = (time.process_time() - c0) / len(walls)
        hop_s = e.hop / fs
        name = e.detector_name.split()[0]
        print(f"  {label:11s} {fs // 1000:3d} kHz hop {e.hop:4d} latency {e.latency:4d} {name:7s}: per hop "
              f"{1e3 * cpu:.3f} ms CPU ({100 * cpu / hop_s:.1f}% of one core, "
              f"p99 {100 * np.percentile(walls, 99) / hop_s:.1f}%), offline {hop_s / cpu:.1f}x real time")


if __name__ == "__main__":
    main()
