"""DrumNet runtime (onnxruntime only): music audio -> drum MIDI per 16th step.

    net = DrumNet()                                   # onnx_models/drumnet.onnx
    feats = bandmate.features.bar_features(audio, sr, bpm, bar_start, n_bars)
    hits = net.generate(feats[i - 1], feats[i], DrumControls(density=0.7), seed=1)
    midi_bytes = hits_to_midi([hits, ...], bpm)

All controls are normalised to 0..1:
    density     notes per bar, as a percentile of the training bars (0.5 = median)
    complexity  pattern entropy percentile (0.5 = median)
    variation   0 = the most likely pattern; 1 = hits sampled from the probabilities (seeded)
    follow      how tightly kick/snare/hats lock to the input's onset accents
    humanize    0 = on the grid with model velocities; 1 = the model's micro-timing + jitter
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from bandmate.data.drums import STEPS, VOICE_NAMES, VOICE_NOTES
from bandmate.data.midi import MidiFile, note_events, tempo_event, timesig_event, write_midi
from bandmate.features import N_FEATURES, bar_features, estimate_tempo, to_mono_sr

DEFAULT_MODEL = Path(__file__).resolve().parents[3] / "onnx_models" / "drumnet.onnx"
_HAT_CLOSED, _HAT_OPEN = VOICE_NAMES.index("hat_closed"), VOICE_NAMES.index("hat_open")


@dataclass
class DrumControls:
    density: float = 0.5
    complexity: float = 0.5
    variation: float = 0.0
    follow: float = 0.0
    humanize: float = 0.0

    def __post_init__(self):
        for f in fields(self):
            v = float(getattr(self, f.name))
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"DrumControls.{f.name} must be in [0, 1], got {v}")
            setattr(self, f.name, v)


@dataclass(frozen=True)
class DrumHit:
    step: int  # 0..15 within the bar
    note: int  # GM drum note
    velocity: int  # 1..127
    offset: float  # micro-timing in steps (-0.5..0.5), + = late


class DrumNet:
    def __init__(self, model_path: str | Path | None = None, threads: int = 1):
        path = Path(model_path or os.environ.get("BANDMATE_DRUMNET_MODEL", DEFAULT_MODEL))
        if not path.is_file():
            raise FileNotFoundError(
                f"DrumNet model not found: {path} (ship onnx_models/drumnet.onnx or retrain with "
                "`python -m bandmate.train drumnet`; BANDMATE_DRUMNET_MODEL overrides the path)")
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        self.path = path

    # ----------------------------------------------------------------- raw model
    def predict(self, features: np.ndarray, controls: DrumControls | np.ndarray):
        """features (B, 2, 16, F) -> prob, velocity, offset (B, 16, 9) float32."""
        features = np.ascontiguousarray(features, dtype=np.float32)
        if features.ndim != 4 or features.shape[1:] != (2, STEPS, N_FEATURES):
            raise ValueError(f"features must be (B, 2, {STEPS}, {N_FEATURES}), got {features.shape}")
        if isinstance(controls, DrumControls):
            ctrl = np.array([[controls.density, controls.complexity, controls.follow]], np.float32)
            ctrl = np.repeat(ctrl, len(features), 0)
        else:
            ctrl = np.asarray(controls, np.float32).reshape(len(features), 3)
        return self.session.run(None, {"features": features, "controls": ctrl})

    # ------------------------------------------------------------------ decoding
    @staticmethod
    def decode(prob, vel, off, controls: DrumControls, rng: np.random.Generator) -> list[DrumHit]:
        """One bar of (16, 9) model outputs -> hits (seeded variation and humanize)."""
        u = 0.5 + controls.variation * (rng.random(prob.shape) - 0.5)
        on = prob > u
        both = on[:, _HAT_CLOSED] & on[:, _HAT_OPEN]  # a hat is either open or closed
        on[both, np.where(prob[both, _HAT_CLOSED] >= prob[both, _HAT_OPEN], _HAT_OPEN, _HAT_CLOSED)] = False
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
        x = to_mono_sr(audio, sr)
        bpm = float(bpm) if bpm else estimate_tempo(x, 16000)
        bar_sec = 4 * 60.0 / bpm
        n_fit = int((len(x) / 16000 - bar_start) // bar_sec)
        bars = n_fit if bars is None else int(bars)
        if bars <= 0:
            raise ValueError(f"audio too short for one bar at {bpm:.1f} BPM")
        feats = bar_features(x, 16000, bpm, bar_start, bars)  # bars past the end see silence
        return hits_to_midi(self.generate_bars(feats, controls, seed), bpm)


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


def _load_input(path: Path) -> tuple[np.ndarray, int, float | None]:
    """Audio file, or MIDI rendered with fluidsynth (drums removed). Returns audio, sr, file tempo."""
    if path.suffix.lower() in (".mid", ".midi", ".smf"):
        from bandmate.data.midi import read_midi
        from bandmate.data.render import render_songs
        from bandmate.data.sources import SOUNDFONTS

        data = path.read_bytes()
        midi = read_midi(data)
        dur = float(midi.ticks_to_seconds(midi.end_tick())) + 1.0
        audio = render_songs([data], [dur], SOUNDFONTS["FluidR3_GM"])[0]
        return audio, 16000, 60e6 / midi.tempo_map()[0][1]
    import soundfile as sf

    audio, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return audio.T, sr, None


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
