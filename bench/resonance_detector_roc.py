"""Where ResonanceEQ's learned detector finds resonances: per grid point and update, the share of
resonance points it flags at 1 % false positives, per frequency band.

    PYTHONPATH=python_backend python bench/resonance_detector_roc.py [--models A.onnx B.onnx]
        [--seeds 1 2 3 4 5 6] [--clips DIR ...] [--edges 140 2800 12000]

Material: the quality bench's music (``resonance_quality.materials``: its song rendered with
FluidR3, its six +12 dB, Q 20..40 peaks per seed) and, with ``--clips``, every 10th clip of a
training-data folder (``python -m bandmate.data resonance``: the clips ``train`` holds out for
validation). Features and target are the training data's (``bandmate.data.resonance``): the
engine's main-path spectra, the injected filters' response on the grid while active.

Score: the model's raw output (no steadiness veto, no threshold mapping) at points whose target
exceeds 6 dB (the peaks' cores) against points below 0.1 dB (away from every peak), both from
the model's first full context on; the threshold is the 99th percentile of the latter, so each
row reads "finds X % of the resonance points while flagging 1 % of the rest". Models of any
context length run side by side on the same points (the first 63 updates of each clip are left
out for all). This is what bench/RESULTS.md cites for the low-mid detection limit.
"""

from __future__ import annotations

import argparse
import sys
from itertools import pairwise
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python_backend"))

import resonance_quality as rq  # noqa: E402
from bandmate.data.resonance import FS, GRID, NWIN, STRIDE, features, frame_ends, grid_response_db, peaking  # noqa: E402
from bandmate.engines.resonance_detector import DEFAULT_MODEL, INPUT_NAME, OUTPUT_NAME  # noqa: E402

EDGES_HZ = (140.0, 2800.0, 12000.0)  # the bands (--edges): low-mid, where music is tonal, and above
SKIP = 63  # updates left out at the start of every clip (the longest context tried, minus one)
POS_DB, NEG_DB = 6.0, 0.1


def bench_music(seed: int, seconds: float = 20.0) -> tuple[np.ndarray, np.ndarray]:
    """The bench's music for a seed with its peaks injected: features (frames, G), target (frames, G)."""
    mats, _ = rq.materials(seed, seconds)
    _, x, peaks = mats[1]
    y = rq.inject(x, peaks)
    n = x.shape[1]
    ends = frame_ends((n - NWIN) // STRIDE + 1)
    mid = (ends - STRIDE // 2) / FS  # as in the training data: the frame's newest quarter
    target = np.zeros((len(ends), len(GRID)))
    for p in peaks:  # cascaded filters: their gains add in dB, as in the training target
        on = (mid >= p["t0"]) & (mid < p["t1"])
        target[on] += grid_response_db(*peaking(p["f0"], 12.0, p["q"]))
    return features(y), target


def clip_set(folder: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    files = sorted(folder.glob("c*.npz"))
    if not files:
        raise SystemExit(f"no clips in {folder} (python -m bandmate.data resonance --out {folder})")
    out = []
    for f in files[::10]:
        z = np.load(f)
        out.append((z["X"].astype(np.float32), z["Y"].astype(np.float32)))
    return out


def run_model(session, X: np.ndarray) -> np.ndarray:
    """The model's output for every update from SKIP on, (frames - SKIP, G)."""
    ctx = int(session.get_inputs()[0].shape[1])
    hist = np.lib.stride_tricks.sliding_window_view(X, ctx, axis=0)[SKIP - ctx + 1 :]  # (T, G, ctx)
    hist = np.ascontiguousarray(hist.transpose(0, 2, 1))
    return np.concatenate([session.run([OUTPUT_NAME], {INPUT_NAME: hist[i : i + 64]})[0]
                           for i in range(0, len(hist), 64)])


def detection(outputs: list[np.ndarray], targets: list[np.ndarray], edges=EDGES_HZ) -> list[float]:
    """Per band: share of resonance points above the 99th percentile of the points away from peaks."""
    rates = []
    for lo, hi in pairwise(edges):
        band = (GRID >= lo) & (GRID < hi)
        pos = np.concatenate([o[(t > POS_DB) & band] for o, t in zip(outputs, targets, strict=True)])
        neg = np.concatenate([o[(t < NEG_DB) & band] for o, t in zip(outputs, targets, strict=True)])
        rates.append(float((pos > np.quantile(neg, 0.99)).mean()) if len(pos) else float("nan"))
    return rates


def main() -> None:
    import onnxruntime as ort

    ap = argparse.ArgumentParser()
    ap.add_argument("--models", type=Path, nargs="+", default=[DEFAULT_MODEL])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6])
    ap.add_argument("--clips", type=Path, nargs="*", default=[], help="training-data folders (every 10th clip)")
    ap.add_argument("--edges", type=float, nargs="+", default=EDGES_HZ, help="band edges (Hz), ascending")
    args = ap.parse_args()
    edges = sorted(args.edges)
    if len(edges) < 2:
        ap.error("--edges needs at least two frequencies")
    names = [f"{lo / 1000:g}-{hi / 1000:g} kHz" for lo, hi in pairwise(edges)]
    sets = [(f"bench music, seeds {' '.join(map(str, args.seeds))}", [bench_music(s) for s in args.seeds])]
    sets += [(f"{d} (every 10th clip)", clip_set(d)) for d in args.clips]
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sessions = [(m, ort.InferenceSession(str(m), opts)) for m in args.models]
    print("resonance points found at 1 % false positives (raw model output, per grid point and update)")
    print(f"{'material':48s} {'model':32s} " + " ".join(f"{b:>15s}" for b in names))
    for label, clips in sets:
        targets = [Y[SKIP:] for _, Y in clips]
        for path, sess in sessions:
            rates = detection([run_model(sess, X) for X, _ in clips], targets, edges)
            print(f"{label[:48]:48s} {path.parent.name + '/' + path.name:32s} "
                  + " ".join(f"{100 * r:14.1f}%" for r in rates), flush=True)


if __name__ == "__main__":
    main()
