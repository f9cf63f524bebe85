"""Evaluate DrumNet on held-out real songs against two baselines; print markdown tables.

    PYTHONPATH=python_backend python bench/drumnet_eval.py [--data data_cache] [--model onnx_models/drumnet.onnx]

1. 16th-step onset F1 for kick and snare (pooled over the split's real-song bars) for
   (a) the most common MMA 4/4 pattern, (b) nearest-neighbour retrieval of a training bar by
   features (previous + current bar, L2), DrumNet at default controls and, for reference,
   DrumNet given each bar's true density percentile (an oracle, not a result).
2. Controls: each swept 0..1 (11 points) on the first 200 held-out bars, the others at their
   defaults; the measured quantity per bar, its Spearman correlation with the control per bar
   (averaged; a bar whose quantity does not move counts as 0) and of the bar-averaged curve.
3. Latency (one thread: onnxruntime and BLAS, features from audio + model + decoding) and
   process memory (RSS).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one thread, as in the plugin backend (BLAS threads only add contention)

import numpy as np  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python_backend"))

from bandmate.data.build import load_split  # noqa: E402
from bandmate.data.drums import N_VOICES, STEPS, VOICE_NAMES, VOICE_NOTES, pattern_entropy  # noqa: E402
from bandmate.features import SR, bar_features  # noqa: E402
from bandmate.generators.common import f1, with_prev  # noqa: E402
from bandmate.generators.drumnet import DrumControls, DrumNet  # noqa: E402

REAL = ("openmsx", "freedoom")
STEP_MS_120 = 125.0  # one 16th at 120 BPM
_KICK, _SNARE, _HAT = 0, 1, VOICE_NAMES.index("hat_closed")


def hits_array(bars_of_hits) -> np.ndarray:
    out = np.zeros((len(bars_of_hits), STEPS, N_VOICES), bool)
    for b, hits in enumerate(bars_of_hits):
        for h in hits:
            out[b, h.step, VOICE_NOTES.index(h.note)] = True
    return out


def percentile(values, ref):
    ref = np.sort(ref)
    return ((np.searchsorted(ref, values, "left") + np.searchsorted(ref, values, "right")) / 2 / len(ref)).astype(
        np.float32)


def decode_all(net, x, controls: DrumControls, ctrl_rows=None, seed: int = 0) -> list:
    """Bars of hits as the runtime makes them (DrumNet.predict + DrumNet.decode, one rng per run)."""
    p, v, o = net.predict(x, controls if ctrl_rows is None else ctrl_rows)
    rng = np.random.default_rng(seed)
    return [net.decode(p[i], v[i], o[i], controls, rng) for i in range(len(x))]


def rowcorr(a, b) -> np.ndarray:
    """Per-bar Pearson correlation over the 16 steps; 0 where either side is constant."""
    a, b = a - a.mean(1, keepdims=True), b - b.mean(1, keepdims=True)
    den = np.sqrt((a**2).sum(1) * (b**2).sum(1))
    return np.where(den > 0, (a * b).sum(1) / np.where(den > 0, den, 1), 0.0)


def spearman_stats(sweep, vals, mask=None):
    """vals (len(sweep), bars) -> mean per-bar Spearman (constant bars count 0), Spearman of the mean curve."""
    cols = range(vals.shape[1]) if mask is None else np.nonzero(mask)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant bars: nan, counted as 0
        rhos = [spearmanr(sweep, vals[:, i]).statistic for i in cols]
        curve = np.nanmean(vals[:, cols], 1)
        return float(np.mean(np.nan_to_num(rhos, nan=0.0))), float(spearmanr(sweep, curve).statistic), curve


def control_table(net, x) -> list[tuple]:
    sweep = np.linspace(0, 1, 11)
    onset = x[:, 1, :, :3]  # current bar: all, low, high
    rows = []

    def sweep_of(name, measure):
        out = []
        for v in sweep:
            out.append(measure(decode_all(net, x, DrumControls(**{name: float(v)}))))
        return np.array(out)  # (11, bars, ...)

    notes = sweep_of("density", lambda bars: np.array([len(b) for b in bars], float))
    rows.append(("density", "notes per bar", *spearman_stats(sweep, notes)))
    cplx = sweep_of("complexity", lambda bars: np.stack([pattern_entropy(hits_array(bars)),
                                                         [len(b) for b in bars]], -1))
    rows.append(("complexity", "pattern entropy, bits", *spearman_stats(sweep, cplx[..., 0])))
    rows.append(("complexity", "notes per bar (side effect)", *spearman_stats(sweep, cplx[..., 1])))

    def follow_measure(bars):
        h = hits_array(bars).astype(float)
        return np.stack([rowcorr(h[..., _KICK], onset[..., 1]), rowcorr(h[..., _SNARE], onset[..., 0]),
                         rowcorr(h[..., _SNARE], onset[..., 2]), rowcorr(h[..., _HAT], onset[..., 2])], -1)

    fol = sweep_of("follow", follow_measure)
    rows.append(("follow", "corr(kick, low-band onsets)", *spearman_stats(sweep, fol[..., 0])))
    rows.append(("follow", "corr(snare, onsets)", *spearman_stats(sweep, fol[..., 1])))
    rows.append(("follow", "corr(snare, high-band onsets)", *spearman_stats(sweep, fol[..., 2])))
    rows.append(("follow", "corr(closed hat, high-band onsets)", *spearman_stats(sweep, fol[..., 3])))

    base = decode_all(net, x, DrumControls())
    base_vel = [{(h.step, h.note): h.velocity for h in b} for b in base]

    def humanize_measure(bars):
        t = [np.mean([abs(h.offset) * STEP_MS_120 for h in b]) if b else np.nan for b in bars]
        dv = [np.mean([abs(h.velocity - bv[(h.step, h.note)]) for h in b]) if b else np.nan
              for b, bv in zip(bars, base_vel, strict=True)]
        return np.stack([t, dv], -1)

    hum = sweep_of("humanize", humanize_measure)
    has = np.array([len(b) > 0 for b in base])
    rows.append(("humanize", "mean abs timing offset, ms at 120 BPM", *spearman_stats(sweep, hum[..., 0], has)))
    rows.append(("humanize", "mean abs velocity change (of 127)", *spearman_stats(sweep, hum[..., 1], has)))

    seeds = 4
    var = []
    for v in sweep:
        c = DrumControls(variation=float(v))
        pats = np.stack([hits_array(decode_all(net, x, c, seed=s)) for s in range(seeds)])  # (seeds, bars, 16, 9)
        diff = [(pats[i] != pats[j]).sum((1, 2)) for i in range(seeds) for j in range(i + 1, seeds)]
        var.append(np.stack([np.mean(diff, 0), pats.sum((2, 3)).mean(0)], -1))
    var = np.array(var)
    rows.append(("variation", "cells differing between seeds", *spearman_stats(sweep, var[..., 0])))
    rows.append(("variation", "notes per bar (side effect)", *spearman_stats(sweep, var[..., 1])))
    return rows


_RSS_CODE = """
import sys
sys.path.insert(0, {backend!r})
def rss():
    s = dict(line.split(':', 1) for line in open('/proc/self/status'))
    return int(s['VmRSS'].split()[0]) / 1024, int(s['VmHWM'].split()[0]) / 1024
