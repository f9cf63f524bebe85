"""Profile EQ quality bench: music coloured by random smooth EQs, moved back toward a profile.

    PYTHONPATH=python_backend python bench/profile_quality.py [--trials 6] [--seconds 40] [--seed 1]
        [--paced 4]

Material: ``--trials`` different human-composed songs (Debian openttd-openmsx MIDIs, rendered
with fluidsynth and FluidR3 GM; 40 s from 10 s in), 48 kHz stereo (``--material generated``:
bench/resonance_quality.py's generated song, one arrangement whose melody varies per seed). Each
is coloured by a random smooth EQ (bench/matching_quality.py: 5 peaking bands, 50 Hz .. 12 kHz,
+-6 dB, Q 0.5 .. 2). Two profiles per song:

* **same song**: captured from the untouched song itself (one file: spread 0, no tolerance band);
* **other songs**: captured from the untouched versions of the *other* songs (median + inter-quartile
  spread, ``bandmate.profiles.capture_profile``'s arithmetic); the engine leaves +-spread/2 alone.

Methods (defaults of specs/profile_eq.json: window 30 s, minimum phase, auto gain):

* **Profile EQ engine** (``ProfileEQEngine``, causal, learning from the start), smoothing 1/3 oct
  (default) and 1/6 oct, and the 10 s window;
* **static baselines**: a one-shot matching EQ from the first 1 s (and 10 s) of the track (same curve
  rules, tolerance and auto gain, via ``match_curve`` / ``CorrectionFilter``), applied unchanged;
* **offline oracle**: the same one-shot EQ computed from the whole song (knows the future).

Metrics, all in the same run, residuals in dB RMS over 31 third-octave bands 40 Hz .. 16 kHz (mean
removed), counting only what lies outside the profile's tolerance band:

* **output 0-10 s / last 10 s**: the long-term spectrum (same analysis as profiles) of the
  rendered output over that stretch vs the profile. Includes the song's own variation: a 10 s
  stretch of a song differs from the song (and from what the engine's exponential window has
  learnt), which the oracle row shows;
* **song + curve at 10 s / last 10 s**: the song's whole long-term spectrum plus the correction
  curve in force at t = 10 s (mean over the curves of the last 10 s) vs the profile: how far the
  track's tonal balance is from the profile with the correction learnt so far (what Learn = off
  would then freeze);
* **loudness change**: K-weighted level output vs input (dB ~ LU), seconds 5 .. end;
* **gain-curve slew**: largest change of the curve between consecutive updates (every 4032 samples,
  any band 40 Hz .. 16 kHz), in dB/s: max (includes the first curve switching on), max after the
  first second, RMS;
* **latency**: the real CLAP plugin's reported latency per host max block, checked against the
  spec and by Mix = 0 rendering exactly the input delayed by it;
* **CPU**: engine ``process()`` seconds per second of audio (stereo, one process on this machine);
  ``--paced N``: N realtime BandmateProfileEQ instances in bench/paced_soak.py's paced host
  (SCHED_FIFO callback, 256-frame blocks, noise input), backend CPU per instance.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python_backend"))
sys.path.insert(0, str(ROOT))  # plugin_host
sys.path.insert(0, str(ROOT / "bench"))

from bandmate.data.render import fluidsynth_render_stereo  # noqa: E402
from bandmate.data.sources import OPENMSX_DIR, SOUNDFONTS  # noqa: E402
from bandmate.engines import EngineConfig  # noqa: E402
from bandmate.engines.matching import DEFAULTS, CorrectionFilter, match_curve  # noqa: E402
from bandmate.engines.profile_eq import ProfileEQEngine  # noqa: E402
from bandmate.engines.spectrum import LongTermSpectrum, loudness_normalise  # noqa: E402
from bandmate.profiles import Profile, profile_grid, spectrum_on_profile_grid  # noqa: E402
from bandmate.specs import load_spec  # noqa: E402
from matching_quality import apply_eq, k_level, random_eq  # noqa: E402
from resonance_quality import music  # noqa: E402

FS = 48000
BAND_FC = np.geomspace(40.0, 16000.0, 31)
METHODS = {"engine": {}, "engine6": {"smoothing_oct": 1 / 6}, "w10": {"window_s": 10.0}, "low": {"phase_mode": 2.0},
           "static": 1.0, "static10": 10.0, "oracle": None}
LABELS = {"engine": "Profile EQ (defaults: smoothing 1/3 oct, window 30 s, hop 192)",
          "engine6": "Profile EQ (smoothing 1/6 oct)",
          "w10": "Profile EQ (window 10 s)",
          "low": "Profile EQ (Phase = Minimum, low CPU: hop 256)",
          "static": "static EQ from first 1 s (baseline)",
          "static10": "static EQ from the first 10 s (all a causal method can know at 10 s)",
          "oracle": "static EQ from the whole song (offline oracle)"}


def excess(d: np.ndarray, tol: np.ndarray) -> float:
    """RMS of the part of d (mean removed) outside +-tol."""
    d = d - d.mean()
    e = np.sign(d) * np.maximum(np.abs(d) - tol, 0.0)
    return float(np.sqrt(np.mean(e**2)))


def at_bands(grid: np.ndarray, db: np.ndarray) -> np.ndarray:
    return np.interp(np.log2(BAND_FC), np.log2(grid), db)


def run_engine(x: np.ndarray, prof: Profile, folder: str, params: dict | None = None,
               ) -> tuple[np.ndarray, list[np.ndarray], float]:
    prof.save(Path(folder) / f"{prof.name}.json")
    eng = ProfileEQEngine(EngineConfig(FS, 2, activation_params=params), profile_folder=folder)
    eng.configure({"profile": prof.name})
    assert eng.profile is not None
    p = eng.spec.defaults() | dict(params or {})
    hop, n = eng.hop, x.shape[1]
    total = -(-n // hop) * hop
    pad = np.zeros((2, total), np.float32)
    pad[:, :n] = x
    out = np.empty_like(pad)
    curves = []
    t0 = time.process_time()  # CPU time: less sensitive to the other jobs on this shared machine
    for j, s in enumerate(range(0, total, hop)):
        out[:, s: s + hop], _ = eng.process(pad[:, s: s + hop], p)
        if j % eng.core.update_hops == 0:  # (time of the update, its curve)
            curves.append((s / FS, eng.core.curve_db.mean(axis=0).copy()))
    dt = time.process_time() - t0
    return out[:, :n].astype(np.float64), curves, dt * FS / n


def run_static(x: np.ndarray, prof: Profile, grid: np.ndarray, weights: np.ndarray, learn_s: float | None,
               ) -> tuple[np.ndarray, np.ndarray]:
    """One matching EQ from the first ``learn_s`` seconds (None: the whole track, an offline oracle),
    applied unchanged to the whole track (minimum phase)."""
    lts = LongTermSpectrum(FS, rows=2, window_s=None)
    lts.push(x if learn_s is None else x[:, : int(learn_s * FS)])
    cur = lts.spectrum_db(mean_rows=True)
    tgt, tol = prof.on_grid(grid, weights)
    d = DEFAULTS
    curve = match_curve(cur, tgt[None], grid, smoothing_oct=d["smoothing_oct"], amount=d["amount"],
                        max_cut_db=d["max_cut_db"], max_boost_db=d["max_boost_db"], low_hz=d["low_hz"],
                        high_hz=d["high_hz"], tolerance_db=d["tolerance_db"] + tol)
    pw = lts.power().mean(axis=0, keepdims=True) * weights
    makeup = -10 * np.log10(np.sum(pw * 10 ** (curve / 10)) / np.sum(pw))
    filt = CorrectionFilter(FS, 2, 128, grid)
    filt.set_curve(curve, np.array([makeup]), 0)
    n = x.shape[1]
    pad = np.zeros((2, -(-n // 128) * 128))
    pad[:, :n] = x
    y = np.concatenate([filt.process(pad[:, s: s + 128])[0] for s in range(0, pad.shape[1], 128)], axis=1)
    return y[:, :n], curve[0]


def metrics(x, y, curves, track_db, prof: Profile, grid, weights, seconds) -> dict:
    tgt, tol = prof.on_grid(grid, weights)
    tb, pb, tolb = at_bands(grid, track_db), at_bands(grid, tgt), at_bands(grid, tol)
    cb = [at_bands(grid, c) for _, c in curves]
    times = np.array([t for t, _ in curves])
    res = np.array([excess(tb + c - pb, tolb) for c in cb])  # one curve: a static EQ
    steady = float(res[times >= seconds - 10.0].mean()) if len(cb) > 1 else float(res[0])
    at10 = float(res[np.searchsorted(times, 10.0)]) if len(cb) > 1 else float(res[0])
    def out_res(a: float, b: float) -> float:
        return excess(at_bands(grid, spectrum_on_profile_grid(y[:, int(a * FS): int(b * FS)], FS)) - pb, tolb)

    dt = np.diff(times) if len(cb) > 1 else np.ones(1)
    slew = np.array([np.max(np.abs(b - a)) for a, b in zip(cb[:-1], cb[1:], strict=True)] or [0.0]) / dt
    late = slew[times[1:] >= 1.0] if len(cb) > 1 else slew
    return {"r10": at10, "steady": steady, "out10": out_res(0, 10), "out_last": out_res(seconds - 10, seconds),
            "dLU": k_level(y) - k_level(x),
            "slew_max": float(slew.max()), "slew_max_1s": float(late.max()),
            "slew_rms": float(np.sqrt(np.mean(slew**2)))}


def latency_table(blocks=(64, 128, 256, 512, 1024)) -> list[tuple[int, int, int, float]]:
    """(max block, reported latency, spec latency, max |error| of Mix = 0 vs the input delayed by
    the reported latency) for the real CLAP plugin, minimum phase, deterministic, own backend."""
    import paced_soak as ps
    from bandmate.paths import find_plugin

    import plugin_host as ph

    runtime = Path(tempfile.mkdtemp(prefix="bandmate-profile-"))
    ps.setup_env(runtime)
    spec = load_spec("ProfileEQ")
    path = str(find_plugin("ProfileEQ", "clap", prefer_build=True))
    x = (0.1 * np.random.default_rng(7).standard_normal((2, FS))).astype(np.float32)
    rows = []
    for b in blocks:
        p = ph.ClapPlugin(path)
        p.set_param("Deterministic", 1.0)
        p.set_param("Mix", 0.0)
        p.activate(FS, max_block=b)
        lat = p.latency
        y = p.process(np.concatenate([x, np.zeros((2, lat), np.float32)], axis=1), block_size=b).audio
        rows.append((b, lat, spec.plugin_latency(FS, b), float(np.abs(y[:, lat:] - x).max())))
        p.close()
    ps.stop_backend(runtime)
    return rows


def paced_cpu(n: int, seconds: float, phase_mode: int) -> tuple[float, int, int]:
    """Backend CPU per instance (fraction of a core), late hops, hops: N realtime instances of
    BandmateProfileEQ in bench/paced_soak.py's paced host (its warm-up, settling and CPU count)."""
    import paced_soak as ps

    from plugin_host.clap import paced_record

    runtime = Path(tempfile.mkdtemp(prefix="bandmate-profile-"))
    ps.setup_env(runtime)
    plugins = ps.make_instances("ProfileEQ", n, {"Phase": float(phase_mode)})
    try:
        ps.warm_up(plugins)
        ps.settle(plugins)
        late0 = ps.late_blocks(plugins)
        pid = ps.backend_pid(runtime)
        cpu0, t0 = ps.cpu_seconds(pid), time.monotonic()
        rec = paced_record(plugins, seconds, ps.BLOCK, record=[], rt_priority=True)
        cpu = (ps.cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
        late = int(np.sum(ps.late_blocks(plugins) - late0))
        return cpu / n, late, n * rec.stats.blocks
    finally:
        for p in plugins:
            p.close()
        ps.stop_backend(runtime)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--paced", type=int, default=0, help="also measure N instances in the paced host")
    ap.add_argument("--paced-seconds", type=float, default=20.0)
    ap.add_argument("--host-only", action="store_true", help="only the latency table and --paced")
    ap.add_argument("--material", choices=("openmsx", "generated"), default="openmsx")
    args = ap.parse_args()
    if not args.host_only:
        quality(args)
    host(args)


def openmsx_excerpts(n: int, seconds: float, rng: np.random.Generator) -> list[np.ndarray] | None:
    """``n`` different human-composed songs (openttd-openmsx MIDIs) rendered with fluidsynth
    (FluidR3 GM), ``seconds`` each from 10 s in (or the start); None if they are not installed."""
    files = sorted(OPENMSX_DIR.glob("*.mid"))
    sf2 = SOUNDFONTS["FluidR3_GM"]
    if len(files) < n or not sf2.exists():
        return None
    out = []
    need = int(seconds * FS)
    for f in rng.permutation(files):
        audio, _ = fluidsynth_render_stereo(f.read_bytes(), sf2, FS, gain=0.5)  # (2, samples)
        if audio.shape[1] < need:
            continue
        start = min(10 * FS, audio.shape[1] - need)
        y = audio[:, start : start + need].astype(np.float64)
        out.append(0.5 * y / np.max(np.abs(y)))
        if len(out) == n:
            return out
    return None


def quality(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(args.seed)
    originals = openmsx_excerpts(args.trials, args.seconds, rng) if args.material == "openmsx" else None
    source = "openttd-openmsx songs, fluidsynth/FluidR3_GM"
    if originals is None:  # bench/resonance_quality.py's generated song (same arrangement, new melody)
        originals = [music(args.seconds, np.random.default_rng(args.seed * 1000 + t))[0] for t in range(args.trials)]
        source = "resonance_quality.music (one arrangement, melodies vary)"
    songs = [(o, apply_eq(o, random_eq(rng))) for o in originals]
    specs = [spectrum_on_profile_grid(o, FS) for o, _ in songs]
    grid, grid_w = profile_grid()
    rows = []
    folder = tempfile.mkdtemp(prefix="bandmate-profiles-")
    for t, (_, x) in enumerate(songs):
        x = x * (0.5 / np.max(np.abs(x)))
        track = spectrum_on_profile_grid(x, FS)
        others = np.array([s for i, s in enumerate(specs) if i != t])
        q75, q25 = np.percentile(others, [75, 25], axis=0)
        profiles = {
            "same": Profile(f"same{t}", grid, specs[t], np.zeros(len(grid)), 1),
            "other": Profile(f"other{t}", grid, loudness_normalise(np.median(others, axis=0), grid_w), q75 - q25,
                             len(others)),
        }
        row = {"trial": t}
        for key, prof in profiles.items():
            tgt, tol = prof.on_grid(grid, grid_w)
            row[f"{key}_input"] = excess(at_bands(grid, track) - at_bands(grid, tgt), at_bands(grid, tol))
            for meth, params in METHODS.items():
                if not isinstance(params, dict):
                    ys, curve = run_static(x, prof, grid, grid_w, params)
                    row[f"{key}_{meth}"] = metrics(x, ys, [(0.0, curve)], track, prof, grid, grid_w, args.seconds)
                else:
                    y, curves, rt = run_engine(x, prof, folder, params)
                    row[f"{key}_{meth}"] = metrics(x, y, curves, track, prof, grid, grid_w, args.seconds)
                    row[f"{key}_{meth}_rt"] = rt
        rows.append(row)
        print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items() if not isinstance(v, dict)},
              {k: {a: round(b, 2) for a, b in v.items()} for k, v in row.items() if isinstance(v, dict)},
              file=sys.stderr, flush=True)

    def col(key: str, m: str | None = None) -> np.ndarray:
        return np.array([r[key][m] if m else r[key] for r in rows])

    print(f"# Profile EQ quality: {args.trials} songs x {args.seconds:.0f} s ({source}), 48 kHz stereo, random "
          "smooth EQ per song; engine defaults (window 30 s, minimum phase, auto gain), others as named")
    print("# residual: dB RMS over 31 1/3-oct bands 40 Hz-16 kHz, mean removed, outside the profile's tolerance "
          "band; means over songs (worst in brackets); slew max after the first second in brackets")
    print("| profile | method | input | output 0-10 s | output last 10 s | song + curve at 10 s | song + curve, "
          "last 10 s | loudness change (dB) | slew max (after 1 s) / RMS (dB/s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for key, label in (("same", "same song (spread 0)"), ("other", "other songs (median, IQR)")):
        for meth, mlabel in LABELS.items():
            m = f"{key}_{meth}"

            def mw(k: str, m: str = m) -> str:
                return f"{col(m, k).mean():.2f} ({col(m, k).max():.2f})"

            dlu = np.abs(col(m, "dLU"))
            print(f"| {label} | {mlabel} | {col(f'{key}_input').mean():.2f} | {mw('out10')} | {mw('out_last')} | "
                  f"{mw('r10')} | {mw('steady')} | {dlu.mean():.2f} ({dlu.max():.2f}) | "
                  f"{col(m, 'slew_max').mean():.0f} ({col(m, 'slew_max_1s').mean():.0f}) / "
                  f"{col(m, 'slew_rms').mean():.1f} |")
    for key in ("same", "other"):
        s = col(f"{key}_static", "out_last").mean()
        for meth in ("engine", "engine6", "w10", "low"):
            e = col(f"{key}_{meth}", "out_last").mean()
            print(f"# {key}, {LABELS[meth]}: output residual, last 10 s, {e:.2f} dB vs static {s:.2f} dB "
                  f"(ratio {e / s:.2f})")
    for m in ("engine", "low"):
        rt = np.concatenate([col(f"{k}_{m}_rt") for k in ("same", "other")])
        print(f"# CPU, {LABELS[m]}: engine process() {100 * rt.mean():.1f}% of one core per stereo instance "
              f"(max {100 * rt.max():.1f}%), offline loop on this machine")


def host(args: argparse.Namespace) -> None:
    print("\n| host max block | reported latency (samples) | ms at 48 kHz | = spec | "
          "Mix 0: max abs(out - delayed in) |")
    print("|---|---|---|---|---|")
    for blk, lat, want, err in latency_table():
        print(f"| {blk} | {lat} | {1000 * lat / FS:.2f} | {'yes' if lat == want else 'NO'} | {err:.1e} |")
    if args.paced:
        print(f"\n| paced host: {args.paced} realtime instances x {args.paced_seconds:.0f} s, 256-frame blocks | "
              "backend CPU per instance (% of one core) | late hops | latency at 256 / 512-frame host blocks |")
        print("|---|---|---|---|")
        spec = load_spec("ProfileEQ")
        for mode, label in ((0, "Phase = Minimum (hop 192)"), (2, "Phase = Minimum, low CPU (hop 256)")):
            cpu, late, hops = paced_cpu(args.paced, args.paced_seconds, mode)
            lats = [spec.plugin_latency(FS, b, {"phase_mode": mode}) / FS * 1000 for b in (256, 512)]
            print(f"| {label} | {100 * cpu:.1f} | {late} / {hops} | {lats[0]:.1f} / {lats[1]:.1f} ms |")


if __name__ == "__main__":
    main()
