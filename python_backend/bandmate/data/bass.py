"""BassNet data: bass parts, chord labels and bass-less audio features per 16th step.

    python -m bandmate.data bass [--out data_cache] [--seed 0] [--limit N] [--jobs 2]

Same songs, splits (whole songs / MMA style files held out) and render/feature path as the
DrumNet build (``bandmate.data.build``); the audio is rendered *without* the bass and drums.

Which notes are the bass (``bass_mask``): notes played with a GM bass program (32-39), and
notes of MMA's bass tracks (track names ``Bass…``/``Walk…``, MMA's bass-pattern roles); a
(track, channel) part only counts when its median pitch is low (≤ 57 for GM bass programs,
≤ 48 for MMA roles voiced with other instruments: MMA also uses its Bass pattern for sax or
guitar riffs an octave or two up).

Targets per bar and step (``bass_targets``): onset, pitch (the lowest note starting on the
step, folded by octaves into E1..G3 = MIDI 28..55), length in steps (cut at the next onset:
the line is monophonic), velocity 0..1 and micro-timing offset. Chords per step
(``chord_root`` -1 = none, ``chord_mask`` 12-bit pitch-class set): exact for MMA (the song's
chord symbols, transposed), estimated for real songs from the non-bass, non-drum notes per
half bar (``estimate_chords``: template matching). Drums per step (``drums``, (n, 16, 9) hits
of DrumNet's voices, ``bandmate.data.drums.drum_targets``): BassNet's optional drum input
(``drum_channels``: kick / snare / hats).

Layout: ``OUT/bass/<source>/<name>.npz`` and ``OUT/bass_manifest.json``.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from bandmate import features
from bandmate.data import sources
from bandmate.data.drums import STEPS, drum_targets, four_four_bars
from bandmate.data.midi import MidiFile, Note, read_midi, write_midi

#: BassNet pitch range, E1..G3 (the 4-string bass range up to the 15th fret of the G string)
PITCH_LO, PITCH_HI = 28, 55
N_PITCH = PITCH_HI - PITCH_LO + 1
BASS_PROGRAMS = range(32, 40)
_MMA_ROLE = re.compile(r"^(bass|walk)(\b|[-_])", re.I)
_MAX_MEDIAN_PROGRAM, _MAX_MEDIAN_ROLE = 57, 48

# --------------------------------------------------------------------- chords
#: chord qualities (intervals above the root); matched in this order on ties
CHORD_TYPES = {"": (0, 4, 7), "m": (0, 3, 7), "7": (0, 4, 7, 10), "m7": (0, 3, 7, 10), "maj7": (0, 4, 7, 11),
               "dim": (0, 3, 6)}
#: bump when targets/labels change: cached songs then get new labels without re-rendering audio
LABEL_VERSION = 3
_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_CHORD_RE = re.compile(r"^([A-G])([#b]?)(.*)$")
_MMA_QUALITY = {"": "", "m": "m", "7": "7", "m7": "m7", "maj7": "maj7", "M7": "maj7", "dim": "dim",
                "min": "m", "mi": "m", "-": "m", "6": "", "m6": "m", "9": "7", "m9": "m7"}


def chord_mask(root: int, quality: str) -> int:
    """12-bit pitch-class set (bit k = pitch class k, C = 0) of a chord."""
    return sum(1 << ((root + i) % 12) for i in CHORD_TYPES[quality])


def parse_chord(name: str, transpose: int = 0) -> tuple[int, int]:
    """MMA / lead-sheet chord symbol (``C``, ``Am``, ``Dm7``, ``Cmaj7``, ``Bb7``...) -> (root pc, mask)."""
    m = _CHORD_RE.match(name.strip())
    if not m:
        raise ValueError(f"cannot parse chord {name!r}")
    root = (_PC[m.group(1)] + {"#": 1, "b": -1, "": 0}[m.group(2)] + transpose) % 12
    quality = _MMA_QUALITY.get(m.group(3).split("/")[0])
    if quality is None:
        raise ValueError(f"unknown chord quality in {name!r}")
    return root, chord_mask(root, quality)


def _templates() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    roots, masks, vecs = [], [], []
    for q, ivs in CHORD_TYPES.items():
        for r in range(12):
            v = np.zeros(12)
            v[[(r + i) % 12 for i in ivs]] = 1.0
            roots.append(r)
            masks.append(chord_mask(r, q))
            vecs.append(v / np.linalg.norm(v))
    return np.array(roots), np.array(masks), np.array(vecs)


_T_ROOT, _T_MASK, _T_VEC = _templates()


def match_chord(pc_weights: np.ndarray, min_weight: float = 1e-6) -> tuple[int, int]:
    """Best chord template (cosine) for a pitch-class weight vector (12,) -> (root, mask); (-1, 0) if empty."""
    w = np.asarray(pc_weights, np.float64)
    n = np.linalg.norm(w)
    if n < min_weight:
        return -1, 0
    k = int(np.argmax(_T_VEC @ (w / n)))
    return int(_T_ROOT[k]), int(_T_MASK[k])


def chord_from_chroma(chroma: np.ndarray) -> tuple[int, int]:
    """One bar of step chroma (16, 12) from ``bandmate.features`` -> (root, mask) of the best template.

    Audio-side harmony estimate (used by the baselines in bench/bassnet_eval.py)."""
    c = np.asarray(chroma, np.float64)
    w = np.clip(c - c.mean(axis=1, keepdims=True), 0, None).sum(0)  # pitch classes above each step's mean
    return match_chord(w)


def mma_chords(text: str, n_bars: int) -> tuple[np.ndarray, np.ndarray]:
    """Chord root/mask per (bar, step) from an MMA song written by ``sources.mma_song``."""
    transpose = 0
    chords: dict[int, str] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].lower() == "transpose":
            transpose = int(parts[1])
        elif len(parts) >= 2 and parts[0].isdigit():
            chords[int(parts[0]) - 1] = parts[1]
    root = np.full((n_bars, STEPS), -1, np.int8)
    mask = np.zeros((n_bars, STEPS), np.uint16)
    for b in range(n_bars):
        if b in chords:
            root[b], mask[b] = parse_chord(chords[b], transpose)
    return root, mask


def estimate_chords(notes: list[Note], bars: list[int], tpb: int) -> tuple[np.ndarray, np.ndarray]:
    """Chord root/mask per (bar, step) from (non-bass, non-drum) notes, one chord per half bar.

    Pitch-class weights = note overlap with the window (in steps, lower notes weigh up to 2x);
    a half bar with no notes takes the whole bar's chord, an empty bar the previous chord."""
    n = len(bars)
    root = np.full((n, STEPS), -1, np.int8)
    mask = np.zeros((n, STEPS), np.uint16)
    if not n or not notes:
        return root, mask
    step = tpb / 4.0
    half = 8 * step
    starts = np.array([x.start for x in notes], np.float64)
    ends = np.array([x.end for x in notes], np.float64)
    pcs = np.array([x.pitch % 12 for x in notes])
    weight = 1.0 + np.clip((72 - np.array([x.pitch for x in notes])) / 24.0, 0, 1)
    prev = (-1, 0)
    for b, t0 in enumerate(bars):
        w = np.zeros((2, 12))
        for h in range(2):
            a, z = t0 + h * half, t0 + (h + 1) * half
            ov = np.clip(np.minimum(ends, z) - np.maximum(starts, a), 0, None) / step
            np.add.at(w[h], pcs, ov * weight)
        whole = match_chord(w.sum(0))
        if whole[0] < 0:
            whole = prev
        for h in range(2):
            ch = match_chord(w[h]) if w[h].sum() >= 2.0 else whole  # need >= 2 steps of notes
            if ch[0] < 0:
                ch = whole
            root[b, 8 * h : 8 * h + 8], mask[b, 8 * h : 8 * h + 8] = ch
        prev = whole
    return root, mask