import numpy, onnxruntime
a = rss()
from bandmate.generators.drumnet import DrumNet, DrumControls
from bandmate.features import bar_features
b = rss()
import numpy as np
net = DrumNet({model!r})
x = (np.random.default_rng(0).normal(0, 0.1, 16000 * 10)).astype(np.float32)
for i in range(20):
    net.generate_bars(bar_features(x, 16000, 120.0, 0.5, 4), DrumControls(complexity=0.8, humanize=0.5), seed=i)
c = rss()
print(*a, *b, *c)
"""


def memory(model: Path) -> list[float]:
    code = _RSS_CODE.format(backend=str(ROOT / "python_backend"), model=str(model))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return [float(v) for v in out.split()]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=ROOT / "data_cache")
    ap.add_argument("--model", type=Path, default=ROOT / "onnx_models" / "drumnet.onnx")
    ap.add_argument("--split", default="test")
    args = ap.parse_args()
    net = DrumNet(args.model)
    tr = load_split(args.data, "train")
    te = load_split(args.data, args.split, REAL)
    true = te["hits"].astype(bool)
    x_tr, x_te = with_prev(tr["features"], tr["song"]), with_prev(te["features"], te["song"])
    print(f"{args.split}: {len(te['songs'])} real songs, {len(true)} bars; train: {len(x_tr)} bars")

    mma = np.array([tr["songs"][s]["source"] == "mma" for s in tr["song"]])
    pats, counts = np.unique(tr["hits"][mma].reshape(mma.sum(), -1), axis=0, return_counts=True)
    common = np.broadcast_to(pats[np.argmax(counts)].reshape(STEPS, N_VOICES).astype(bool), true.shape)

    a, b = x_tr.reshape(len(x_tr), -1), x_te.reshape(len(x_te), -1)
    d = (b**2).sum(1)[:, None] - 2 * b @ a.T + (a**2).sum(1)[None, :]
    nn_pred = tr["hits"][np.argmin(d, 1)].astype(bool)

    dens_tr = tr["hits"].reshape(len(x_tr), -1).sum(1)
    ctrl = DrumControls()
    net_pred = hits_array(decode_all(net, x_te, ctrl))
    oracle_rows = np.stack([percentile(true.reshape(len(true), -1).sum(1), dens_tr), np.full(len(true), 0.5),
                            np.zeros(len(true))], 1)
    oracle = hits_array(decode_all(net, x_te, ctrl, oracle_rows))

    print("\n| method | kick F1 | snare F1 | mean |\n|---|---|---|---|")
    for name, pred in [("(a) most common MMA 4/4 pattern", common), ("(b) nearest-neighbour retrieval", nn_pred),
                       ("**DrumNet, default controls**", net_pred),
                       ("DrumNet, each bar's true density percentile (oracle, reference only)", oracle)]:
        k, s = f1(pred[..., 0], true[..., 0]), f1(pred[..., 1], true[..., 1])
        print(f"| {name} | {k:.3f} | {s:.3f} | {(k + s) / 2:.3f} |")

    print(f"\nControls (first 200 {args.split} bars, 11-point sweep 0..1, other controls at defaults):\n")
    print("| control | measured per bar | Spearman per bar (mean) | Spearman of the bar-mean curve | at 0 → at 1 |")
    print("|---|---|---|---|---|")
    for name, what, r, rm, curve in control_table(net, x_te[:200]):
        rho = "– (constant)" if np.ptp(curve) == 0 else f"{r:.3f} | {rm:.3f}"
        print(f"| {name} | {what} | {rho if '|' in rho else rho + ' | ' + rho} | {curve[0]:.2f} → {curve[-1]:.2f} |")

    # latency on one thread: features from audio + model + decoding
    rng = np.random.default_rng(0)
    bpm = 120.0
    audio = (rng.normal(0, 0.05, int(SR * 12)) * np.sin(np.arange(int(SR * 12)) / SR * 2 * np.pi * 2) ** 8)
    audio = audio.astype(np.float32)
    moved = DrumControls(density=0.7, complexity=0.9, variation=0.3, follow=0.5, humanize=0.5)
    lat = {}

    def timed(out, fn, *args, **kw):  # (wall, process CPU) s; CPU time is robust to other load on the box
        t, cpu = time.perf_counter(), time.process_time()
        fn(*args, **kw)
        out.append((time.perf_counter() - t, time.process_time() - cpu))

    def one_bar(prev, start, n, c, seed):
        f = bar_features(audio, SR, bpm, start, n)
        return net.generate(prev if n == 1 else f[0], f[-1], c, seed)

    def four_bars(c, seed):
        return net.generate_bars(bar_features(audio, SR, bpm, 0.5, 4), c, seed)

    for label, c in [("default controls", ctrl), ("all controls moved", moved)]:
        t_s, t_bar, t_4 = [], [], []
        prev = bar_features(audio, SR, bpm, 0.5, 1)[0]
        for i in range(60):
            timed(t_s, one_bar, prev, 2.5 + (i % 2) * 2.0, 1, c, i)  # streaming: previous bar's features cached
            timed(t_bar, one_bar, None, 0.5 + (i % 2) * 2.0, 2, c, i)
            timed(t_4, four_bars, c, i)
        lat[label] = [1e3 * np.median(np.array(t), 0) for t in (t_s, t_bar, t_4)]
    print("\nLatency, one thread, median of 60, wall / process CPU (features from audio + model + decoding):\n")
    print("| controls | 1 bar, streaming (previous bar's features cached) | 1 bar, cold (2 bars of features) "
          "| 4 bars |\n|---|---|---|---|")
    for label, times in lat.items():
        print(f"| {label} | " + " | ".join(f"{w:.2f} / {cpu:.2f} ms" for w, cpu in times) + " |")

    m = memory(args.model)
    size = args.model.stat().st_size / 1e6
    print(f"\nMemory (RSS / peak RSS of a fresh Python process, MB; model file {size:.2f} MB):"
          "\n\n| stage | RSS | peak |\n|---|---|---|")
    for i, stage in enumerate(["python + numpy + onnxruntime imported (baseline)",
                               "+ bandmate.generators.drumnet and bandmate.features imported (scipy)",
                               "+ DrumNet loaded, 20 × 4 bars generated from audio"]):
        print(f"| {stage} | {m[2 * i]:.1f} | {m[2 * i + 1]:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
