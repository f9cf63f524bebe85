"""BassNet runtime (onnxruntime only): music audio (no bass, no drums) -> bass MIDI per 16th step.

    net = BassNet()                                   # onnx_models/bassnet.onnx
    feats = bandmate.features.bar_features(audio, sr, bpm, bar_start, n_bars)
    notes = net.generate(feats[i - 1], feats[i], BassControls(density=0.7), seed=1, bar=i)
    midi_bytes = notes_to_midi([notes, ...], bpm, program_for_timbre(0.5))

Optional drums per bar (e.g. DrumNet's bars, or a drum MIDI file through ``drums_from_midi``):
``drums`` = (16, 3) kick / snare / hat onsets per 16th step (``bandmate.data.bass.drum_channels``);
None = no drums (the model's drum flag is 0 and it plays as without drums).

All controls are normalised to 0..1 and, except variation, are percentiles of the training
bars (real songs and MMA weighted equally; 0.5 = the median bar):
    density    notes per bar (the default 0.5 is calibrated busier, ~7-9 notes per bar)
    register   mean pitch (the model's pitch classes are kept; each note takes the octave
               nearest the model's register centre, which rises with register, so mean pitch
               is monotone in register; decoding adds REGISTER_SPREAD)
    clarity    note length as a share of the gap to the next note: 0 = short/staccato,
               1 = legato (mean note length is monotone in clarity)
    timbre     velocity (mean velocity is monotone in timbre); also picks the GM program in
               ``generate_from_audio`` / the CLI (acoustic, finger, pick, slap, synth bass)
    variation  0 = the most likely line; 1 = onsets sampled from their probabilities, pitch
               classes among those close to the best (seeded; same seed = same draws)

Pitches lie in E1..G3 (MIDI 28..55). ``BassNote.offset`` (micro-timing, steps) is 0: the
model has no timing output yet; the field keeps the DrumHit convention for hosts.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from bandmate.data.bass import DRUM_CHANNELS, N_PITCH, PITCH_LO, drum_channels
from bandmate.data.drums import STEPS, drum_targets, four_four_bars
from bandmate.data.midi import MidiFile, note_events, read_midi, tempo_event, timesig_event, write_midi
from bandmate.features import N_FEATURES
from bandmate.generators.common import (
    MODEL_DIR,
    UnitControls,
    audio_bars,
    load_input,
    onnx_session,
    parse_controls,
)

DEFAULT_MODEL = MODEL_DIR / "bassnet.onnx"
ENV_MODEL = "BANDMATE_BASSNET_MODEL"
OUTPUTS = ("onset", "pitch_class", "height", "gate", "velocity", "chord")
_PITCHES = np.arange(PITCH_LO, PITCH_LO + N_PITCH)
#: drums for B bars: None (no drums), (B, 16, 3), or per bar a (16, 3) array or None
Drums = np.ndarray | Sequence[np.ndarray | None] | None
#: timbre 0..1 -> GM program: acoustic (32), finger (33), pick (34), slap (36), synth bass (38)
TIMBRE_PROGRAMS = ((0.2, 32), (0.6, 33), (0.8, 34), (0.9, 36), (1.01, 38))
PC_SAMPLE_RANGE = 3.0  # variation samples among pitch classes within this log-prob of the best
#: decoding widens the register control: the octave is chosen around the model's register centre
#: (which the trained control moves by ~12 semitones over 0..1) + REGISTER_SPREAD x (register - 0.5)
REGISTER_SPREAD = 10.0


def program_for_timbre(timbre: float) -> int:
    return next(p for t, p in TIMBRE_PROGRAMS if timbre < t)


@dataclass
class BassControls(UnitControls):
    density: float = 0.5
    register: float = 0.5
    clarity: float = 0.5
    timbre: float = 0.5
    variation: float = 0.0


    def model_inputs(self) -> np.ndarray:
        return np.array([self.density, self.register, self.clarity, self.timbre], np.float32)


@dataclass(frozen=True)
class BassNote:
    step: int  # 0..15 within the bar
    pitch: int  # MIDI note, 28..55
    velocity: int  # 1..127
    length: float  # in 16th steps (may reach into the next bar)
    offset: float = 0.0  # micro-timing in steps, + = late (0: not modelled)


def drums_from_midi(path: str | Path) -> np.ndarray:
    """A drum MIDI file (GM notes on channel 10, e.g. ``bandmate drums`` output) -> (n_bars, 16, 3)
    drum input per 4/4 bar, bar 0 = the file's first bar."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"drum MIDI not found: {path}")
    midi = read_midi(path)
    hits = drum_targets(midi, four_four_bars(midi))[0]
    if not hits.any():
        raise ValueError(f"{path}: no GM drum notes (channel 10) in 4/4 bars")
    return drum_channels(hits)


