"""Training data for ResonanceEQ's learned cut detector (``bandmate.train.resonance``).

    python -m bandmate.data resonance [--out data_cache/resonance] [--clips 240] [--start 0]

Per clip (seeded by its index): a random MMA groove (``bandmate.data.sources``: random groove,
tempo, key, progression; 16 bars) plus, written here, a solo line (violin, flute, voice, sax...:
the sustained, vibrato-rich partials a resonance detector must leave alone; grooves have few) and,
in half the clips, a held pad (strings, choir, organ: 2..4 s chords), all rendered in stereo by
fluidsynth with MuseScore_General (``musescore-general-soundfont``, MIT), mixed at random levels,
20 s, with 2..7 peaking resonances injected into both
channels (+6..15 dB, Q 10..50, 100 Hz..12 kHz, 1.5..6 s, 20 ms fades, some present from the start).
Saved as ``cNNNN.npz``: ``X`` (frames, G) the engine's main-path features (``features``), ``Y``
(frames, G) float16 the injected filters' response on the grid (dB) while the frame's newest
quarter lies inside the resonance. MMA randomises timing and velocity on every run, so
re-generated audio differs clip by clip (the peaks are seeded).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.signal as ss

from bandmate.data.render import fluidsynth_render_stereo
from bandmate.data.sources import REQUIRED, SOUNDFONTS, mma_grooves, mma_song, render_mma
from bandmate.engines.spectrum import bins_to_grid

FS, NWIN, STRIDE, SECONDS = 48000, 4096, 1024, 20.0
GRID = 20.0 * 2.0 ** (np.arange(int(np.floor(np.log2(1000) * 96)) + 1) / 96)  # the engine's grid at 48 kHz


def peaking(f0: float, gain_db: float, q: float, fs: int = FS) -> tuple[np.ndarray, np.ndarray]:
    """RBJ peaking biquad (b, a)."""
    a = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * f0 / fs
    al = np.sin(w0) / (2 * q)
    b = np.array([1 + al * a, -2 * np.cos(w0), 1 - al * a])
    den = np.array([1 + al / a, -2 * np.cos(w0), 1 - al / a])
    return b / den[0], den / den[0]


def grid_response_db(b: np.ndarray, a: np.ndarray) -> np.ndarray:
    """A filter's gain (dB) at the grid points: an injected resonance's part of the target."""
    return 20 * np.log10(np.abs(ss.freqz(b, a, worN=GRID, fs=FS)[1]))


def features(x: np.ndarray) -> np.ndarray:
    """(channels, n) audio -> (frames, G) float32 log10 channel-mean grid power, frame t ending at
    sample 4096 + 1024 t: what ``ResonanceAnalyzer`` hands the detector (linked stereo, 48 kHz)."""
    frames = (x.shape[1] - NWIN) // STRIDE + 1
    idx = np.arange(NWIN)[None, :] + STRIDE * np.arange(frames)[:, None]
    win = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(NWIN) / NWIN)) / np.sqrt(0.375 * NWIN)
    p = sum(np.abs(np.fft.rfft(x[c][idx] * win, axis=1)) ** 2 for c in range(x.shape[0])) / x.shape[0]
    grid_map = bins_to_grid(np.arange(NWIN // 2 + 1) * FS / NWIN, GRID)
    return np.log10(np.asarray(grid_map @ p.T).T + 1e-12).astype(np.float32)


def frame_ends(frames: int) -> np.ndarray:
    return NWIN + STRIDE * np.arange(frames)


SOLO_PROGRAMS = (40, 41, 42, 52, 53, 54, 56, 57, 60, 64, 65, 66, 68, 69, 70, 71, 72, 73, 74, 75, 22, 80, 81, 85)
PAD_PROGRAMS = (48, 49, 50, 51, 52, 16, 17, 19, 89, 91, 95)


def solo_and_pad_midi(rng: np.random.Generator, seconds: float) -> bytes:
    """A random solo line (a walk on a major scale, 0.2..2 s notes) and, half the time, held pad chords."""
    from bandmate.data.midi import MidiFile, tempo_event, write_midi

    tpq = 480  # at 120 bpm: 960 ticks per second
    ev = [tempo_event(0, 120.0)]
    root = int(rng.integers(0, 12))
    scale = np.array([p for p in range(24, 108) if (p - root) % 12 in (0, 2, 4, 5, 7, 9, 11)])

    def note(ch: int, key: int, t0: float, t1: float, vel: int) -> None:
        ev.append((int(t0 * 960), bytes([0x90 | ch, key, vel])))
        ev.append((max(int(t1 * 960) - 1, int(t0 * 960) + 1), bytes([0x80 | ch, key, 0])))

    ev.append((0, bytes([0xC0, int(rng.choice(SOLO_PROGRAMS))])))
    lo = int(rng.integers(14, 30))  # scale index of the line's lowest note (~C3..C5)
    i, t = lo + 5, float(rng.uniform(0.0, 1.0))
    while t < seconds:
        d = float(rng.choice([0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0]))
        if rng.random() < 0.15:  # a rest
            t += d
            continue
        i = int(np.clip(i + rng.integers(-3, 4), lo, lo + 12))
        note(0, int(scale[i]), t, t + d * float(rng.uniform(0.8, 1.0)), int(rng.integers(60, 115)))
        t += d
    if rng.random() < 0.5:
        ev.append((0, bytes([0xC1, int(rng.choice(PAD_PROGRAMS))])))
        t = 0.0
        while t < seconds:
            d = float(rng.uniform(2.0, 4.0))
            base = int(rng.integers(10, 22))
            for k in (0, 2, 4):
                note(1, int(scale[base + k]), t, t + d, int(rng.integers(50, 90)))
            t += d
    return write_midi(MidiFile(tpq, [ev]))


def _fit(y: np.ndarray, n: int) -> np.ndarray:
    y = y.astype(np.float64)[:, FS // 2 : FS // 2 + n]
    return np.pad(y, ((0, 0), (0, n - y.shape[1])))


def render_clip(rng: np.random.Generator, grooves: list[tuple[str, str]], solo: bool, soundfont: Path) -> np.ndarray:
    n = int(SECONDS * FS)
    lead = np.zeros((2, n))
    if solo:
        lead = _fit(fluidsynth_render_stereo(solo_and_pad_midi(rng, SECONDS + 1.0), soundfont, FS)[0], n)
    for _ in range(10):  # a few grooves need chords the progression lacks: draw again
        style, groove = grooves[int(rng.integers(len(grooves)))]
        try:
            midi = render_mma(mma_song(style, groove, rng, bars=16))
        except RuntimeError:
            continue
        y = _fit(fluidsynth_render_stereo(midi, soundfont, FS)[0], n)
        if np.max(np.abs(y)) > 1e-3:
            rms, rms_lead = np.sqrt(np.mean(y**2)), np.sqrt(np.mean(lead**2))
            if rms_lead > 1e-5:
                y = y + lead * (rms / rms_lead * 10 ** (rng.uniform(-9.0, 3.0) / 20))
            return y / np.max(np.abs(y)) * 0.5
    raise RuntimeError("no groove rendered")


def inject_random(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """x with random resonances, and the target (frames, G): their boost (dB) per frame."""
    n, fade = x.shape[1], int(0.02 * FS)
    ends = frame_ends((n - NWIN) // STRIDE + 1)
    y, target = x.copy(), np.zeros((len(ends), len(GRID)))
    freqs: list[float] = []
    while len(freqs) < int(rng.integers(2, 8)):
        f0 = float(np.exp(rng.uniform(np.log(100), np.log(12000))))
        if all(abs(np.log2(f0 / f)) >= 0.3 for f in freqs):
            freqs.append(f0)
    for f0 in freqs:
        gain, q = float(rng.uniform(6, 15)), float(rng.uniform(10, 50))
        t0 = float(rng.uniform(-1.0, SECONDS - 1.0))
        t1 = min(t0 + float(rng.uniform(1.5, 6.0)), SECONDS)
        i0, i1 = max(0, int(t0 * FS)), int(t1 * FS)
        w = np.zeros(n)
        w[i0:i1] = 1.0
        if t0 > 0:
            w[i0 : i0 + fade] = np.linspace(0, 1, fade)
        w[i1 - fade : i1] = np.linspace(1, 0, fade)
        b, a = peaking(f0, gain, q)
        y = y + w * (ss.lfilter(b, a, y, axis=-1) - y)
        target += w[np.minimum(ends - STRIDE // 2, n - 1)][:, None] * grid_response_db(b, a)[None, :]
    return y, target


def build_resonance(out: Path, clips: int = 240, start: int = 0, solo: bool = True,
                    soundfont: str = "MuseScore_General") -> int:
    """Writes clips [start, clips) that are not there yet; returns how many exist. solo=False: the
    grooves alone (the first generation of the shipped model's data). soundfont: a name in
    ``sources.SOUNDFONTS``."""
    if soundfont not in SOUNDFONTS:
        raise ValueError(f"unknown soundfont {soundfont!r}: one of {', '.join(SOUNDFONTS)}")
    sf = SOUNDFONTS[soundfont]
    if not sf.is_file():
        package = next(k for k, v in REQUIRED.items() if v == str(sf))
        raise FileNotFoundError(f"{sf} missing (apt install {package})")
    out.mkdir(parents=True, exist_ok=True)
    grooves = mma_grooves()
    for i in range(start, clips):
        path = out / f"c{i:04d}.npz"
        if path.exists():
            continue
        rng = np.random.default_rng(1000 + i)
        y, target = inject_random(render_clip(rng, grooves, solo, sf), rng)
        np.savez(path, X=features(y), Y=target.astype(np.float16))
        print(f"clip {i}", flush=True)
    return len(list(out.glob("c*.npz")))
