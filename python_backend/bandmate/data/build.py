"""Build the DrumNet dataset cache: per song, per-16th-step audio features + drum targets.

    python -m bandmate.data build [--out data_cache] [--seed 0] [--limit N] [--jobs 2]

Layout: ``OUT/songs/<source>/<name>.npz`` (features (bars,16,F) float16, hits uint8,
velocity/offset float16, all (bars,16,9)) and ``OUT/manifest.json`` (provenance, licences,
splits). Splits hold out whole songs (MMA: whole style files). Cached songs are reused
when their MIDI, soundfont and feature version are unchanged.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from bandmate import features
from bandmate.data import drums, sources
from bandmate.data.midi import read_midi
from bandmate.data.render import render_songs

BATCH_SECONDS = 600.0  # audio per fluidsynth call
MMA_BARS = 8


class Progress:
    """Minimal progress bar on stderr."""

    def __init__(self, total: int, label: str):
        self.total, self.label, self.n, self.t0, self.shown = max(total, 1), label, 0, time.time(), 0.0

    def update(self, k: int = 1) -> None:
        self.n += k
        if self.n < self.total and time.time() - self.shown < 0.5:
            return
        self.shown = time.time()
        frac = self.n / self.total
        bar = "#" * int(30 * frac)
        sys.stderr.write(f"\r{self.label:>10} [{bar:<30}] {self.n}/{self.total} {time.time() - self.t0:5.0f}s")
        if self.n >= self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _split_of(key: str, seed: int, fractions=(0.7, 0.15)) -> str:
    u = int(hashlib.sha1(f"{seed}:{key}".encode()).hexdigest()[:8], 16) / 2**32
    return "train" if u < fractions[0] else "val" if u < fractions[0] + fractions[1] else "test"


def analysed_songs(songs: list[tuple[sources.Song, dict]], analyse: Callable[[sources.Song], dict | str],
                   skipped: list[dict]) -> Iterator[tuple[int, sources.Song, dict, dict]]:
    """(index, song, metadata, analysis) of the songs that were rendered and analysed; the others are added
    to ``skipped`` with the reason (``analyse`` returns a string to skip a song)."""
    for i, (song, meta) in enumerate(songs):
        if song.midi is None:
            skipped.append({"id": song.id, "reason": meta.get("skip", "render failed")})
            continue
        info = analyse(song)
        if isinstance(info, str):
            skipped.append({"id": song.id, "reason": info})
            continue
        yield i, song, meta, info


def render_batches(todo: dict[str, list], duration: Callable[[object], float]) -> list[tuple[str, list]]:
    """(soundfont, items) batches of at most ~BATCH_SECONDS of music each (one fluidsynth run per
    batch); ``duration(item)`` gives an item's length in seconds."""
    batches = []
    for sf_name, items in todo.items():
        cur, dur = [], 0.0
        for item in items:
            cur.append(item)
            dur += duration(item)
            if dur > BATCH_SECONDS:
                batches.append((sf_name, cur))
                cur, dur = [], 0.0
        if cur:
            batches.append((sf_name, cur))
    return batches


def collect_songs(seed: int, limit: int | None, jobs: int,
                  midi_cache: Path | None = None) -> list[tuple[sources.Song, dict]]:
    """All songs with their metadata; MMA songs are rendered to MIDI here (``mma``), and kept
    in ``midi_cache/<sha1 of the MMA text>.mid`` when given (shared by the DrumNet and BassNet builds)."""
    grooves = sources.mma_grooves()
    if limit:
        grooves = [grooves[i] for i in np.random.default_rng(seed).permutation(len(grooves))[:limit]]
    songs = []
    for style, groove in grooves:
        rng = np.random.default_rng([seed, int(hashlib.sha1(f"{style}:{groove}".encode()).hexdigest()[:8], 16)])
        text = sources.mma_song(style, groove, rng, MMA_BARS)
        meta = {"split": _split_of(style, seed, (0.85, 0.1)), "mma_style": style, "mma_groove": groove,
                "mma_song": text.splitlines()[:2] + text.splitlines()[4:]}
        songs.append((sources.Song(f"mma/{Path(style).stem}_{groove}", "mma", f"{style}:{groove}", None, text), meta))
    prog = Progress(len(songs), "mma")

    def run(item):
        song, _ = item
        cached = midi_cache / f"{hashlib.sha1(song.mma_text.encode()).hexdigest()}.mid" if midi_cache else None
        try:
            if cached is not None and cached.exists():
                song.midi = cached.read_bytes()
            else:
                song.midi = sources.render_mma(song.mma_text)
                if cached is not None:
                    cached.parent.mkdir(parents=True, exist_ok=True)
                    cached.write_bytes(song.midi)
        except RuntimeError as e:
            song.midi = None
            item[1]["skip"] = str(e)[:200]
        prog.update()

    with ThreadPoolExecutor(jobs) as ex:
        list(ex.map(run, songs))
    real = sources.openmsx_songs() + sources.freedoom_songs()
    if limit:
        real = [real[i] for i in sorted(np.random.default_rng(seed).permutation(len(real))[:limit])]
    songs += [(s, {"split": _split_of(s.id, seed)}) for s in real]
    return songs


