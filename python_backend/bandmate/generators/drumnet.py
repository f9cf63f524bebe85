"""DrumNet runtime (onnxruntime only): music audio -> drum MIDI per 16th step.

    net = DrumNet()                                   # onnx_models/drumnet.onnx
    feats = bandmate.features.bar_features(audio, sr, bpm, bar_start, n_bars)
    hits = net.generate(feats[i - 1], feats[i], DrumControls(density=0.7), seed=1)
    midi_bytes = hits_to_midi([hits, ...], bpm)

All controls are normalised to 0..1:
    density     notes per bar, as a percentile of the training bars (0.5 = median)
    complexity  pattern entropy (the entropy of the bar's 16 step-columns, bandmate.data.drums.
                pattern_entropy), applied at decoding: 0.5 = the model's own pattern; below, the
                bar's column types are merged (cheapest first) down to two; above, single cells
                are flipped (most probable ghost notes / least probable hits first), each flip
                making a new column type, up to 3.4 bits (about the training maximum) and at most
                max(3, 30 %) more notes. Entropy is monotone in complexity for every bar.
    variation   0 = the most likely pattern; 1 = which cells play is sampled (seeded logistic
                noise on the logits); the number of notes stays the model's (density)
    follow      how tightly kick/snare/hats lock to the input's onset accents
    humanize    0 = on the grid with model velocities; 1 = the model's micro-timing + jitter
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from bandmate.data.drums import STEPS, VOICE_NAMES, VOICE_NOTES
from bandmate.data.midi import MidiFile, note_events, tempo_event, timesig_event, write_midi
from bandmate.features import N_FEATURES
from bandmate.generators.common import MODEL_DIR, UnitControls, audio_bars, onnx_session
from bandmate.generators.common import load_input as _load_input  # MIDI: rendered without drums

DEFAULT_MODEL = MODEL_DIR / "drumnet.onnx"
ENV_MODEL = "BANDMATE_DRUMNET_MODEL"
_HAT_CLOSED, _HAT_OPEN = VOICE_NAMES.index("hat_closed"), VOICE_NAMES.index("hat_open")
_BITS = 1 << np.arange(len(VOICE_NAMES))  # step column (16, 9) bool -> column id
COMPLEXITY_MAX_BITS = 3.4  # complexity 1 stops here (training bars: 99th percentile 2.8, max 3.38)
COMPLEXITY_MIN_TYPES = 2  # complexity 0 merges the bar's column types down to this many
COMPLEXITY_MAX_ADDED = (3, 0.3)  # splits add at most max(3, 30 %) notes (density sets the count)


def _entropy(ids: np.ndarray) -> float:
    counts = np.bincount(ids)
    p = counts[counts > 0] / len(ids)
    return float(-(p * np.log2(p)).sum())


def _split_path(on: np.ndarray, cost: np.ndarray, max_bits: float, max_notes: int) -> list[np.ndarray]:
    """Patterns of strictly increasing entropy: each flips the cheapest cell whose step shares its
    column with another step and whose flipped column is new to the bar (a refinement of the
    bar's column partition), until ``max_bits`` or no such cell is left; at ``max_notes`` notes
    only removals are left."""
    path = []
    while True:
        ids = on @ _BITS
        counts = np.bincount(ids, minlength=1 << len(_BITS))
        new = ids[:, None] ^ _BITS[None, :]
        ok = (counts[ids] >= 2)[:, None] & (counts[new] == 0)
        ok[:, _HAT_CLOSED] &= ~on[:, _HAT_OPEN]  # a hat is either open or closed
        ok[:, _HAT_OPEN] &= ~on[:, _HAT_CLOSED]
        if on.sum() >= max_notes:
            ok &= on  # only removals
        if not ok.any():
            return path
        s, v = np.unravel_index(np.argmin(np.where(ok, cost, np.inf)), cost.shape)
        on = on.copy()
        on[s, v] = ~on[s, v]
        if _entropy(on @ _BITS) > max_bits:
            return path
        path.append(on)


def _merge_path(on: np.ndarray, cost: np.ndarray, min_types: int) -> list[np.ndarray]:
    """Patterns of strictly decreasing entropy: each rewrites every step of one column type as
    another type already in the bar (the cheapest such merge: a coarsening of the partition)."""
    path = []
    while True:
        ids = on @ _BITS
        _, first, inv = np.unique(ids, return_index=True, return_inverse=True)
        k = len(first)
        if k <= min_types:
            return path
        types = on[first]  # (k, 9)
        per_step = ((types[None] != on[:, None]) * cost[:, None]).sum(-1)  # (16, k): step s -> type a
        merge = (inv[None] == np.arange(k)[:, None]) @ per_step  # (k, k): every step of type b -> type a
        merge[np.arange(k), np.arange(k)] = np.inf
        b, a = np.unravel_index(np.argmin(merge), merge.shape)
        on = on.copy()
        on[inv == b] = types[a]
        path.append(on)


def _logit(prob: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(prob, np.float64), 1e-7, 1 - 1e-7)
    return np.log(p) - np.log1p(-p)


def apply_complexity(on: np.ndarray, logit: np.ndarray, complexity: float) -> np.ndarray:
    """(16, 9) decoded hits and the model's hit logits -> hits whose pattern entropy moves
    monotonically with ``complexity`` (0.5 returns ``on``). A cell's flip cost is its log-odds
    against the flip, so merges and splits keep the most probable notes. ``complexity`` picks a
    point on the merge (below 0.5) or split (above) path in proportion to the path's length."""
    if complexity == 0.5:
        return on
    cost = np.where(on, logit, -logit)
    if complexity > 0.5:
        n, (add_min, add_frac) = int(on.sum()), COMPLEXITY_MAX_ADDED
        path = _split_path(on, cost, COMPLEXITY_MAX_BITS, n + max(add_min, int(add_frac * n)))
        frac = 2 * complexity - 1
    else:
        path, frac = _merge_path(on, cost, COMPLEXITY_MIN_TYPES), 1 - 2 * complexity
    i = int(np.floor(frac * len(path) + 0.5))
    return path[i - 1] if i > 0 else on


@dataclass
class DrumControls(UnitControls):
    density: float = 0.5
    complexity: float = 0.5
    variation: float = 0.0
    follow: float = 0.0
    humanize: float = 0.0



@dataclass(frozen=True)
class DrumHit:
    step: int  # 0..15 within the bar
    note: int  # GM drum note
    velocity: int  # 1..127
    offset: float  # micro-timing in steps (-0.5..0.5), + = late


class DrumNet:
    def __init__(self, model_path: str | Path | None = None, threads: int = 1):
        self.session, self.path = onnx_session("DrumNet", model_path, ENV_MODEL, DEFAULT_MODEL, threads)

    # ----------------------------------------------------------------- raw model
    def predict(self, features: np.ndarray, controls: DrumControls | np.ndarray):
        """features (B, 2, 16, F) -> prob, velocity, offset (B, 16, 9) float32.

        ``controls``: DrumControls, or (B, 3) raw model inputs density, complexity, follow. The
        model's complexity input is held at its neutral 0.5 for DrumControls (complexity acts in
        ``decode``, where it is monotone per bar; the trained input also moved note counts)."""
        features = np.ascontiguousarray(features, dtype=np.float32)
        if features.ndim != 4 or features.shape[1:] != (2, STEPS, N_FEATURES):
            raise ValueError(f"features must be (B, 2, {STEPS}, {N_FEATURES}), got {features.shape}")
        if isinstance(controls, DrumControls):
            ctrl = np.array([[controls.density, 0.5, controls.follow]], np.float32)
            ctrl = np.repeat(ctrl, len(features), 0)
        else:
            ctrl = np.asarray(controls, np.float32).reshape(len(features), 3)
        return self.session.run(None, {"features": features, "controls": ctrl})

    # ------------------------------------------------------------------ decoding
    @staticmethod
    def decode(prob, vel, off, controls: DrumControls, rng: np.random.Generator) -> list[DrumHit]:
        """One bar of (16, 9) model outputs -> hits (seeded variation and humanize; complexity).

        The bar plays as many notes as the model's p > 0.5 cells (density); variation picks them
        by the logits plus seeded logistic noise ×variation (0: exactly the p > 0.5 cells)."""
        logit = _logit(prob)
        r = np.clip(rng.random(prob.shape), 1e-9, 1 - 1e-9)
        score = logit + controls.variation * (np.log(r) - np.log1p(-r))
        # a hat is either open or closed: the lower-scoring one of each step is out
        weaker = np.where(score[:, _HAT_CLOSED] >= score[:, _HAT_OPEN], _HAT_OPEN, _HAT_CLOSED)
        score[np.arange(STEPS), weaker] = -np.inf
        n_notes = int((logit > 0).sum() - ((logit[:, _HAT_CLOSED] > 0) & (logit[:, _HAT_OPEN] > 0)).sum())
        on = np.zeros(score.size, bool)
        on[np.argsort(-score, axis=None, kind="stable")[:n_notes]] = True
        on = on.reshape(prob.shape)
        on = apply_complexity(on, logit, controls.complexity)
        h = controls.humanize
        jit_t, jit_v = rng.normal(0, 0.12, prob.shape), rng.normal(0, 0.1, prob.shape)
        hits = []
        for s, v in zip(*np.nonzero(on), strict=True):
            velocity = int(np.clip(round(127 * (vel[s, v] + h * jit_v[s, v])), 1, 127))
            offset = float(np.clip(h * (off[s, v] + jit_t[s, v]), -0.5, 0.5))
            hits.append(DrumHit(int(s), VOICE_NOTES[v], velocity, round(offset, 4)))
        return hits

    def generate(self, features_prev_bar: np.ndarray | None, features_cur_bar: np.ndarray,
                 controls: DrumControls | None = None, seed: int = 0) -> list[DrumHit]:
        """One bar: (16, F) features of the previous (None at the start) and current bar -> hits."""
        cur = np.asarray(features_cur_bar, np.float32)
        prev = np.zeros_like(cur) if features_prev_bar is None else np.asarray(features_prev_bar, np.float32)
        controls = controls or DrumControls()
        p, v, o = self.predict(np.stack([prev, cur])[None], controls)
        return self.decode(p[0], v[0], o[0], controls, np.random.default_rng(seed))

    def generate_bars(self, feats: np.ndarray, controls: DrumControls | None = None,
                      seed: int = 0) -> list[list[DrumHit]]:
        """Consecutive bars (n, 16, F) -> hits per bar (one batched model call)."""
        controls = controls or DrumControls()
        prev = np.concatenate([np.zeros_like(feats[:1]), feats[:-1]])
        p, v, o = self.predict(np.stack([prev, feats], 1), controls)
        rng = np.random.default_rng(seed)
        return [self.decode(p[i], v[i], o[i], controls, rng) for i in range(len(feats))]

    def generate_from_audio(self, audio: np.ndarray, sr: int, bpm: float | None = None, bars: int | None = None,
                            controls: DrumControls | None = None, bar_start: float = 0.0, seed: int = 0) -> bytes:
        """Audio -> drum MIDI bytes (tempo estimated when ``bpm`` is None; all full bars when ``bars`` is None)."""
        feats, bpm = audio_bars(audio, sr, bpm, bars, bar_start)
        return hits_to_midi(self.generate_bars(feats, controls, seed), bpm)


def hits_to_steps(hits: list[DrumHit]) -> np.ndarray:
    """One bar of hits -> (16, 9) uint8 grid over VOICE_NAMES (what BassNet's drum input reads);
    notes outside DrumNet's GM voices are ignored."""
    grid = np.zeros((STEPS, len(VOICE_NOTES)), np.uint8)
    for h in hits:
        if h.note in VOICE_NOTES and 0 <= h.step < STEPS:
            grid[h.step, VOICE_NOTES.index(h.note)] = 1
    return grid


def hits_to_midi(bars: list[list[DrumHit]], bpm: float, tpb: int = 480, path: str | Path | None = None) -> bytes:
    """Bars of hits -> type-0 SMF: tempo, 4/4, channel 10 notes, a note-off for every note-on."""
    step = tpb // 4
    events = [tempo_event(0, bpm), timesig_event(0, 4, 4), (0, b"\xff\x03DrumNet")]
    for b, hits in enumerate(bars):
        for hit in hits:
            tick = max(0, int(round((b * STEPS + hit.step + hit.offset) * step)))
            events += note_events(tick, step // 2, 9, hit.note, hit.velocity)
    events.append((len(bars) * STEPS * step, b"\xff\x01end"))
    return write_midi(MidiFile(tpb, [events]), path)


def drums_main(argv: list[str] | None = None) -> int:
    """CLI: bandmate drums IN.wav|IN.mid [--bpm 120] [--bars 8] -o OUT.mid [density=0.7 follow=0.5 ...]"""
    ap = argparse.ArgumentParser(prog="bandmate drums", description="Generate drum MIDI that fits the input music.")
    ap.add_argument("input", type=Path, help="audio file (wav/flac/...) or MIDI (rendered with fluidsynth)")
    ap.add_argument("-o", "--output", type=Path, required=True)
    ap.add_argument("--bpm", type=float, default=None, help="tempo (default: MIDI tempo or estimated)")
    ap.add_argument("--bars", type=int, default=None, help="bars to generate (default: all full bars)")
    ap.add_argument("--start", type=float, default=0.0, help="first bar start, seconds")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("controls", nargs="*", help="key=value, keys: " + ", ".join(f.name for f in fields(DrumControls)))
    args = ap.parse_intermixed_args(argv)
    kw = {}
    for kv in args.controls:
        key, _, value = kv.partition("=")
        if key not in {f.name for f in fields(DrumControls)} or not value:
            ap.error(f"bad control {kv!r}")
        kw[key] = float(value)
    audio, sr, midi_bpm = _load_input(args.input)
    net = DrumNet(args.model)
    bpm = args.bpm or midi_bpm
    data = net.generate_from_audio(audio, sr, bpm, args.bars, DrumControls(**kw), args.start, args.seed)
    args.output.write_bytes(data)
    print(f"wrote {args.output} ({len(data)} bytes)")
    return 0