def _drum_inputs(drums: Drums, n: int) -> tuple[np.ndarray, np.ndarray]:
    """None, (n, 16, 3), or a sequence of (16, 3) / None per bar -> model inputs drums, drums_present."""
    grid = np.zeros((n, STEPS, len(DRUM_CHANNELS)), np.float32)
    present = np.zeros((n, 1), np.float32)
    if drums is None:
        return grid, present
    if len(drums) != n:
        raise ValueError(f"drums for {len(drums)} bars, expected {n}")
    for i, d in enumerate(drums):
        if d is not None:
            d = np.asarray(d, np.float32)
            if d.shape != grid.shape[1:]:
                raise ValueError(f"drums of a bar must be ({STEPS}, {len(DRUM_CHANNELS)}), got {d.shape}")
            grid[i], present[i] = d, 1.0
    return grid, present


def _position(bars: np.ndarray | None, n: int) -> np.ndarray:
    if bars is None:
        return np.zeros((n, 4), np.float32)
    return np.eye(4, dtype=np.float32)[np.asarray(bars) % 4]


class BassNet:
    def __init__(self, model_path: str | Path | None = None, threads: int = 1):
        self.session, self.path = onnx_session("BassNet", model_path, ENV_MODEL, DEFAULT_MODEL, threads)

    # ----------------------------------------------------------------- raw model
    def predict(self, features: np.ndarray, controls: BassControls | np.ndarray,
                position: np.ndarray | None = None, drums: Drums = None) -> dict[str, np.ndarray]:
        """features (B, 2, 16, F); controls BassControls or (B, 4) density, register, clarity,
        timbre; position (B, 4) one-hot bar index mod 4 (None: unknown); drums None, (B, 16, 3)
        or a (16, 3)-or-None per bar. Returns the model
        outputs by name: onset, gate, velocity (B, 16); pitch_class, chord (B, 16, 12);
        height (B, 16, 28)."""
        features = np.ascontiguousarray(features, dtype=np.float32)
        if features.ndim != 4 or features.shape[1:] != (2, STEPS, N_FEATURES):
            raise ValueError(f"features must be (B, 2, {STEPS}, {N_FEATURES}), got {features.shape}")
        n = len(features)
        if isinstance(controls, BassControls):
            ctrl = np.repeat(controls.model_inputs()[None], n, 0)
        else:
            ctrl = np.asarray(controls, np.float32).reshape(n, 4)
        pos = np.zeros((n, 4), np.float32) if position is None else np.asarray(position, np.float32).reshape(n, 4)
        grid, present = _drum_inputs(drums, n)
        out = self.session.run(None, {"features": features, "position": pos, "controls": ctrl, "drums": grid,
                                      "drums_present": present})
        return dict(zip(OUTPUTS, out, strict=True))

    # ------------------------------------------------------------------ decoding
    @staticmethod
    def decode(out: dict[str, np.ndarray], controls: BassControls, rng: np.random.Generator) -> list[list[BassNote]]:
        """Model outputs for consecutive bars (B, 16, ...) -> notes per bar.

        The random draws have fixed shapes (seeded), so sweeping one control with the same
        seed changes only what that control drives. The last note of a bar is held into the
        next bar up to the next bar's first onset (its gap counts to at most 16 steps)."""
        n = len(out["onset"])
        var = controls.variation
        u = rng.random((n, STEPS))
        gumbel = -np.log(-np.log(rng.random((n, STEPS, 12)) + 1e-12) + 1e-12)
        jitter = rng.normal(0, 1, (n, STEPS))
        on = out["onset"] > 0.5 + var * (u - 0.5)
        lp = out["pitch_class"]
        if var > 0:
            score = np.where(lp >= lp.max(-1, keepdims=True) - PC_SAMPLE_RANGE, lp / var + gumbel, -np.inf)
        else:
            score = lp
        pc = score.argmax(-1)  # (n, 16)
        # octave: the candidate with this pitch class nearest the register centre mu (+ spread);
        # height = -(p - mu)^2 / (2 sigma^2), so mu follows from its first two differences
        h = out["height"].astype(np.float64)
        q = np.minimum(h[..., 2] - 2 * h[..., 1] + h[..., 0], -1e-9)  # -1 / sigma^2
        mu = (2 * PITCH_LO + 1 - 2 * (h[..., 1] - h[..., 0]) / q) / 2
        target = mu + REGISTER_SPREAD * (controls.register - 0.5)
        same = (_PITCHES % 12)[None, None, :] == pc[..., None]
        pitch = _PITCHES[np.where(same, -np.abs(_PITCHES - target[..., None]), -np.inf).argmax(-1)]
        vel = np.clip(np.round(127 * (out["velocity"] + 0.06 * var * jitter)), 1, 127).astype(int)
        first = [int(np.argmax(on[b])) if on[b].any() else None for b in range(n)]
        bars = []
        for b in range(n):
            steps = np.nonzero(on[b])[0]
            nxt = first[b + 1] if b + 1 < n and first[b + 1] is not None else 0
            ends = np.r_[steps[1:], STEPS + nxt]
            notes = []
            for s, e in zip(steps, ends, strict=True):
                gap = min(e - s, STEPS)
                length = max(0.05, round(float(out["gate"][b, s]) * gap, 3))
                notes.append(BassNote(int(s), int(pitch[b, s]), int(vel[b, s]), length, 0.0))
            bars.append(notes)
        return bars

    def generate(self, features_prev_bar: np.ndarray | None, features_cur_bar: np.ndarray,
                 controls: BassControls | None = None, seed: int = 0, bar: int | None = None,
                 drums: np.ndarray | None = None) -> list[BassNote]:
        """One bar: (16, F) features of the previous (None at the start) and current bar -> notes.
        ``bar``: the bar's index in the song (its position in a 4-bar phrase), None if unknown;
        ``drums``: the bar's (16, 3) drum onsets, None if no drums."""
        cur = np.asarray(features_cur_bar, np.float32)
        prev = np.zeros_like(cur) if features_prev_bar is None else np.asarray(features_prev_bar, np.float32)
        controls = controls or BassControls()
        out = self.predict(np.stack([prev, cur])[None], controls, None if bar is None else _position([bar], 1),
                           None if drums is None else [drums])
        return self.decode(out, controls, np.random.default_rng(seed))[0]

    def generate_bars(self, feats: np.ndarray, controls: BassControls | None = None, seed: int = 0,
                      first_bar: int | None = 0, drums: Drums = None) -> list[list[BassNote]]:
        """Consecutive bars (n, 16, F) -> notes per bar (one batched model call); bar i has
        index ``first_bar + i`` in the song (None: positions unknown); ``drums`` None, (n, 16, 3)
        or a (16, 3)-or-None per bar."""
        feats = np.asarray(feats, np.float32)
        controls = controls or BassControls()
        prev = np.concatenate([np.zeros_like(feats[:1]), feats[:-1]])
        pos = None if first_bar is None else _position(first_bar + np.arange(len(feats)), len(feats))
        out = self.predict(np.stack([prev, feats], 1), controls, pos, drums)
        return self.decode(out, controls, np.random.default_rng(seed))

    def generate_from_audio(self, audio: np.ndarray, sr: int, bpm: float | None = None, bars: int | None = None,
                            controls: BassControls | None = None, bar_start: float = 0.0, seed: int = 0,
                            program: int | None = None, drums: np.ndarray | None = None) -> bytes:
        """Audio -> bass MIDI bytes (tempo estimated when ``bpm`` is None; all full bars when
        ``bars`` is None; GM program from the timbre control unless given). ``drums``: (m, 16, 3)
        drum onsets of the first m bars (``drums_from_midi``); later bars play without drums."""
        controls = controls or BassControls()
        feats, bpm = audio_bars(audio, sr, bpm, bars, bar_start)
        bars = len(feats)
        prog = program_for_timbre(controls.timbre) if program is None else program
        per_bar = None if drums is None else [drums[i] if i < len(drums) else None for i in range(bars)]
        return notes_to_midi(self.generate_bars(feats, controls, seed, drums=per_bar), bpm, prog)


