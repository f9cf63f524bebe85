"""Train ResonanceEQ's learned cut detector (torch, CPU) and export it to ONNX.

    python -m bandmate.data resonance --out DIR [--clips 240] [--no-solo]   # ~15 s per clip and process
    python -m bandmate.train resonance --data DIR [DIR ...] [--out onnx_models/resonance_detector.onnx]
    (the shipped model's exact commands: onnx_models/resonance_detector.md)

Task: from the engine's main-path spectra (4096-point Hann windows every 1024 samples at 48 kHz,
channel-mean power on the 96-per-octave grid, log10: what ``ResonanceAnalyzer`` hands its detector) of the
last ``CONTEXT`` updates, predict how many dB a resonance currently boosts each grid point
(0 where there is none). Data: ``bandmate.data.resonance`` (rendered MMA grooves with random
peaking resonances injected; the target is the injected filters' response on the grid).

Model (``ResonanceDetectorNet``): level-invariant input (each update's dB minus a +-1/3-octave
moving average of the newest update), the updates as input channels of a 1-D convolution across
frequency (weights shared over frequency, so any grid length works: 44.1..192 kHz; stride 2, so
the rest runs at 48 points per octave), then residual dilated convolutions (about +-0.7 octave of
context, enough to see a note's neighbouring partials), interpolated back to the grid, a softplus
output in dB. ~6k multiply-adds per grid point: ~0.2 ms per run in onnxruntime (one thread).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bandmate.engines.resonance_detector import DEFAULT_MODEL, INPUT_NAME, OUTPUT_NAME

CONTEXT = 16  # updates of history (341 ms at 1024 samples / 48 kHz)
CHANNELS = 24
STRIDE = 2  # the net's resolution: every STRIDE-th grid point (48 per octave)
DILATIONS = (2, 4, 8, 16, 32)
ENV_HALF = 32  # +-1/3 octave on the 96-per-octave grid
BOOST_WEIGHT = 10.0  # extra loss weight where the target > 1 dB: resonances are sparse


def build_net(context: int = CONTEXT, channels: int = CHANNELS, stride: int = STRIDE):
    import torch.nn.functional as F
    from torch import nn

    class ResonanceDetectorNet(nn.Module):
        """(B, T, G) log10 grid powers of the last T updates (oldest first) -> (B, G) boost (dB) now.
        stride 2: the convolutions after the first run on every second grid point (half the cost),
        the output is interpolated back to the grid."""

        def __init__(self):
            super().__init__()
            self.inp = nn.Conv1d(context, channels, 9, padding=4, stride=stride)
            self.blocks = nn.ModuleList(
                nn.Conv1d(channels, channels, 3, padding=d // stride, dilation=d // stride) for d in DILATIONS)
            self.out = nn.Conv1d(channels, 1, 1)

        def forward(self, x):
            db = 10.0 * x
            ref = F.avg_pool1d(F.pad(db[:, -1:, :], (ENV_HALF, ENV_HALF), mode="replicate"), 2 * ENV_HALF + 1, 1)
            h = F.relu(self.inp((db - ref) * 0.1))
            for conv in self.blocks:
                h = h + F.relu(conv(h))
            y = self.out(h)
            if stride > 1:
                y = F.interpolate(y, scale_factor=float(stride), mode="linear", align_corners=False)[:, :, : x.shape[2]]
            return 4.0 * F.softplus(y[:, 0, :])

    return ResonanceDetectorNet()


def load_clips(dirs: list[Path]) -> tuple[list[np.ndarray], list[np.ndarray], list[int]]:
    """Features, targets and the folder index of every clip."""
    files, folder = [], []
    for k, d in enumerate(dirs):
        found = sorted(d.glob("c*.npz"))
        if not found:
            raise FileNotFoundError(f"no clips in {d} (run: python -m bandmate.data resonance --out {d})")
        files += found
        folder += [k] * len(found)
    xs, ys = [], []
    for f in files:
        z = np.load(f)
        xs.append(z["X"].astype(np.float32))
        ys.append(z["Y"].astype(np.float32))
    return xs, ys, folder


def batches(xs, ys, idx: list[list[int]], rng: np.random.Generator, size: int, context: int):
    """A batch of (context updates, target of the newest); every folder of clips is drawn equally often."""
    xb, yb = [], []
    for _ in range(size):
        group = idx[int(rng.integers(len(idx)))]
        i = group[int(rng.integers(len(group)))]
        k = int(rng.integers(context - 1, xs[i].shape[0]))
        xb.append(xs[i][k - context + 1 : k + 1])
        yb.append(ys[i][k])
    return np.stack(xb), np.stack(yb)


def loss_fn(pred, y):
    return ((pred - y) ** 2 * (1.0 + BOOST_WEIGHT * (y > 1.0))).mean()


def train(data: list[Path], steps: int, seed: int = 0, lr: float = 1e-3, context: int = CONTEXT,
          channels: int = CHANNELS, stride: int = STRIDE, log=print):
    import torch

    torch.manual_seed(seed)
    xs, ys, folder = load_clips(data)
    # every 10th clip of every folder is held out for validation
    val_idx = [[i for i in range(len(xs)) if folder[i] == k and i % 10 == 0] for k in range(len(data))]
    train_idx = [[i for i in range(len(xs)) if folder[i] == k and i % 10] for k in range(len(data))]
    rng = np.random.default_rng(seed)
    vx, vy = (torch.from_numpy(a) for a in batches(xs, ys, val_idx, np.random.default_rng(1), 512, context))
    net = build_net(context, channels, stride)
    opt = torch.optim.AdamW(net.parameters(), lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.05)
    t0, best, best_state = time.time(), float("inf"), None
    for s in range(steps):
        x, y = (torch.from_numpy(a) for a in batches(xs, ys, train_idx, rng, 64, context))
        loss = loss_fn(net(x), y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        if s % 500 == 0 or s == steps - 1:
            with torch.no_grad():
                v = float(loss_fn(net(vx), vy))
            if v < best:
                best, best_state = v, {k: t.clone() for k, t in net.state_dict().items()}
            log(f"step {s} train {loss.item():.3f} val {v:.3f} ({time.time() - t0:.0f} s)")
    net.load_state_dict(best_state)
    return net, {"val_loss": best, "context": context, "channels": channels, "stride": stride, "steps": steps,
                 "folders": [str(d) for d in data], "train_clips": [len(g) for g in train_idx],
                 "val_clips": [len(g) for g in val_idx]}


def export_onnx(net, path: Path, context: int, grid_points: int = 957) -> None:
    import torch

    net.eval()
    x = torch.zeros(1, context, grid_points)
    torch.onnx.export(net, (x,), str(path), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                      opset_version=17, dynamo=False,
                      dynamic_axes={INPUT_NAME: {0: "batch", 2: "grid"}, OUTPUT_NAME: {0: "batch", 1: "grid"}})


def write_golden(net, path: Path, context: int) -> None:
    """Torch outputs on fixed inputs (spectra around -6 log10 with peaks), shipped next to the ONNX file:
    CI (no torch) checks onnxruntime against them (tests/test_resonance_detector.py)."""
    import torch

    rng = np.random.default_rng(0)
    x = (-6.0 + 0.3 * rng.standard_normal((2, context, 957))).astype(np.float32)
    x[:, :, 400:404] += 1.2  # a steady narrow peak
    with torch.no_grad():
        y = net(torch.from_numpy(x)).numpy()
    np.savez_compressed(path, log_power=x, boost_db=y)


def main(argv: list[str] | None = None) -> int:
    import json

    import torch

    ap = argparse.ArgumentParser(prog="python -m bandmate.train resonance")
    ap.add_argument("--data", type=Path, nargs="+", default=[Path("data_cache/resonance")])
    ap.add_argument("--out", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--steps", type=int, default=10000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--context", type=int, default=CONTEXT, help="analysis updates the model sees")
    ap.add_argument("--channels", type=int, default=CHANNELS)
    ap.add_argument("--stride", type=int, default=STRIDE, choices=(1, 2))
    ap.add_argument("--export-only", action="store_true", help="re-export --out's .pt (no training)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.export_only:
        net = build_net(args.context, args.channels, args.stride)
        net.load_state_dict(torch.load(args.out.with_suffix(".pt")))
    else:
        net, info = train(args.data, args.steps, context=args.context, channels=args.channels, stride=args.stride,
                          log=lambda m: print(m, flush=True))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        torch.save(net.state_dict(), args.out.with_suffix(".pt"))
        args.out.with_suffix(".train.json").write_text(json.dumps(info, indent=1) + "\n")
    export_onnx(net, args.out, args.context)
    write_golden(net, args.out.with_suffix(".golden.npz"), args.context)
    print(f"wrote {args.out}")
    return 0
