"""Helpers shared by the generator runtimes (DrumNet, BassNet): model lookup, input loading,
``key=value`` controls on the command line."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path

import numpy as np

MODEL_DIR = Path(__file__).resolve().parents[3] / "onnx_models"


class UnitControls:
    """Base of the generators' control dataclasses: every field is a float in [0, 1]
    (the plugins' host-facing normalised range); anything else is a ValueError."""

    def __post_init__(self):
        for f in fields(self):
            v = float(getattr(self, f.name))
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{type(self).__name__}.{f.name} must be in [0, 1], got {v}")
            setattr(self, f.name, v)

    @classmethod
    def from_params(cls, params: Mapping[str, float]):
        """The controls from the plugin parameters of the same names (the specs use them)."""
        return cls(**{f.name: params[f.name] for f in fields(cls)})


def audio_bars(audio: np.ndarray, sr: int, bpm: float | None, bars: int | None, bar_start: float
               ) -> tuple[np.ndarray, float]:
    """Audio -> ((bars, 16, F) per-step features, bpm). The tempo is estimated when ``bpm`` is None;
    ``bars`` None: all full bars from ``bar_start`` (seconds); bars past the end see silence."""
    from bandmate.features import bar_features, estimate_tempo, to_mono_sr

    x = to_mono_sr(audio, sr)
    bpm = float(bpm) if bpm else estimate_tempo(x, 16000)
    n_fit = int((len(x) / 16000 - bar_start) // (4 * 60.0 / bpm))
    bars = n_fit if bars is None else int(bars)
    if bars <= 0:
        raise ValueError(f"audio too short for one bar at {bpm:.1f} BPM")
    return bar_features(x, 16000, bpm, bar_start, bars), bpm


def with_prev(feats: np.ndarray, song: np.ndarray) -> np.ndarray:
    """(n, 16, F) bars -> (n, 2, 16, F) previous + current (zeros at a song's first bar)."""
    prev = np.concatenate([np.zeros_like(feats[:1]), feats[:-1]])
    prev[np.r_[True, song[1:] != song[:-1]]] = 0.0
    return np.stack([prev, feats], 1)


def f1(pred: np.ndarray, true: np.ndarray) -> float:
    """F1 of boolean onset grids (1.0 when both are empty)."""
    tp = float((pred & true).sum())
    den = float(pred.sum() + true.sum())
    return 2 * tp / den if den else 1.0


def onnx_session(name: str, model_path: str | Path | None, env: str, default: Path, threads: int = 1):
    """An onnxruntime CPU session for ``model_path``, else $``env``, else ``default``; a clear
    FileNotFoundError naming the retrain command when the file is missing."""
    path = Path(model_path or os.environ.get(env) or default)
    if not path.is_file():
        raise FileNotFoundError(
            f"{name} model not found: {path} (ship onnx_models/{default.name} or retrain with "
            f"`python -m bandmate.train {name.lower()}`; {env} overrides the path)")
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"]), path


def load_input(path: Path, without_bass: bool = False) -> tuple[np.ndarray, int, float | None]:
    """Audio file, or MIDI rendered with fluidsynth (drums removed; with ``without_bass`` also the
    bass part, see bandmate.data.bass.strip_bass). Returns audio, sample rate, the MIDI's tempo."""
    path = Path(path)
    if path.suffix.lower() in (".mid", ".midi", ".smf"):
        from bandmate.data.midi import read_midi
        from bandmate.data.render import render_songs
        from bandmate.data.sources import SOUNDFONTS

        data = path.read_bytes()
        if without_bass:
            from bandmate.data.bass import strip_bass

            data = strip_bass(data, mma_roles=True)
        midi = read_midi(data)
        dur = float(midi.ticks_to_seconds(midi.end_tick())) + 1.0
        audio = render_songs([data], [dur], SOUNDFONTS["FluidR3_GM"])[0]
        return audio, 16000, 60e6 / midi.tempo_map()[0][1]
    import soundfile as sf

    audio, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return audio.T, sr, None


def parse_controls(ap: argparse.ArgumentParser, pairs: list[str], cls) -> dict[str, float]:
    """``["density=0.7", ...]`` -> keyword arguments of the controls dataclass ``cls`` (errors via ``ap``)."""
    names = {f.name for f in fields(cls)}
    kw = {}
    for kv in pairs:
        key, _, value = kv.partition("=")
        if key not in names or not value:
            ap.error(f"bad control {kv!r} (keys: {', '.join(sorted(names))})")
        try:
            kw[key] = float(value)
        except ValueError:
            ap.error(f"bad control value {kv!r}")
    try:
        cls(**kw)
    except ValueError as e:
        ap.error(str(e))
    return kw
