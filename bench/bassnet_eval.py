"""Evaluate BassNet on held-out songs against two baselines; print a table.

    PYTHONPATH=python_backend python bench/bassnet_eval.py [--data data_cache] [--model onnx_models/bassnet.onnx]

Sets: the test split's real songs (OpenMSX + Freedoom) and its MMA songs (held-out style
files playing the 8 chord progressions), bars where the real bass plays.
Rows: (a) the chord root on every downbeat (a whole-bar note; root from the bar's audio
chroma), (b) nearest-neighbour retrieval of an MMA training bar by features (previous +
current bar, L2): its bass rhythm, lengths and intervals above its chord root, moved onto the
root estimated from the query bar's audio; (c) the chord root on every kick of the song's real
drum part (needs the drums); BassNet at default controls without and with the song's real drums
(``+ drums``: kick / snare / hat onsets per step, as a linked DrumNet gives them); BassNet given
each bar's true control percentiles (an oracle, not a result); the real bass part (reference).
Columns: 16th-step onset F1 against the real bass (pooled over bars) and its ratio to (b),
measured in the same run, chord-tone share by
duration (pitch class in the bar/half-bar chord: MMA's chord symbols, or for real songs the
chord estimated from the other parts' notes), pitch-class accuracy on onsets that match a
real onset. Then control monotonicity (Spearman per bar over an 11-point sweep, other
controls neutral) and latency on one thread.
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

import bandmate.data.bass as B  # noqa: E402
from bandmate.data.drums import STEPS  # noqa: E402
from bandmate.features import SR, bar_features  # noqa: E402
from bandmate.generators.bassnet import BassControls, BassNet  # noqa: E402
from bandmate.generators.common import f1, with_prev  # noqa: E402

REAL, MMA = ("openmsx", "freedoom"), ("mma",)
CONTROLS = B.CONTROL_NAMES


def prepare(d):
    x = with_prev(d["features"], d["song"])
    has = np.array([d["drums"][d["song"] == s].any() for s in range(len(d["songs"]))], bool)[d["song"]]
    d = {**d, "drum": B.drum_channels(d["drums"]), "has_drums": has}
    _, gate = B.gate_targets(d["onset"], d["length"], d["song"])
    keep = d["onset"].sum(1) > 0
    out = {k: v[keep] for k, v in d.items() if isinstance(v, np.ndarray) and len(v) == len(keep)}
    out["x"], out["gate"] = x[keep], gate[keep]
    out["pos"] = np.eye(4, dtype=np.float32)[out["bar"] % 4]
    out["songs"] = d["songs"]
    return out


def grid(bars_of_notes, n):
    """Notes per bar -> onset (n,16) bool, pitch (n,16), length (n,16)."""
    on, pitch, length = np.zeros((n, STEPS), bool), np.zeros((n, STEPS), int), np.zeros((n, STEPS))
    for b, notes in enumerate(bars_of_notes):
        for note in notes:
            on[b, note.step], pitch[b, note.step], length[b, note.step] = True, note.pitch, note.length
    return on, pitch, length


def scores(on, pitch, length, d):
    true = d["onset"].astype(bool)
    lab = on & (d["chord_root"] >= 0)
    share = (B.in_chord(pitch[lab], d["chord_mask"][lab]) * length[lab]).sum() / max(length[lab].sum(), 1e-9)
    both = on & true
    acc = float((pitch[both] % 12 == d["pitch"][both] % 12).mean()) if both.any() else float("nan")
    return f1(on, true), float(share), acc, on.sum(1).mean()


def audio_roots(d):
    return np.array([B.chord_from_chroma(f[:, 6:18])[0] for f in d["features"]])


def place(pc, centre=40):
    """Pitch class -> the pitch in range nearest ``centre``."""
    cand = np.arange(B.PITCH_LO, B.PITCH_LO + B.N_PITCH)
    return cand[np.argmin(np.abs(cand - centre) + 100 * (cand % 12 != pc % 12))]


def baseline_root(d):
    n = len(d["x"])
    roots = audio_roots(d)
    on = np.zeros((n, STEPS), bool)
    on[:, 0] = True
    pitch = np.zeros((n, STEPS), int)
    pitch[:, 0] = [place(r) for r in np.maximum(roots, 0)]
    length = np.zeros((n, STEPS))
    length[:, 0] = 16.0
    return on, pitch, length


def baseline_nn(d, tr):
    mma = np.array([tr["songs"][s]["source"] == "mma" for s in tr["song"]]) & (tr["chord_root"][:, 0] >= 0)
    a = tr["x"][mma].reshape(mma.sum(), -1)
    b = d["x"].reshape(len(d["x"]), -1)
    dist = (b**2).sum(1)[:, None] - 2 * b @ a.T + (a**2).sum(1)[None, :]
    j = np.nonzero(mma)[0][np.argmin(dist, 1)]
    on = tr["onset"][j].astype(bool)
    interval = (tr["pitch"][j].astype(int) - tr["chord_root"][j].astype(int)) % 12
    roots = np.maximum(audio_roots(d), 0)
    octave = (tr["pitch"][j].astype(int) - B.PITCH_LO) // 12
    pitch = np.where(on, B.fold_pitch(B.PITCH_LO + 12 * octave + (roots[:, None] + interval - B.PITCH_LO) % 12), 0)
    return on, pitch, tr["length"][j] * on


def baseline_kick(d):
    """The bar's audio chord root on every step with a kick of the real drum part (whole gap)."""
    on = d["drum"][..., 0] > 0
    roots = np.maximum(audio_roots(d), 0)
    pitch = np.where(on, np.array([place(r) for r in roots])[:, None], 0)
    length = np.zeros(on.shape)
    for b, s in zip(*np.nonzero(on), strict=True):
        nxt = np.nonzero(on[b, s + 1:])[0]
        length[b, s] = nxt[0] + 1 if len(nxt) else STEPS - s
    return on, pitch, length


