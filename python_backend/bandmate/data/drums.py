"""The 9 DrumNet voices, GM drum-note folding and 16th-step quantisation of drum tracks."""

from __future__ import annotations

import numpy as np

from bandmate.data.midi import MidiFile

STEPS = 16
#: voice order of every DrumNet array: kick, snare, closed hat, open hat, low/mid/high tom, crash, ride
VOICE_NAMES = ("kick", "snare", "hat_closed", "hat_open", "tom_low", "tom_mid", "tom_high", "crash", "ride")
VOICE_NOTES = (36, 38, 42, 46, 45, 47, 50, 49, 51)
N_VOICES = len(VOICE_NOTES)
# GM percussion key -> voice index (unlisted keys, e.g. latin percussion, are dropped)
GM_TO_VOICE = {35: 0, 36: 0, 37: 1, 38: 1, 39: 1, 40: 1, 42: 2, 44: 2, 54: 2, 69: 2, 70: 2, 46: 3, 41: 4, 43: 4,
               45: 5, 47: 5, 48: 6, 50: 6, 49: 7, 52: 7, 55: 7, 57: 7, 51: 8, 53: 8, 59: 8, 56: 8}


def four_four_bars(midi: MidiFile) -> list[int]:
    """Start ticks of the song's 4/4 bars (bars in other meters are skipped but advance the grid)."""
    end = midi.end_tick()
    ts = midi.time_signatures() + [(end + 1, 4, 4)]
    bars = []
    for (t0, num, den), (t1, _, _) in zip(ts[:-1], ts[1:], strict=True):
        bar_len = midi.tpb * 4 * num // den
        if bar_len <= 0:
            continue
        for t in range(t0, min(t1, end), bar_len):
            if num == 4 and den == 4 and t + bar_len <= end + bar_len // 2:
                bars.append(t)
    return bars


def drum_targets(midi: MidiFile, bars: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quantise channel-10 notes onto the 16th grid of ``bars``.

    Returns hits (n_bars, 16, 9) uint8, velocity (0..1) and offset (fraction of a step,
    -0.5..0.5: the played time minus the grid time) as float32; several notes folding
    onto one cell keep the loudest.
    """
    n = len(bars)
    hits = np.zeros((n, STEPS, N_VOICES), np.uint8)
    vel = np.zeros((n, STEPS, N_VOICES), np.float32)
    off = np.zeros((n, STEPS, N_VOICES), np.float32)
    if not n:
        return hits, vel, off
    step_ticks = midi.tpb / 4.0
    bar_arr = np.asarray(bars)
    for note in midi.notes():
        v = GM_TO_VOICE.get(note.pitch)
        if note.channel != 9 or v is None:
            continue
        b = int(np.searchsorted(bar_arr, note.start + step_ticks / 2, side="right")) - 1
        if b < 0:
            continue
        pos = (note.start - bar_arr[b]) / step_ticks
        s = int(np.floor(pos + 0.5))
        if s >= STEPS:  # in a skipped (non-4/4) bar
            continue
        if note.velocity / 127 > vel[b, s, v]:
            hits[b, s, v] = 1
            vel[b, s, v] = note.velocity / 127
            off[b, s, v] = pos - s
    return hits, vel, off


def pattern_entropy(hits: np.ndarray) -> np.ndarray:
    """Complexity of (..., 16, 9) hit patterns: entropy (bits, 0..4) of the distribution of
    the 16 step-columns (which voices play together); 0 for an empty or constant bar."""
    h = hits.astype(bool)
    cols = np.packbits(h, axis=-1, bitorder="little").astype(np.int64)  # (..., 16, 2)
    col_id = cols[..., 0] + 256 * cols[..., 1]  # (..., 16)
    out = np.zeros(h.shape[:-2])
    for idx in np.ndindex(*out.shape):
        _, counts = np.unique(col_id[idx], return_counts=True)
        p = counts / counts.sum()
        out[idx] = -(p * np.log2(p)).sum()
    return out
