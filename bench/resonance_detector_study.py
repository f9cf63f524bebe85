"""Study: can a small learned detector tell injected resonances from partials? (Its answer led to the
shipped detector: ``bandmate.engines.resonance_detector``, trained by ``python -m bandmate.train
resonance`` on ``bandmate.data.resonance`` clips, scored inside the engine by resonance_quality.py.
This script keeps the first, smaller net and its prototype pipeline for the comparison in
bench/RESULTS.md; its ``data`` step now writes the shipped recipe's clips.)

    PYTHONPATH=python_backend python bench/resonance_detector_study.py data --clips 100 &  # ~8 min, with:
    PYTHONPATH=python_backend python bench/resonance_detector_study.py data --clips 200 --start 100
    PYTHONPATH=python_backend python bench/resonance_detector_study.py train --steps 6000  # ~6 min
    PYTHONPATH=python_backend python bench/resonance_detector_study.py eval                # ~2 min

Why: every rule-based detector tried for ResonanceEQ (bench/RESULTS.md) trades music collateral
for removal along one line, ~4 dB per 100 % of removal. This measures a learned detector on the same
bench material, scored by the same metrics (``resonance_quality.removal`` / ``collateral``), against
two detectors run in the same pipeline in the same run: the power prominence (the rule the engine
started from) and an oracle that knows the resonance-free original.

Data (offline, Debian packages): MMA grooves (random groove, tempo, key, progression; the helpers
of ``bandmate.data.sources``) rendered in stereo by fluidsynth with MuseScore_General (the bench
renders its own song with FluidR3, so the evaluation music is unseen), 20 s per clip, 2..7 peaking
resonances per clip (+6..15 dB, Q 10..50, 100 Hz..12 kHz, 1.5..6 s, some present from the start).
The peaks are seeded; the audio is not bit-reproducible (MMA randomises timing and velocity on
each run), so a re-generated set differs clip by clip and the scores vary accordingly.
Features = the engine's main path: 4096-point Hann spectra every 1024 samples, channel-mean power
on the 96-per-octave grid (``bins_to_grid``), log10. Target: the injected boost (dB) on the grid
while the newest quarter of the frame lies inside the resonance.

Model: ``ResonanceNet``, convolutions across frequency with the last T updates as channels
(shared weights over frequency), predicting the boost in dB at the newest update. Evaluation
pipeline (all three detectors): gain = -min(scale * max(detector - thr, 0), 12 dB), 15/120 ms
attack/release, applied in a 2048/256 STFT (a prototype of the engine's filter, not the filter).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import scipy.signal as ss

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python_backend"))

import resonance_quality as rq  # noqa: E402
from bandmate.data.resonance import FS, GRID, SECONDS, STRIDE, build_resonance, features, frame_ends  # noqa: E402

ENV_HALF = 32  # +-1/3 octave on the grid
WORK = Path(os.environ.get("RESONANCE_STUDY_DIR", "/tmp/resonance_study"))


# ----------------------------------------------------------------------------- model
def build_net(ch: int, t: int):
    import torch.nn.functional as F
    from torch import nn

    class ResonanceNet(nn.Module):
        """(B, T, G) log10 grid powers of the last T updates -> (B, G) predicted boost (dB) at the newest."""

        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv1d(t, ch, 31, padding=15)
            self.c2 = nn.Conv1d(ch, ch, 15, padding=14, dilation=2)
            self.c3 = nn.Conv1d(ch, ch, 9, padding=4)
            self.out = nn.Conv1d(ch, 1, 1)

        def forward(self, x):
            db = 10.0 * x
            # minus a +-1/3-octave moving average of the newest update (level invariance)
            ref = F.avg_pool1d(F.pad(db[:, -1:, :], (ENV_HALF, ENV_HALF), mode="replicate"), 2 * ENV_HALF + 1, 1)
            h = (db - ref) / 10.0
            h = F.relu(self.c1(h))
            h = F.relu(self.c2(h)) + h
            h = F.relu(self.c3(h)) + h
            return F.softplus(4.0 * self.out(h)[:, 0, :])

    return ResonanceNet()


def train(steps: int, ch: int, t: int, weight: float) -> None:
    import torch

    torch.manual_seed(0)
    files = sorted((WORK / "data").glob("c*.npz"))
    xs = [np.load(f)["X"] for f in files]
    ys = [np.load(f)["Y"].astype(np.float32) for f in files]
    rng = np.random.default_rng(0)
    net = build_net(ch, t)
    opt = torch.optim.Adam(net.parameters(), 2e-3)
    t0 = time.time()
    for s in range(steps):
        xb, yb = [], []
        for _ in range(64):
            i = int(rng.integers(len(xs)))
            k = int(rng.integers(t - 1, xs[i].shape[0]))
            xb.append(xs[i][k - t + 1 : k + 1])
            yb.append(ys[i][k])
        x, y = torch.from_numpy(np.stack(xb)), torch.from_numpy(np.stack(yb))
        loss = ((net(x) - y) ** 2 * (1.0 + weight * (y > 1.0))).mean()  # resonances are sparse
        opt.zero_grad()
        loss.backward()
        opt.step()
        if s == int(0.7 * steps):
            for g in opt.param_groups:
                g["lr"] = 5e-4
        if s % 1000 == 0:
            print(f"step {s} loss {loss.item():.3f} ({time.time() - t0:.0f} s)", flush=True)
    torch.save({"state": net.state_dict(), "ch": ch, "t": t}, WORK / "net.pt")


# ----------------------------------------------------------------------------- evaluation
def apply_gain(x: np.ndarray, gain_db: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """gain_db (frames, G) -> STFT (2048/256) gains, frame t placed 512 samples before its end."""
    _, _, z = ss.stft(x, FS, window="hann", nperseg=2048, noverlap=2048 - 256, axis=-1)
    fb = np.arange(z.shape[1]) * FS / 2048
    on_bins = np.stack([np.interp(fb, GRID, g) for g in gain_db])  # (frames, bins)
    src = np.arange(z.shape[-1]) * 256
    g = np.stack([np.interp(src, ends - 512, on_bins[:, k]) for k in range(len(fb))])
    _, y = ss.istft(z * 10 ** (g / 20), FS, window="hann", nperseg=2048, noverlap=2048 - 256)
    return y[:, : x.shape[1]]


def to_gain(det: np.ndarray, thr: float, scale: float, dilate: int = 0) -> np.ndarray:
    g = -np.minimum(scale * np.maximum(det - thr, 0.0), 12.0)
    if dilate:  # cut a peak over its width, as the engine does
        from scipy.ndimage import minimum_filter1d, uniform_filter1d

        g = uniform_filter1d(minimum_filter1d(g, 2 * dilate + 1, axis=1), 2 * dilate + 1, axis=1)
    a, r = (1 - np.exp(-STRIDE / (FS * ms * 1e-3)) for ms in (15.0, 120.0))
    out, s = np.empty_like(g), np.zeros(g.shape[1])
    for k in range(len(g)):
        s += np.where(g[k] < s, a, r) * (g[k] - s)
        out[k] = s
    return out


def prominence(feat: np.ndarray) -> np.ndarray:
    """The engine's rule: smoothed power (100 ms) over a +-1/3-octave robust envelope, dB."""
    from scipy.ndimage import uniform_filter1d

    a = 1 - np.exp(-STRIDE / (FS * 0.1))
    p, s = 10.0**feat, 10.0 ** feat[0]
    sm = np.empty_like(p)
    for k in range(len(p)):
        s = s + a * (p[k] - s)
        sm[k] = s
    sm = uniform_filter1d(sm, 3, axis=1)
    env = uniform_filter1d(sm, 2 * ENV_HALF + 1, axis=1, mode="nearest")
    env = uniform_filter1d(np.minimum(sm, env * 10**0.2), 2 * ENV_HALF + 1, axis=1, mode="nearest")
    return 10 * np.log10(sm / env)