def drums_of(d):
    """Per bar: the real drum part's (16, 3) onsets, None for songs without drums."""
    return [g if h else None for g, h in zip(d["drum"], d["has_drums"], strict=True)]


def run_net(net, d, rows, controls, seed=0, drums=None):
    out = net.predict(d["x"], rows, d["pos"], drums)
    return grid(net.decode(out, controls, np.random.default_rng(seed)), len(d["x"]))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=ROOT / "data_cache")
    ap.add_argument("--model", type=Path, default=ROOT / "onnx_models" / "bassnet.onnx")
    ap.add_argument("--split", default="test")
    args = ap.parse_args()
    net = BassNet(args.model)
    tr = prepare(B.load_bass_split(args.data, "train"))
    ref = B.control_stats(tr["onset"], tr["pitch"], tr["gate"], tr["velocity"])
    ref_w = B.reference_weights([tr["songs"][s]["source"] != "mma" for s in tr["song"]])
    ctrl = BassControls()
    neutral = np.tile(ctrl.model_inputs(), (1, 1))
    sets = {}
    for name, srcs in (("real songs", REAL), ("MMA", MMA)):
        d = prepare(B.load_bass_split(args.data, args.split, srcs))
        sets[name] = d
        on = d["onset"].astype(bool)
        truth = B.control_stats(on, d["pitch"], d["gate"], d["velocity"])
        oracle = np.stack([B.weighted_percentile(truth[c], ref[c], ref_w) for c in CONTROLS], 1)
        dr = drums_of(d)
        n_dr = sum(g is not None for g in dr)
        print(f"\n{args.split} {name}: {len(d['songs'])} songs, {len(on)} bars with bass ({n_dr} with drums); "
              f"train {len(tr['x'])} bars")
        print(f"{'method':44s} {'onset F1':>8s} {'F1/(b)':>7s} {'chord-tone':>10s} {'pc acc':>7s} {'notes/bar':>9s}")
        neutral_rows = np.repeat(neutral, len(on), 0)
        sparse = np.repeat(BassControls(density=0.3).model_inputs()[None], len(on), 0)
        rows = [("(a) root on every downbeat", baseline_root(d)),
                ("(b) nearest-neighbour MMA bass bar", baseline_nn(d, tr)),
                ("(c) root on every kick of the real drums", baseline_kick(d)),
                ("BassNet (default controls)", run_net(net, d, neutral_rows, ctrl)),
                ("BassNet + drums (default controls)", run_net(net, d, neutral_rows, ctrl, drums=dr)),
                ("BassNet, variation 0.5", run_net(net, d, np.repeat(neutral, len(on), 0),
                                                   BassControls(variation=0.5))),
                ("BassNet, density 0.3", run_net(net, d, sparse, ctrl)),
                ("BassNet + drums, density 0.3", run_net(net, d, sparse, ctrl, drums=dr)),
                ("BassNet, oracle control percentiles [ref]", run_net(net, d, oracle, ctrl)),
                ("BassNet + drums, oracle percentiles [ref]", run_net(net, d, oracle, ctrl, drums=dr)),
                ("real bass part [ref]", (on, d["pitch"].astype(int), d["length"] * on))]
        res = [(label, scores(*r, d)) for label, r in rows]
        base_f1 = res[1][1][0]  # (b)
        for label, (f, share, acc, npb) in res:
            print(f"{label:44s} {f:8.3f} {f / base_f1:7.2f} {share:10.3f} {acc:7.3f} {npb:9.2f}")

    # control monotonicity on the first 200 held-out real-song bars
    d = sets["real songs"]
    sub = {k: v[:200] for k, v in d.items() if isinstance(v, np.ndarray)}
    sweep = np.linspace(0, 1, 11)
    print(f"\n{'control':10s} {'target':16s} {'Spearman/bar':>12s} {'Spearman(mean)':>14s} {'at 0':>7s} {'at 1':>7s}")
    for ci, (name, tgt) in enumerate(zip(CONTROLS, ("notes/bar", "mean pitch", "mean length", "mean velocity"),
                                         strict=True)):
        vals = []
        for v in sweep:
            c = BassControls(**{name: float(v)})
            out = net.predict(sub["x"], c, sub["pos"])
            bars = net.decode(out, c, np.random.default_rng(0))
            o, p, length = grid(bars, len(sub["x"]))
            vel = np.zeros_like(length)
            for b, notes in enumerate(bars):
                for nt in notes:
                    vel[b, nt.step] = nt.velocity
            kk = np.maximum(o.sum(1), 1)
            vals.append([o.sum(1), (p * o).sum(1) / kk, (length * o).sum(1) / kk, (vel * o).sum(1) / kk][ci])
        vals = np.array(vals, np.float64)
        rhos = [spearmanr(sweep, vals[:, i]).statistic for i in range(vals.shape[1])]
        r = np.nanmean(np.nan_to_num(rhos, nan=0.0))
        rm = spearmanr(sweep, vals.mean(1)).statistic
        print(f"{name:10s} {tgt:16s} {r:12.3f} {rm:14.3f} {vals.mean(1)[0]:7.2f} {vals.mean(1)[-1]:7.2f}")

    # latency on one core: features + model + decoding, from audio
    rng = np.random.default_rng(0)
    bpm = 120.0
    audio = (rng.normal(0, 0.05, int(SR * 12)) * np.sin(np.arange(int(SR * 12)) / SR * 2 * np.pi * 2) ** 8)
    audio = audio.astype(np.float32)
    t_bar, t_4, t_dr = [], [], []
    kick = np.zeros((STEPS, len(B.DRUM_CHANNELS)), np.float32)
    kick[::4, 0] = 1.0
    for i in range(60):
        t = time.perf_counter()
        f = bar_features(audio, SR, bpm, 0.5 + (i % 2) * 2.0, 2)
        net.generate(f[0], f[1], ctrl, seed=i, bar=i)
        t_bar.append(time.perf_counter() - t)
        t = time.perf_counter()
        f = bar_features(audio, SR, bpm, 0.5 + (i % 2) * 2.0, 2)
        net.generate(f[0], f[1], ctrl, seed=i, bar=i, drums=kick)
        t_dr.append(time.perf_counter() - t)
        t = time.perf_counter()
        f = bar_features(audio, SR, bpm, 0.5, 4)
        net.generate_bars(f, ctrl, seed=i)
        t_4.append(time.perf_counter() - t)
    print(f"\nlatency (one thread, median of 60): 1 bar {1e3 * np.median(t_bar):.2f} ms "
          f"(with drums {1e3 * np.median(t_dr):.2f} ms), "
          f"4 bars {1e3 * np.median(t_4):.2f} ms; model {args.model.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
