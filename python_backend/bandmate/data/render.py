"""Render the non-drum parts of many songs with fluidsynth, batched into one MIDI per call.

Loading a soundfont costs up to seconds (MuseScore's .sf3 decodes Vorbis on load), so
songs are flattened to absolute time and concatenated with a gap and a channel reset in
between; the rendered file is then cut back into songs.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from bandmate.data.midi import MidiFile, read_midi, tempo_event, write_midi
from bandmate.features import SR, to_mono_sr

GAP = 1.5  # seconds of silence (and reverb tail) between songs
TICKS_PER_SEC = 1000  # output MIDI: tpb 480 at 125 BPM -> 1 tick = 1 ms


def fluidsynth_render(midi_bytes: bytes, soundfont: Path, sr: int = SR, gain: float = 0.5) -> np.ndarray:
    """MIDI bytes -> mono float32 audio at ``SR`` (fluidsynth renders stereo at ``sr``)."""
    return to_mono_sr(*fluidsynth_render_stereo(midi_bytes, soundfont, sr, gain))


def fluidsynth_render_stereo(midi_bytes: bytes, soundfont: Path, sr: int, gain: float = 0.5) -> tuple[np.ndarray, int]:
    """MIDI bytes -> ((2, n) float32 audio, its sample rate) as fluidsynth rendered it."""
    with tempfile.TemporaryDirectory() as d:
        mid, wav = Path(d) / "in.mid", Path(d) / "out.wav"
        mid.write_bytes(midi_bytes)
        cmd = ["fluidsynth", "-ni", "-q", "-g", str(gain), "-r", str(sr), "-F", str(wav), str(soundfont), str(mid)]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        if r.returncode or not wav.exists():
            raise RuntimeError(f"fluidsynth failed ({r.returncode}): {r.stderr[-500:]}")
        audio, file_sr = sf.read(str(wav), dtype="float32", always_2d=True)
    return audio.T, file_sr


def _without_drums(midi: MidiFile) -> list[tuple[float, bytes]]:
    """Channel messages in seconds, drum channel (10) removed, meta/sysex dropped."""
    evs = [(t, m) for tr in midi.tracks for t, m in tr if 0x80 <= m[0] < 0xF0 and (m[0] & 0x0F) != 9]
    if not evs:
        return []
    secs = midi.ticks_to_seconds([t for t, _ in evs])
    return [(float(s), m) for s, (_, m) in zip(secs, evs, strict=True)]


def _reset(tick: int) -> list[tuple[int, bytes]]:
    out = []
    for ch in range(16):
        if ch == 9:
            continue
        s = 0xB0 | ch
        out += [(tick, bytes([s, 120, 0])), (tick, bytes([s, 121, 0])), (tick, bytes([s, 7, 100])),
                (tick, bytes([s, 10, 64])), (tick, bytes([s, 91, 40])), (tick, bytes([s, 93, 0])),
                (tick, bytes([0xC0 | ch, 0])), (tick, bytes([0xE0 | ch, 0, 64]))]
    return out


def render_songs(midis: list[bytes], durations: list[float], soundfont: Path) -> list[np.ndarray]:
    """Render the non-drum parts of each MIDI for ``durations[i]`` seconds (one fluidsynth call)."""
    events: list[tuple[int, bytes]] = [tempo_event(0, 125.0)]
    starts, t = [], GAP
    for data, dur in zip(midis, durations, strict=True):
        events += _reset(int((t - GAP / 2) * TICKS_PER_SEC))
        starts.append(t)
        events += [(int(round((t + s) * TICKS_PER_SEC)), m) for s, m in _without_drums(read_midi(data)) if s < dur]
        end_tick = int(round((t + dur) * TICKS_PER_SEC))
        events += [(end_tick, bytes([0xB0 | ch, 123, 0])) for ch in range(16)]  # all notes off at the cut
        t += dur + GAP
    events.append((int(t * TICKS_PER_SEC), b"\xff\x01end"))
    audio = fluidsynth_render(write_midi(MidiFile(480, [events])), soundfont)
    out = []
    for s, dur in zip(starts, durations, strict=True):
        a, b = int(round(s * SR)), int(round((s + dur) * SR))
        seg = audio[a:b]
        out.append(np.pad(seg, (0, max(0, b - a - len(seg)))))
    return out