def analyse(song: sources.Song) -> dict | str:
    """MIDI -> bar grid, step boundaries (seconds), drum targets; or the reason to skip."""
    midi = read_midi(song.midi)
    bars = drums.four_four_bars(midi)
    if song.source == "mma":
        bars = bars[:MMA_BARS]
    hits, vel, off = drums.drum_targets(midi, bars)
    if hits.sum() == 0:
        return "no drums in 4/4 bars"
    notes = [n for n in midi.notes() if n.channel != 9]
    if not notes:
        return "no pitched parts"
    bar_len = midi.tpb * 4
    ticks = (np.asarray(bars)[:, None] + np.arange(17)[None, :] * bar_len / 16).astype(np.float64)
    bounds = midi.ticks_to_seconds(ticks.ravel()).reshape(-1, 17)
    tm = midi.tempo_map()
    return {"hits": hits, "velocity": vel, "offset": off, "bounds": bounds,
            "duration": float(max(bounds[-1, -1], midi.ticks_to_seconds(max(n.end for n in notes)))) + 0.5,
            "bpm": round(60e6 / tm[0][1], 2)}


def bar_runs(bounds: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) index ranges of contiguous bars (a bar ends where the next begins)."""
    runs, a = [], 0
    for i in range(1, len(bounds) + 1):
        if i == len(bounds) or abs(bounds[i, 0] - bounds[i - 1, -1]) > 1e-6:
            runs.append((a, i))
            a = i
    return runs


def song_features(audio: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    parts = []
    for a, b in bar_runs(bounds):
        grid = np.concatenate([bounds[a:b, :-1].ravel(), bounds[b - 1, -1:]])
        parts.append(features.step_features(audio, grid))
    return np.concatenate(parts)


def _cache_key(song: sources.Song, soundfont: str) -> str:
    h = hashlib.sha1(song.midi)
    h.update(f"{soundfont}:{features.FEATURE_VERSION}:{features.SR}".encode())
    return h.hexdigest()


def build(out: Path, seed: int = 0, limit: int | None = None, jobs: int = 2) -> dict:
    sources.require_packages()
    t0 = time.time()
    out.mkdir(parents=True, exist_ok=True)
    songs = collect_songs(seed, limit, jobs, midi_cache=out / "midi")
    entries, skipped, todo = [], [], {name: [] for name in sources.SOUNDFONTS}
    sf_names = list(sources.SOUNDFONTS)
    for i, song, meta, info in analysed_songs(songs, analyse, skipped):
        sf_name = sf_names[i % 2]  # alternate the two GM soundfonts
        key = _cache_key(song, sf_name)
        path = out / "songs" / f"{song.id}.npz"
        entry = {"id": song.id, "source": song.source, "origin": song.origin, "licence": sources.LICENCES[song.source],
                 "soundfont": sf_name, "n_bars": len(info["hits"]), "bpm": info["bpm"],
                 "file": str(path.relative_to(out)), "key": key, **meta}
        entries.append(entry)
        cached = path.exists() and str(np.load(path)["key"]) == key
        if not cached:
            todo[sf_name].append((song, info, path, key))
    batches = render_batches(todo, lambda item: item[1]["duration"])
    prog = Progress(sum(len(b) for _, b in batches), "render")

    def render(batch):
        sf_name, items = batch
        audios = render_songs([s.midi for s, *_ in items], [i["duration"] for _, i, *_ in items],
                              sources.SOUNDFONTS[sf_name])
        for (_song, info, path, key), audio in zip(items, audios, strict=True):
            feats = song_features(audio, info["bounds"])
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(path, features=feats.astype(np.float16), hits=info["hits"],
                                velocity=info["velocity"].astype(np.float16), offset=info["offset"].astype(np.float16),
                                key=key)
            prog.update()

    with ThreadPoolExecutor(jobs) as ex:
        list(ex.map(render, batches))
    manifest = {
        "dataset": "DrumNet training data (bandmate.data)", "seed": seed, "limit": limit,
        "sample_rate": features.SR, "feature_version": features.FEATURE_VERSION,
        "feature_names": features.FEATURE_NAMES, "voice_names": drums.VOICE_NAMES, "voice_notes": drums.VOICE_NOTES,
        "licences": sources.LICENCES, "soundfonts": {k: str(v) for k, v in sources.SOUNDFONTS.items()},
        "songs": entries, "skipped": skipped, "build_seconds": round(time.time() - t0, 1),
        "counts": {s: {src: sum(e["n_bars"] for e in entries if e["split"] == s and e["source"] == src)
                       for src in ("mma", "openmsx", "freedoom")} for s in ("train", "val", "test")},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def load_split(out: Path, split: str, sources_: tuple[str, ...] = ("mma", "openmsx", "freedoom")) -> dict:
    """Concatenate one split: features/hits/velocity/offset per bar, plus song index per bar."""
    man = json.loads((Path(out) / "manifest.json").read_text())
    songs = [e for e in man["songs"] if e["split"] == split and e["source"] in sources_]
    parts: dict[str, list] = {"features": [], "hits": [], "velocity": [], "offset": [], "song": []}
    for i, e in enumerate(songs):
        z = np.load(Path(out) / e["file"])
        for k in ("features", "hits", "velocity", "offset"):
            parts[k].append(z[k].astype(np.float32) if k != "hits" else z[k])
        parts["song"].append(np.full(len(z["hits"]), i))
    res = {k: np.concatenate(v) if v else np.zeros((0,)) for k, v in parts.items()}
    res["songs"] = songs
    return res
