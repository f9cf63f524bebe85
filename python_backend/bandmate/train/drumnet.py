"""Train DrumNet (torch, CPU, one thread) and export it to ONNX.

    python -m bandmate.train drumnet [--data data_cache] [--out onnx_models/drumnet.onnx] [--epochs 40]

Model: an MLP over the previous + current bar's step features (2 x 16 x F) and the
controls density, complexity (percentiles of notes/bar, and of the pattern entropy
among bars of similar density, of the *target* bar during training, so they steer at
inference) and follow (an in-graph mix of the input onset accents into the hit logits and
velocities; not trained). Outputs per
step and voice: hit probability, velocity (0..1), micro-timing offset (-0.5..0.5 steps).

The runtime (bandmate.generators.drumnet) holds the complexity input at 0.5 and applies the
Complexity control at decoding instead (monotone in pattern entropy per bar, which the trained
input was not: per-bar Spearman 0.78, and it raised notes/bar); the input stays in the graph.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from bandmate.data.build import load_split
from bandmate.data.drums import N_VOICES, STEPS, pattern_entropy
from bandmate.features import N_FEATURES
from bandmate.generators.common import f1, with_prev

# which input onset channel each voice follows (0 all, 1 low, 2 high) and how strongly
FOLLOW_CHANNEL = (1, 0, 2, 2, 1, 1, 0, 0, 2)
FOLLOW_GAIN = 6.0
MONO_GAIN = (3.0, 6.0)  # density, complexity


class DrumNetModel(nn.Module):
    def __init__(self, hidden: int = 256, n_features: int = N_FEATURES):
        super().__init__()
        d_in = 2 * STEPS * n_features
        self.inp = nn.Sequential(nn.Dropout(0.2), nn.Linear(d_in + 2, hidden), nn.GELU(), nn.Dropout(0.3))
        self.mid = nn.Sequential(nn.Linear(hidden + 2, hidden), nn.GELU(), nn.Dropout(0.3))
        self.out = nn.Linear(hidden + 2, STEPS * N_VOICES * 3)
        # guaranteed-monotone density/complexity paths into the hit logits (per step and voice, >= 0)
        self.mono = nn.Parameter(torch.zeros(2, STEPS * N_VOICES))
        self.register_buffer("mono_gain", torch.tensor(MONO_GAIN)[:, None])
        self.register_buffer("follow_idx", torch.tensor(FOLLOW_CHANNEL))
        self.register_buffer("bias_shift", torch.zeros(N_VOICES))

    def forward(self, features: torch.Tensor, controls: torch.Tensor):
        """features (B, 2, 16, F) prev+cur bar; controls (B, 3) density, complexity, follow in [0, 1].

        Returns prob, velocity, offset, each (B, 16, 9)."""
        logit, vel, offset = self.logits(features, controls)
        return torch.sigmoid(logit), vel, offset

    def logits(self, features: torch.Tensor, controls: torch.Tensor):
        b = features.shape[0]
        c = controls[:, :2]
        h = self.inp(torch.cat([features.reshape(b, -1), c], 1))
        h = self.mid(torch.cat([h, c], 1)) + h
        y = self.out(torch.cat([h, c], 1)).reshape(b, STEPS, N_VOICES, 3)
        mono = nn.functional.softplus(self.mono) * self.mono_gain  # (2, 16 * 9)
        logit = y[..., 0] + ((c - 0.5) @ mono).reshape(b, STEPS, N_VOICES) + self.bias_shift
        vel = torch.sigmoid(y[..., 1])
        offset = 0.5 * torch.tanh(y[..., 2])
        # follow: mix the current bar's onset accents (centred on the bar mean) into logits/velocities
        follow = controls[:, 2:3, None]  # (B,1,1)
        onsets = features[:, 1, :, :3]  # (B, 16, 3)
        acc = onsets[:, :, self.follow_idx]  # (B, 16, 9)
        acc_c = acc - acc.mean(dim=1, keepdim=True)
        logit = logit + follow * FOLLOW_GAIN * acc_c
        vel = vel * (1 - 0.5 * follow) + 0.5 * follow * (0.4 + 0.6 * acc)
        return logit, vel, offset


def _percentile(values: np.ndarray, ref: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
    """Empirical CDF of ``values`` in ``ref``; ties spread uniformly (rng) or at mid-rank."""
    ref = np.sort(ref)
    lo = np.searchsorted(ref, values, side="left") / len(ref)
    hi = np.searchsorted(ref, values, side="right") / len(ref)
    u = rng.random(len(values)) if rng is not None else 0.5
    return (lo + (hi - lo) * u).astype(np.float32)


def bar_stats(hits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return hits.reshape(len(hits), -1).sum(1).astype(np.float64), pattern_entropy(hits)


def control_targets(dens: np.ndarray, ent: np.ndarray, dens_ref: np.ndarray, ent_ref: np.ndarray,
                    rng: np.random.Generator | None) -> np.ndarray:
    """(n, 3) training controls: density = percentile of notes/bar; complexity = percentile of the
    pattern entropy among reference bars of similar density (so it steers structure, not count)."""
    cplx = np.zeros(len(dens), np.float32)
    for c in np.unique(dens):
        near = np.abs(dens_ref - c) <= max(1.0, 0.15 * c)
        sel = dens == c
        cplx[sel] = _percentile(ent[sel], ent_ref[near] if near.sum() >= 20 else ent_ref, rng)
    return np.stack([_percentile(dens, dens_ref, rng), cplx, np.zeros(len(dens), np.float32)], 1)


def train(data: Path, out: Path, epochs: int = 40, seed: int = 0, real_weight: float = 0.5) -> dict:
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    t0 = time.time()
    tr, va = load_split(data, "train"), load_split(data, "val")
    x_tr, x_va = with_prev(tr["features"], tr["song"]), with_prev(va["features"], va["song"])
    dens_tr, ent_tr = bar_stats(tr["hits"])
    dens_va, ent_va = bar_stats(va["hits"])
    real_tr = np.array([tr["songs"][s]["source"] != "mma" for s in tr["song"]])
    real_va = np.array([va["songs"][s]["source"] != "mma" for s in va["song"]])
    print(f"train bars {len(x_tr)} ({real_tr.sum()} real), val bars {len(x_va)} ({real_va.sum()} real)")
    # sample real-song bars with total probability `real_weight`
    w = np.where(real_tr, real_weight / max(real_tr.sum(), 1), (1 - real_weight) / max((~real_tr).sum(), 1))
    w /= w.sum()
    model = DrumNetModel()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-2)
    steps_per_epoch, bs = max(1, len(x_tr) // 128), 128
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=epochs * steps_per_epoch)
    neutral_va = np.tile(np.array([[0.5, 0.5, 0.0]], np.float32), (len(x_va), 1))
    best, best_state, history = -1.0, None, []
    for ep in range(epochs):
        model.train()
        tot = 0.0
        for _ in range(steps_per_epoch):
            idx = rng.choice(len(x_tr), bs, p=w)
            x = x_tr[idx].copy()
            x[..., 6:18] = np.roll(x[..., 6:18], int(rng.integers(12)), axis=-1)  # transpose chroma
            x += rng.normal(0, 0.03, x.shape).astype(np.float32)
            ctrl = control_targets(dens_tr[idx], ent_tr[idx], dens_tr, ent_tr, rng)
            hits = torch.from_numpy(tr["hits"][idx].astype(np.float32))
            logit, vel, off = model.logits(torch.from_numpy(x), torch.from_numpy(ctrl))
            loss = nn.functional.binary_cross_entropy_with_logits(logit, hits)
            mask = hits.sum().clamp(min=1)
            loss = loss + ((vel - torch.from_numpy(tr["velocity"][idx])) ** 2 * hits).sum() / mask
            loss = loss + 4 * ((off - torch.from_numpy(tr["offset"][idx])) ** 2 * hits).sum() / mask
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item()
        # validation: kick/snare F1 on real val songs at neutral controls, best threshold per voice
        model.eval()
        with torch.no_grad():
            p = model(torch.from_numpy(x_va[real_va]), torch.from_numpy(neutral_va[real_va]))[0].numpy()
        tru = va["hits"][real_va].astype(bool)
        score = np.mean([max(f1(p[..., v] > t, tru[..., v]) for t in np.linspace(0.05, 0.95, 19)) for v in (0, 1)])
        history.append({"epoch": ep, "loss": tot / steps_per_epoch, "val_ks_f1": score})
        print(f"epoch {ep:3d} loss {tot / steps_per_epoch:.4f} val kick/snare F1 {score:.3f} {time.time() - t0:.0f}s")
        if score > best:
            best, best_state = score, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    model.eval()
    calibrate(model, x_va[real_va], va["hits"][real_va])
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out.with_suffix(".pt"))
    export_onnx(model, out)
    write_golden(model, out.with_suffix(".golden.npz"))
    info = {"best_val_ks_f1": best, "epochs": epochs, "train_bars": len(x_tr), "val_bars": len(x_va),
            "train_seconds": round(time.time() - t0, 1), "density_ref": np.percentile(dens_tr, [10, 50, 90]).tolist(),
            "entropy_ref": np.percentile(ent_tr, [10, 50, 90]).tolist(), "history": history}
    out.with_suffix(".train.json").write_text(json.dumps(info, indent=1))
    return info


def calibrate(model: DrumNetModel, x: np.ndarray, hits: np.ndarray) -> None:
    """Per-voice logit shift so that p > 0.5 maximises F1 on the (real-song) validation bars
    at neutral controls (density = complexity = 0.5, follow = 0): the default used at inference."""
    ctrl = np.tile(np.array([[0.5, 0.5, 0.0]], np.float32), (len(x), 1))
    with torch.no_grad():
        logit = model.logits(torch.from_numpy(x), torch.from_numpy(ctrl))[0].numpy()
    shift = np.zeros(N_VOICES, np.float32)
    for v in range(N_VOICES):
        true = hits[..., v].astype(bool)
        if true.sum() < 10:
            continue
        cands = np.linspace(-3, 3, 61)
        scores = [f1(logit[..., v] + s > 0, true) for s in cands]
        shift[v] = cands[int(np.argmax(scores))]
    print("calibration logit shifts:", np.round(shift, 2))
    model.bias_shift += torch.from_numpy(shift)


def export_onnx(model: DrumNetModel, path: Path) -> None:
    model.eval()
    feats = torch.zeros(1, 2, STEPS, N_FEATURES)
    ctrl = torch.full((1, 3), 0.5)
    torch.onnx.export(model, (feats, ctrl), str(path), input_names=["features", "controls"],
                      output_names=["prob", "velocity", "offset"], opset_version=17, dynamo=False,
                      dynamic_axes={"features": {0: "batch"}, "controls": {0: "batch"}, "prob": {0: "batch"},
                                    "velocity": {0: "batch"}, "offset": {0: "batch"}})


def write_golden(model: DrumNetModel, path: Path) -> None:
    """Torch outputs on fixed random inputs, shipped next to the ONNX file: CI (no torch)
    checks onnxruntime against them (tests/test_drumnet.py::test_onnx_matches_torch)."""
    rng = np.random.default_rng(0)
    x = rng.random((4, 2, STEPS, N_FEATURES), dtype=np.float32)
    c = rng.random((4, 3), dtype=np.float32)
    with torch.no_grad():
        prob, vel, off = (t.numpy() for t in model(torch.from_numpy(x), torch.from_numpy(c)))
    np.savez_compressed(path, features=x, controls=c, prob=prob, velocity=vel, offset=off)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bandmate.train drumnet")
    ap.add_argument("--data", type=Path, default=Path("data_cache"))
    ap.add_argument("--out", type=Path, default=Path("onnx_models/drumnet.onnx"))
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    info = train(args.data, args.out, args.epochs, args.seed)
    print(f"best val kick/snare F1 {info['best_val_ks_f1']:.3f}; wrote {args.out}")
    return 0