def evaluate(settings: list[tuple[str, float, float]]) -> None:
    import torch

    ck = torch.load(WORK / "net.pt")
    net = build_net(ck["ch"], ck["t"])
    net.load_state_dict(ck["state"])
    net.eval()
    t = ck["t"]
    rows: dict[tuple, dict[str, list]] = {}
    for seed in (1, 2, 3, 4, 5, 6):
        mats, _ = rq.materials(seed, SECONDS)
        for mname, x, peaks in mats:
            xin = rq.inject(x, peaks)
            f_in, f_orig = features(xin), features(x)
            ends = frame_ends(len(f_in))
            padded = np.concatenate([np.repeat(f_in[:1], t - 1, 0), f_in])
            with torch.no_grad():
                win = torch.from_numpy(np.stack([padded[k : k + t] for k in range(len(f_in))]))
                learned = torch.cat([net(win[i : i + 256]) for i in range(0, len(win), 256)]).numpy()
            dets = {"learned": learned, "power prominence": prominence(f_in),
                    "oracle (knows the original)": 10 * (f_in - f_orig)}
            for name, thr, scale in settings:
                y = apply_gain(xin, to_gain(dets[name], thr, scale, 0 if name == "learned" else 4), ends)
                d = rows.setdefault((mname.split(" (")[0], name, thr, scale), {"r": [], "c": []})
                d["r"].append(rq.removal(x, xin, y, peaks))
                d["c"].append(rq.collateral(xin, y, peaks))
        print(f"seed {seed} done", file=sys.stderr, flush=True)
    print(f"{'material':11s} {'detector':28s} {'thr':>4s} {'scale':>5s} {'removal mean / min / >=75%':>27s} "
          f"{'collateral dB (max)':>20s}")
    for (mat, name, thr, scale), d in rows.items():
        r = np.concatenate(d["r"])
        print(f"{mat:11s} {name:28s} {thr:4.1f} {scale:5.1f} {100 * r.mean():9.0f}% {100 * r.min():4.0f}% "
              f"{100 * (r >= 0.75).mean():5.0f}%   {np.mean(d['c']):9.2f} ({np.max(d['c']):.2f})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["data", "train", "eval"])
    ap.add_argument("--clips", type=int, default=200)
    ap.add_argument("--start", type=int, default=0, help="first clip index (run two processes on halves)")
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--context", type=int, default=12, help="updates of history the net sees")
    ap.add_argument("--weight", type=float, default=10.0, help="extra loss weight where the target > 1 dB")
    args = ap.parse_args()
    if args.what == "data":
        build_resonance(WORK / "data", args.clips, args.start)
    elif args.what == "train":
        train(args.steps, args.channels, args.context, args.weight)
    else:
        evaluate([("learned", 0.3, 4.0), ("learned", 1.0, 1.5), ("learned", 2.0, 2.0),
                  ("power prominence", 4.0, 3.0), ("power prominence", 8.0, 3.0),
                  ("oracle (knows the original)", 3.0, 3.0)])


if __name__ == "__main__":
    main()
