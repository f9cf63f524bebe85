"""Evaluate DrumNet on held-out real songs against two baselines; print a table.

    PYTHONPATH=python_backend python bench/drumnet_eval.py [--data data_cache] [--model onnx_models/drumnet.onnx]

Rows: 16th-step onset F1 for kick and snare (pooled over the split's real-song bars) for
(a) the most common MMA 4/4 pattern, (b) nearest-neighbour retrieval of a training bar by
features (previous + current bar, L2), DrumNet at default controls and, for reference,
DrumNet given each bar's true density/complexity percentiles (an oracle, not a result).
Then control monotonicity (Spearman, per bar over an 11-point sweep, averaged) and latency.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python_backend"))

from bandmate.data.build import load_split  # noqa: E402
from bandmate.data.drums import N_VOICES, STEPS, VOICE_NOTES, pattern_entropy  # noqa: E402
from bandmate.features import SR, bar_features  # noqa: E402
from bandmate.generators.drumnet import DrumControls, DrumNet  # noqa: E402

REAL = ("openmsx", "freedoom")


def with_prev(feats, song):
    prev = np.concatenate([np.zeros_like(feats[:1]), feats[:-1]])
    prev[np.r_[True, song[1:] != song[:-1]]] = 0.0
    return np.stack([prev, feats], 1)


def f1(pred, true):
    tp = float((pred & true).sum())
    den = float(pred.sum() + true.sum())
    return 2 * tp / den if den else 1.0


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


def decode_batch(net, x, ctrl_rows, controls):
    p, v, o = net.predict(x, ctrl_rows)
    rng = np.random.default_rng(0)
    return hits_array([net.decode(p[i], v[i], o[i], controls, rng) for i in range(len(x))])


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
    ent_tr = pattern_entropy(tr["hits"])
    ctrl = DrumControls()
    neutral = np.tile([[ctrl.density, ctrl.complexity, ctrl.follow]], (len(x_te), 1))
    net_pred = decode_batch(net, x_te, neutral, ctrl)
    oracle_rows = np.stack([percentile(true.reshape(len(true), -1).sum(1), dens_tr),
                            percentile(pattern_entropy(true), ent_tr), np.zeros(len(true))], 1)
    oracle = decode_batch(net, x_te, oracle_rows, ctrl)

    print(f"\n{'method':42s} {'kick F1':>8s} {'snare F1':>8s} {'mean':>6s}")
    for name, pred in [("(a) most common MMA 4/4 pattern", common), ("(b) nearest-neighbour retrieval", nn_pred),
                       ("DrumNet (default controls)", net_pred), ("DrumNet, oracle density/complexity [ref]", oracle)]:
        k, s = f1(pred[..., 0], true[..., 0]), f1(pred[..., 1], true[..., 1])
        print(f"{name:42s} {k:8.3f} {s:8.3f} {(k + s) / 2:6.3f}")

    # control monotonicity on the first 200 held-out bars
    sweep = np.linspace(0, 1, 11)
    sub = x_te[:200]
    res = {}
    for ci, name in [(0, "density"), (1, "complexity")]:
        vals = []
        for v in sweep:
            rows = np.tile([[0.5, 0.5, 0.0]], (len(sub), 1))
            rows[:, ci] = v
            h = decode_batch(net, sub, rows, ctrl)
            vals.append(h.reshape(len(sub), -1).sum(1) if ci == 0 else pattern_entropy(h))
        vals = np.array(vals)  # (11, bars)
        rhos = [spearmanr(sweep, vals[:, i]).statistic for i in range(vals.shape[1])]
        res[name] = (np.nanmean(np.nan_to_num(rhos, nan=0.0)), spearmanr(sweep, vals.mean(1)).statistic,
                     vals.mean(1)[0], vals.mean(1)[-1])
    print(f"\n{'control':12s} {'target':14s} {'Spearman/bar':>12s} {'Spearman(mean)':>14s} {'at 0':>6s} {'at 1':>6s}")
    for name, tgt in [("density", "notes/bar"), ("complexity", "entropy")]:
        r, rm, lo, hi = res[name]
        print(f"{name:12s} {tgt:14s} {r:12.3f} {rm:14.3f} {lo:6.2f} {hi:6.2f}")

    # latency on one core: features + model + decoding, from audio
    rng = np.random.default_rng(0)
    bpm = 120.0
    audio = (rng.normal(0, 0.05, int(SR * 12)) * np.sin(np.arange(int(SR * 12)) / SR * 2 * np.pi * 2) ** 8)
    audio = audio.astype(np.float32)
    t_bar, t_4 = [], []
    for i in range(60):
        t = time.perf_counter()
        f = bar_features(audio, SR, bpm, 0.5 + (i % 2) * 2.0, 2)
        net.generate(f[0], f[1], ctrl, seed=i)
        t_bar.append(time.perf_counter() - t)
        t = time.perf_counter()
        f = bar_features(audio, SR, bpm, 0.5, 4)
        net.generate_bars(f, ctrl, seed=i)
        t_4.append(time.perf_counter() - t)
    print(f"\nlatency (one thread, median of 60): 1 bar {1e3 * np.median(t_bar):.2f} ms, "
          f"4 bars {1e3 * np.median(t_4):.2f} ms; model {args.model.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