def notes_to_midi(bars: list[list[BassNote]], bpm: float, program: int = 33, tpb: int = 480,
                  path: str | Path | None = None) -> bytes:
    """Bars of notes -> type-0 SMF: tempo, 4/4, GM ``program`` on channel 1, a note-off for every note-on."""
    if not 0 <= int(program) <= 127:
        raise ValueError(f"GM program must be 0..127, got {program}")
    step = tpb // 4
    events = [tempo_event(0, bpm), timesig_event(0, 4, 4), (0, b"\xff\x03BassNet"), (0, bytes([0xC0, int(program)]))]
    for b, notes in enumerate(bars):
        for n in notes:
            tick = max(0, int(round((b * STEPS + n.step + n.offset) * step)))
            events += note_events(tick, max(1, int(round(n.length * step))), 0, n.pitch, n.velocity)
    end = max([len(bars) * STEPS * step] + [t for t, _ in events])
    events.append((end, b"\xff\x01end"))
    return write_midi(MidiFile(tpb, [events]), path)


def bass_main(argv: list[str] | None = None) -> int:
    """CLI: bandmate bass IN.wav|IN.mid [--bpm 120] [--bars 8] -o OUT.mid [density=0.7 register=0.3 ...]"""
    ap = argparse.ArgumentParser(prog="bandmate bass", description="Generate a bass line (MIDI) that fits the input "
                                 "music. MIDI input is rendered with fluidsynth without its bass and drums.")
    ap.add_argument("input", type=Path, help="audio file (wav/flac/...) or MIDI (rendered with fluidsynth)")
    ap.add_argument("-o", "--output", type=Path, required=True)
    ap.add_argument("--bpm", type=float, default=None, help="tempo (default: MIDI tempo or estimated)")
    ap.add_argument("--bars", type=int, default=None, help="bars to generate (default: all full bars)")
    ap.add_argument("--start", type=float, default=0.0, help="first bar start, seconds")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--program", type=int, default=None, help="GM program (default: chosen by timbre)")
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--drums", type=Path, default=None, help="drum MIDI (GM, channel 10; e.g. `bandmate drums` "
                    "output) whose bar 1 is the first generated bar: the bass locks to its kick and snare")
    ap.add_argument("controls", nargs="*", help="key=value in 0..1, keys: "
                    + ", ".join(f.name for f in fields(BassControls)))
    args = ap.parse_intermixed_args(argv)
    controls = BassControls(**parse_controls(ap, args.controls, BassControls))
    try:
        drums = None if args.drums is None else drums_from_midi(args.drums)
    except (OSError, ValueError) as e:
        ap.error(str(e))
    net = BassNet(args.model)
    audio, sr, midi_bpm = load_input(args.input, without_bass=True)
    bpm = args.bpm or midi_bpm
    data = net.generate_from_audio(audio, sr, bpm, args.bars, controls, args.start, args.seed, args.program, drums)
    args.output.write_bytes(data)
    print(f"wrote {args.output} ({len(data)} bytes)")
    return 0