#: BassNet's drum input channels per 16th step, and the DrumNet voices (VOICE_NAMES) each one pools
DRUM_CHANNELS = ("kick", "snare", "hats")
_DRUM_VOICES = ((0,), (1,), (2, 3, 8))  # kick; snare; closed hat, open hat, ride


def drum_channels(hits: np.ndarray) -> np.ndarray:
    """(..., 16, 9) DrumNet voice hits -> (..., 16, 3) float32 kick / snare / hat onsets (0/1)."""
    h = np.asarray(hits)
    if h.shape[-2:] != (STEPS, 9):
        raise ValueError(f"drum hits must be (..., {STEPS}, 9), got {h.shape}")
    return np.stack([h[..., list(v)].max(-1) > 0 for v in _DRUM_VOICES], -1).astype(np.float32)


def in_chord(pitch: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Whether each pitch's pitch class is in the matching 12-bit chord mask."""
    return ((np.asarray(mask).astype(np.int64) >> (np.asarray(pitch).astype(np.int64) % 12)) & 1).astype(bool)


# ----------------------------------------------------------------- bass parts
def _program_timeline(midi: MidiFile) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """channel -> (ticks, programs) of its program changes (GM program 0 before the first)."""
    ev: dict[int, list[tuple[int, int]]] = {}
    for tr in midi.tracks:
        for t, m in tr:
            if m[0] & 0xF0 == 0xC0 and len(m) > 1:
                ev.setdefault(m[0] & 0x0F, []).append((t, m[1]))
    out = {}
    for ch, lst in ev.items():
        lst.sort(key=lambda e: e[0])
        out[ch] = (np.array([0] + [t for t, _ in lst]), np.array([0] + [p for _, p in lst]))
    return out


def _program_at(tl, channel: int, ticks: np.ndarray) -> np.ndarray:
    if channel not in tl:
        return np.zeros(len(ticks), int)
    t, p = tl[channel]
    return p[np.searchsorted(t, ticks, side="right") - 1]


def bass_mask(midi: MidiFile, mma_roles: bool = False) -> tuple[list[Note], np.ndarray]:
    """All notes of the song and which of them are bass (see the module docstring)."""
    notes = midi.notes()
    is_bass = np.zeros(len(notes), bool)
    if not notes:
        return notes, is_bass
    tl = _program_timeline(midi)
    roles = {i for i in range(len(midi.tracks)) if mma_roles and _MMA_ROLE.match(midi.track_name(i))}
    groups: dict[tuple[int, int], list[int]] = {}
    for i, n in enumerate(notes):
        if n.channel != 9:
            groups.setdefault((n.track, n.channel), []).append(i)
    for (track, ch), idx in groups.items():
        idx = np.array(idx)
        prog = _program_at(tl, ch, np.array([notes[i].start for i in idx]))
        by_prog = (prog >= BASS_PROGRAMS.start) & (prog < BASS_PROGRAMS.stop)
        cand = by_prog | (track in roles)
        if not cand.any():
            continue
        median = np.median([notes[i].pitch for i in idx[cand]])
        limit = _MAX_MEDIAN_PROGRAM if by_prog[cand].mean() >= 0.5 else _MAX_MEDIAN_ROLE
        if median <= limit:
            is_bass[idx[cand]] = True
    return notes, is_bass


def strip_notes(midi: MidiFile, notes: list[Note], drop: np.ndarray) -> bytes:
    """The MIDI without the note-on/off events of ``notes[drop]`` (everything else kept)."""
    gone: dict[int, set[tuple[int, int, int]]] = {}  # track -> {(tick, channel, pitch)} of ons and offs
    for n, d in zip(notes, drop, strict=True):
        if d:
            s = gone.setdefault(n.track, set())
            s.add((n.start, n.channel, n.pitch))
            s.add((n.end, n.channel, n.pitch))
    tracks = []
    for ti, tr in enumerate(midi.tracks):
        g = gone.get(ti)
        if not g:
            tracks.append(tr)
            continue
        keep = []
        for t, m in tr:
            if (m[0] & 0xF0) in (0x80, 0x90) and len(m) >= 3 and (t, m[0] & 0x0F, m[1]) in g:
                continue
            keep.append((t, m))
        tracks.append(keep)
    return write_midi(MidiFile(midi.tpb, tracks))


def strip_bass(data: bytes, mma_roles: bool = False) -> bytes:
    """MIDI bytes -> the same MIDI without its bass part (for rendering the accompaniment)."""
    midi = read_midi(data)
    notes, is_bass = bass_mask(midi, mma_roles)
    return strip_notes(midi, notes, is_bass) if is_bass.any() else data


def fold_pitch(p: np.ndarray | int) -> np.ndarray:
    """Octave-fold MIDI pitches into PITCH_LO..PITCH_HI."""
    p = np.asarray(p, np.int64)
    p = p + 12 * np.ceil(np.clip(PITCH_LO - p, 0, None) / 12).astype(np.int64)
    return p - 12 * np.ceil(np.clip(p - PITCH_HI, 0, None) / 12).astype(np.int64)


def bass_targets(notes: list[Note], bars: list[int], tpb: int) -> dict[str, np.ndarray]:
    """Quantise bass notes onto the 16th grid of ``bars`` (each (n_bars, 16)).

    onset uint8; pitch uint8 (folded into 28..55, 0 = no onset); length float32 in steps,
    cut at the next onset; velocity 0..1; offset (played - grid, in steps, -0.5..0.5).
    Several notes on one step: the lowest wins (ties: the loudest)."""
    n = len(bars)
    out = {"onset": np.zeros((n, STEPS), np.uint8), "pitch": np.zeros((n, STEPS), np.uint8),
           "length": np.zeros((n, STEPS), np.float32), "velocity": np.zeros((n, STEPS), np.float32),
           "offset": np.zeros((n, STEPS), np.float32)}
    if not n or not notes:
        return out
    step = tpb / 4.0
    bar_arr = np.asarray(bars)
    chosen: dict[tuple[int, int], Note] = {}
    for note in notes:
        b = int(np.searchsorted(bar_arr, note.start + step / 2, side="right")) - 1
        if b < 0:
            continue
        s = int(np.floor((note.start - bar_arr[b]) / step + 0.5))
        if s >= STEPS:
            continue
        old = chosen.get((b, s))
        if old is None or (note.pitch, -note.velocity) < (old.pitch, -old.velocity):
            chosen[(b, s)] = note
    # next onset (any bass note, even in a skipped bar) cuts the length: monophonic line
    all_starts = np.unique([x.start for x in notes])
    for (b, s), note in chosen.items():
        grid = bar_arr[b] + s * step
        nxt = all_starts[np.searchsorted(all_starts, note.start, side="right"):]
        end = min(note.end, nxt[0]) if len(nxt) else note.end
        out["onset"][b, s] = 1
        out["pitch"][b, s] = int(fold_pitch(note.pitch))
        out["length"][b, s] = max(end - grid, step / 8) / step
        out["velocity"][b, s] = note.velocity / 127
        out["offset"][b, s] = np.clip((note.start - grid) / step, -0.5, 0.5)
    return out


def gate_targets(onset: np.ndarray, length: np.ndarray, song: np.ndarray | None = None) -> tuple[np.ndarray,
                                                                                                np.ndarray]:
    """Inter-onset interval (steps, to the next onset of the same song, at most 16) and gate
    = length / interval (0..1) for each onset of (n, 16) arrays; 0 elsewhere."""
    n = len(onset)
    song = np.zeros(n, int) if song is None else np.asarray(song)
    flat = onset.reshape(-1).astype(bool)
    pos = np.nonzero(flat)[0]
    ioi = np.zeros(n * STEPS, np.float32)
    if len(pos):
        s_of = song[pos // STEPS]
        nxt = np.r_[pos[1:], pos[-1] + STEPS]
        nxt = np.where(np.r_[s_of[1:] == s_of[:-1], False], nxt, (pos // STEPS + 1) * STEPS)
        ioi[pos] = np.minimum(nxt - pos, STEPS)
    ioi = ioi.reshape(n, STEPS)
    gate = np.where(ioi > 0, np.clip(length / np.maximum(ioi, 1), 0, 1), 0).astype(np.float32)
    return ioi, gate


# ------------------------------------------------------------------- controls
#: BassNet controls that are percentiles of a bar statistic (variation is runtime only)
CONTROL_NAMES = ("density", "register", "clarity", "timbre")


def control_stats(onset: np.ndarray, pitch: np.ndarray, gate: np.ndarray, velocity: np.ndarray) -> dict:
    """Per bar of (n, 16) targets: notes per bar (density), mean pitch (register), mean gate =
    length / inter-onset interval (clarity), mean velocity (timbre); 0 for empty bars."""
    on = np.asarray(onset).astype(bool)
    n = on.sum(1)
    k = np.maximum(n, 1)
    return {"density": n.astype(np.float64), "register": (pitch * on).sum(1) / k, "clarity": (gate * on).sum(1) / k,
            "timbre": (velocity * on).sum(1) / k}


def weighted_percentile(values: np.ndarray, ref: np.ndarray, weights: np.ndarray,
                        rng: np.random.Generator | None = None) -> np.ndarray:
    """Weighted empirical CDF of ``values`` among ``ref``; ties spread uniformly (rng) or at mid-rank."""
    order = np.argsort(ref, kind="stable")
    r = np.asarray(ref)[order]
    cw = np.concatenate([[0.0], np.cumsum(np.asarray(weights, np.float64)[order])])
    cw /= cw[-1]
    lo, hi = cw[np.searchsorted(r, values, "left")], cw[np.searchsorted(r, values, "right")]
    u = rng.random(len(values)) if rng is not None else 0.5
    return (lo + (hi - lo) * u).astype(np.float32)


def reference_weights(is_real: np.ndarray, real_weight: float = 0.5) -> np.ndarray:
    """Per-bar weights of the training mixture: real-song bars weigh ``real_weight`` in all."""
    is_real = np.asarray(is_real, bool)
    w = np.where(is_real, real_weight / max(is_real.sum(), 1), (1 - real_weight) / max((~is_real).sum(), 1))
    return w / w.sum()


# ---------------------------------------------------------------------- build
def analyse(song: sources.Song) -> dict | str:
    """MIDI -> bass-less MIDI, bar grid (seconds), bass targets, chords; or the reason to skip."""
    from bandmate.data.build import MMA_BARS

    midi = read_midi(song.midi)
    bars = four_four_bars(midi)
    if song.source == "mma":
        bars = bars[:MMA_BARS]
    if not bars:
        return "no 4/4 bars"
    notes, is_bass = bass_mask(midi, mma_roles=song.source == "mma")
    bass = [n for n, b in zip(notes, is_bass, strict=True) if b]
    other = [n for n, b in zip(notes, is_bass, strict=True) if not b and n.channel != 9]
    if not bass:
        return "no bass part"
    if not other:
        return "no non-bass pitched parts"
    tg = bass_targets(bass, bars, midi.tpb)
    if tg["onset"].sum() < 4:
        return "bass part not in 4/4 bars"
    if song.source == "mma":
        root, mask = mma_chords(song.mma_text, len(bars))
        est = estimate_chords(other, bars, midi.tpb)
    else:
        root, mask = estimate_chords(other, bars, midi.tpb)
        est = None
    bar_len = midi.tpb * 4
    ticks = (np.asarray(bars)[:, None] + np.arange(17)[None, :] * bar_len / 16).astype(np.float64)
    bounds = midi.ticks_to_seconds(ticks.ravel()).reshape(-1, 17)
    stripped = strip_notes(midi, notes, is_bass)
    dur = float(max(bounds[-1, -1], midi.ticks_to_seconds(max(n.end for n in other)))) + 0.5
    return {**tg, "chord_root": root, "chord_mask": mask, "drums": drum_targets(midi, bars)[0], "est": est,
            "bounds": bounds, "duration": dur, "stripped": stripped, "bpm": round(60e6 / midi.tempo_map()[0][1], 2)}


def _soundfont_for(song_id: str) -> str:
    names = list(sources.SOUNDFONTS)
    return names[int(hashlib.sha1(song_id.encode()).hexdigest()[:8], 16) % len(names)]


def build_bass(out: Path, seed: int = 0, limit: int | None = None, jobs: int = 2) -> dict:
    """Render (without bass and drums), featurise and label every song with a bass part."""
    from bandmate.data import build as B

    sources.require_packages()
    t0 = time.time()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    songs = B.collect_songs(seed, limit, jobs, midi_cache=out / "midi")
    entries, skipped, todo = [], [], {name: [] for name in sources.SOUNDFONTS}
    est_ok = est_tot = 0.0
    for _, song, meta, info in B.analysed_songs(songs, analyse, skipped):
        if info["est"] is not None:  # how often the note-based estimate finds MMA's chord root
            est_ok += float((info["est"][0] == info["chord_root"]).sum())
            est_tot += info["chord_root"].size
        sf_name = _soundfont_for(song.id)
        key = B._cache_key(sources.Song(song.id, song.source, song.origin, info["stripped"]), sf_name)
        path = out / "bass" / f"{song.id}.npz"
        entries.append({"id": song.id, "source": song.source, "origin": song.origin,
                        "licence": sources.LICENCES[song.source], "soundfont": sf_name,
                        "n_bars": len(info["onset"]), "bpm": info["bpm"], "file": str(path.relative_to(out)),
                        "key": key, **meta})
        cached = np.load(path) if path.exists() else None
        if cached is None or str(cached["key"]) != key:
            todo[sf_name].append((info, path, key, False))
        elif int(cached.get("label_version", 0)) != LABEL_VERSION:  # same audio, new labels
            _save(path, cached["features"], info, key)
        if song.source != "mma":  # real songs: also the other soundfont (training augmentation)
            alt_sf = next(n for n in sources.SOUNDFONTS if n != sf_name)
            alt_key = B._cache_key(sources.Song(song.id, song.source, song.origin, info["stripped"]), alt_sf)
            alt_path = out / "bass_alt" / f"{song.id}.npz"
            entries[-1]["file_alt"] = str(alt_path.relative_to(out))
            if not (alt_path.exists() and str(np.load(alt_path)["key"]) == alt_key):
                todo[alt_sf].append((info, alt_path, alt_key, True))
    batches = B.render_batches(todo, lambda item: item[0]["duration"])
    prog = B.Progress(sum(len(b) for _, b in batches), "render")

    def render(batch):
        sf_name, items = batch
        audios = B.render_songs([i["stripped"] for i, *_ in items], [i["duration"] for i, *_ in items],
                                sources.SOUNDFONTS[sf_name])
        for (info, path, key, alt), audio in zip(items, audios, strict=True):
            feats = B.song_features(audio, info["bounds"])
            if alt:  # features only; the targets are the main file's
                path.parent.mkdir(parents=True, exist_ok=True)
                np.savez_compressed(path, features=feats.astype(np.float16), key=key)
            else:
                _save(path, feats, info, key)
            prog.update()

    with ThreadPoolExecutor(jobs) as ex:
        list(ex.map(render, batches))
    manifest = {
        "dataset": "BassNet training data (bandmate.data.bass)", "seed": seed, "limit": limit,
        "sample_rate": features.SR, "feature_version": features.FEATURE_VERSION,
        "feature_names": features.FEATURE_NAMES, "pitch_range": [PITCH_LO, PITCH_HI], "label_version": LABEL_VERSION,
        "chord_types": {k: list(v) for k, v in CHORD_TYPES.items()},
        "chord_estimate_root_agreement_on_mma": round(est_ok / max(est_tot, 1), 4),
        "licences": sources.LICENCES, "soundfonts": {k: str(v) for k, v in sources.SOUNDFONTS.items()},
        "songs": entries, "skipped": skipped, "build_seconds": round(time.time() - t0, 1),
        "counts": {s: {src: sum(e["n_bars"] for e in entries if e["split"] == s and e["source"] == src)
                       for src in ("mma", "openmsx", "freedoom")} for s in ("train", "val", "test")},
    }
    (out / "bass_manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def _save(path: Path, feats: np.ndarray, info: dict, key: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, features=feats.astype(np.float16), onset=info["onset"], pitch=info["pitch"],
                        length=info["length"].astype(np.float16), velocity=info["velocity"].astype(np.float16),
                        offset=info["offset"].astype(np.float16), chord_root=info["chord_root"],
                        chord_mask=info["chord_mask"], drums=info["drums"], key=key, label_version=LABEL_VERSION)


BASS_KEYS = ("features", "onset", "pitch", "length", "velocity", "offset", "chord_root", "chord_mask", "drums")


def load_bass_split(out: Path, split: str, sources_: tuple[str, ...] = ("mma", "openmsx", "freedoom")) -> dict:
    """Concatenate one split of the BassNet cache: every array per bar, plus ``song`` (index per
    bar into ``songs``), ``bar`` (bar index within its song) and ``features_alt`` (real songs
    rendered with the other soundfont; a copy of ``features`` for MMA songs)."""
    man = json.loads((Path(out) / "bass_manifest.json").read_text())
    songs = [e for e in man["songs"] if e["split"] == split and e["source"] in sources_]
    parts: dict[str, list] = {k: [] for k in (*BASS_KEYS, "features_alt", "song", "bar")}
    for i, e in enumerate(songs):
        z = np.load(Path(out) / e["file"])
        for k in BASS_KEYS:
            parts[k].append(z[k].astype(np.float32) if z[k].dtype == np.float16 else z[k])
        alt = Path(out) / e.get("file_alt", e["file"])
        parts["features_alt"].append(np.load(alt)["features"].astype(np.float32) if alt.exists()
                                     else parts["features"][-1])
        parts["song"].append(np.full(len(z["onset"]), i))
        parts["bar"].append(np.arange(len(z["onset"])))
    res = {k: np.concatenate(v) if v else np.zeros((0,)) for k, v in parts.items()}
    res["songs"] = songs
    return res
