"""BandmateDrumNet in our CLAP host: drum MIDI on channel 10, locked to the transport,
identical to the offline engine, never a stuck note, kit map, fills and capture."""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from bandmate.data.midi import read_midi
from bandmate.engines import EngineConfig, create_engine
from bandmate.links import LinkBoard
from bandmate.specs import load_spec

import plugin_host as ph
from tests.conftest import kill_backend, plugin_path

RATE, TEMPO = 48000, 120.0
STEP = int(RATE * 60 / TEMPO / 4)  # samples per 16th note at 120 BPM: 6000
SPEC = load_spec("drumnet")


def music(seconds: float, rate: int = RATE) -> np.ndarray:
    """Bass-like notes on every beat and a click on the off-beats: something to follow."""
    t = np.arange(int(seconds * rate)) / rate
    beat = np.mod(t, 0.5)
    x = 0.4 * np.sin(2 * np.pi * 82.4 * t) * np.exp(-beat * 8) + 0.2 * np.sin(2 * np.pi * 3000 * t) * (
        np.abs(beat - 0.25) < 0.005)
    return np.tile(x.astype(np.float32), (2, 1))


def plugin(deterministic: bool = True, max_block: int = 512, **params) -> ph.ClapPlugin:
    p = ph.ClapPlugin(str(plugin_path("DrumNet", "clap")))
    p.set_param("Deterministic", 1.0 if deterministic else 0.0)
    for name, value in params.items():
        p.set_param(name, value)
    assert p.activate(RATE, max_block=max_block)
    return p


def notes(events, latency: int) -> list[tuple[int, int, int, int]]:
    """(sample after latency compensation, status, note, velocity) of every message."""
    return [(e.offset - latency, e.data[0], e.data[1], e.data[2]) for e in events]


def assert_balanced(msgs) -> None:
    """Every note-on has a later note-off and nothing sounds at the end."""
    sounding = Counter()
    for _, status, note, vel in msgs:
        if status & 0xF0 == 0x90 and vel > 0:
            assert sounding[(status & 0x0F, note)] == 0, "note retriggered without a note-off"
            sounding[(status & 0x0F, note)] += 1
        else:
            assert sounding[(status & 0x0F, note)] == 1, "note-off without a sounding note"
            sounding[(status & 0x0F, note)] -= 1
    assert not +sounding, f"stuck notes: {+sounding}"


def engine_midi(engine: str, x: np.ndarray, params: dict, latency: int, stop_frames: int = 16384,
                linked: tuple[tuple[str, dict], ...] = ()) -> list:
    """What play() must return: the engine fed the same hops and transport directly (the
    transport rolls from bar 1 for x, then stops), as (sample, status, note, velocity).
    ``linked``: (engine, params) of instances fed the same hops just before it, all on one link
    board (as linked plugins share their backend's)."""
    board = LinkBoard()
    engines = [(create_engine(name, EngineConfig(RATE, 2, links=board, identity=bytes([i + 1]))), p)
               for i, (name, p) in enumerate((*linked, (engine, params)))]
    engines = [(eng, eng.spec.defaults() | p | {"deterministic": 1.0}) for eng, p in engines]
    expected, hop = [], engines[-1][0].hop
    padded = np.concatenate([x, np.zeros((2, latency + stop_frames), np.float32)], axis=1)
    for j in range(padded.shape[1] // hop):
        beat = j * hop / RATE * TEMPO / 60
        tp = {"playing": float(j * hop < x.shape[1]), "bar": beat // 4, "beat": beat % 4, "tempo_bpm": TEMPO,
              "beats_per_bar": 4.0}
        for eng, p in engines:
            _, _, events = eng.process_midi(padded[:, j * hop:(j + 1) * hop], p | tp)
        expected += [(j * hop + e.offset, e.status, e.data1, e.data2) for e in events]
    return [m for m in expected if m[0] < x.shape[1] + stop_frames - latency]


def play(p: ph.ClapPlugin, x: np.ndarray, block_size=512, stop_frames: int = 16384):
    """Play x with the transport rolling from bar 1, then stop: (audio, MIDI messages)."""
    r = p.process(x, block_size=block_size, transport=ph.Transport(tempo=TEMPO, playing=True))
    r2 = p.process(np.zeros((2, stop_frames), np.float32), block_size=block_size,
                   transport=ph.Transport(tempo=TEMPO, playing=False))
    msgs = notes(r.midi_out, p.latency) + [(m[0] + x.shape[1], *m[1:]) for m in notes(r2.midi_out, p.latency)]
    return r.audio, msgs


def test_descriptor_and_note_port():
    p = ph.ClapPlugin(str(plugin_path("DrumNet", "clap")))
    (info,) = ph.list_plugins(str(plugin_path("DrumNet", "clap")))
    assert info.id == "com.bandmate.drumnet" and info.features[0] == "note-detector"
    assert len(p.note_outputs) == 1 and p.note_inputs == []
    assert {q.name for q in p.parameters} >= {"Density", "Complexity", "Variation", "Follow", "Humanize",
                                             "Fill every", "Kit map", "Capture", "Deterministic", "Late blocks"}


def test_midi_matches_the_offline_engine_and_audio_passes_through():
    x = music(9.0)
    p = plugin(Density=0.6)
    audio, msgs = play(p, x)
    lat = p.latency
    assert lat == SPEC.plugin_latency(RATE, 512)
    np.testing.assert_array_equal(audio[:, lat:], x[:, :-lat])  # passthrough, latency-aligned

    expected = engine_midi("drumnet", x, {"density": 0.6}, lat)
    assert len(msgs) > 40
    assert msgs == expected


def test_drums_on_channel_10_on_the_grid_every_bar():
    x = music(8.0)
    _, msgs = play(plugin(), x)
    ons = [m for m in msgs if m[1] == 0x99]
    assert all(m[1] in (0x99, 0x89) for m in msgs), "channel 10 only"
    assert all(m[0] % STEP == 0 for m in ons), "humanize 0: every hit on a 16th step"
    bars = {m[0] // (16 * STEP) for m in ons}
    assert bars == {0, 1, 2, 3}, "a bar of drums for each of the 4 bars played"
    assert {m[2] for m in ons} <= {36, 38, 42, 46, 45, 47, 50, 49, 51}
    assert_balanced(msgs)


def test_identical_midi_at_any_block_size():
    x = music(6.0)
    ref = None
    for block in (64, 512, "random", 1):
        if block == 1:
            x = x[:, : 3 * RATE]  # 1-frame blocks are slow in Python: a shorter render
            ref = [m for m in ref if m[0] < 3 * RATE - 2048] if ref else ref
        _, msgs = play(plugin(), x, block_size=block)
        if block == 1:
            msgs = [m for m in msgs if m[0] < 3 * RATE - 2048]
        assert ref is None or msgs == ref, f"block size {block}"
        ref = ref or msgs


def test_density_and_kit_map_and_fill():
    x = music(8.0)
    count = {}
    for d in (0.1, 0.9):
        _, msgs = play(plugin(Density=d), x)
        count[d] = sum(1 for m in msgs if m[1] == 0x99)
    assert count[0.9] > 1.5 * count[0.1]

    _, msgs = play(plugin(**{"Kit map": 1, "Kick note": 60, "Snare note": 61}), x)
    keys = {m[2] for m in msgs if m[1] == 0x99}
    assert {60, 61} <= keys and not keys & {36, 38}

    _, plain = play(plugin(), x)
    _, filled = play(plugin(**{"Fill every": 2}), x)
    last_beat = [m for m in filled if m[1] == 0x99 and (m[0] // STEP) % 32 >= 28]  # bar 2's last beat
    assert last_beat != [m for m in plain if m[1] == 0x99 and (m[0] // STEP) % 32 >= 28]
    assert any(m[0] == 32 * STEP and m[2] == 49 for m in filled if m[1] == 0x99), "crash after the fill"
    assert_balanced(filled)


def test_transport_jump_and_stop_end_every_note():
    p = plugin()
    x = music(3.0)
    r1 = p.process(x, transport=ph.Transport(tempo=TEMPO, playing=True))
    r2 = p.process(x, transport=ph.Transport(tempo=TEMPO, playing=True, position_beats=64.0))  # jump to bar 17
    r3 = p.process(np.zeros((2, RATE), np.float32), transport=ph.Transport(tempo=TEMPO, playing=False))
    msgs = []
    for k, r in enumerate((r1, r2, r3)):
        msgs += [(m[0] + k * 10**7, *m[1:]) for m in notes(r.midi_out, p.latency)]
    assert_balanced(msgs)
    stopped = notes(r3.midi_out, p.latency)
    assert not any(m[1] == 0x99 and m[0] >= 2048 for m in stopped), "no note-on once stopped"


def test_no_midi_without_a_playing_transport():
    p = plugin()
    r = p.process(music(4.0), transport=ph.Transport(tempo=TEMPO, playing=False))
    assert r.midi_out == []


def test_backend_killed_mid_play_ends_notes_and_recovers(runtime_dir):
    p = plugin(deterministic=False, max_block=256)
    x = music(12.0)
    block, pos, msgs = 256, 0, []
    transport = ph.Transport(tempo=TEMPO, playing=True)

    def run(seconds):
        nonlocal pos, transport
        for _ in range(int(seconds * RATE / block)):
            r = p.process(x[:, pos:pos + block], block_size=block, transport=transport)
            transport = None  # the host advances it from here
            msgs.extend((m[0] + pos, *m[1:]) for m in notes(r.midi_out, p.latency))
            pos += block
            time.sleep(block / RATE)

    run(3.0)
    assert p.output_params["Backend connected"] == 1.0
    ons_before = sum(1 for m in msgs if m[1] == 0x99)
    assert ons_before > 10
    kill_backend(runtime_dir)
    killed_at = pos
    run(1.0)
    late = p.output_params["Late blocks"]
    assert late > 0
    gap = [m for m in msgs if killed_at + 2 * 2048 <= m[0] < pos]  # after the in-flight replies
    assert not any(m[1] == 0x99 for m in gap), "silence (no notes) while the backend is gone"
    run(5.0)  # the plugin respawns the backend
    assert p.output_params["Backend connected"] == 1.0
    assert any(m[1] == 0x99 and m[0] > killed_at + 2 * RATE for m in msgs), "drums come back"
    r = p.process(np.zeros((2, RATE), np.float32), block_size=block, transport=ph.Transport(playing=False))
    msgs += [(m[0] + pos, *m[1:]) for m in notes(r.midi_out, p.latency)]
    assert_balanced(msgs)


def test_capture_writes_the_played_bars(tmp_path):
    music_dir = Path(os.environ["XDG_MUSIC_DIR"]) / "Bandmate"
    before = set(music_dir.glob("DrumNet-*.mid")) if music_dir.exists() else set()
    p = plugin(**{"Capture bars": 2})
    x = music(8.0)
    _, msgs = play(p, x[:, : 6 * RATE])  # bars 1-3 (and bar 4 generated ahead)
    p.set_param("Capture", 1.0)
    p.process(np.zeros((2, 4096), np.float32), transport=ph.Transport(playing=False))
    assert p.output_params["Captures written"] == 1.0
    (path,) = set(music_dir.glob("DrumNet-*.mid")) - before
    midi = read_midi(path)
    got = sorted((n.start, n.pitch, n.velocity) for n in midi.notes())
    assert all(n.channel == 9 and n.end > n.start for n in midi.notes())
    # the last two generated bars are bars 3 and 4 (index 2, 3); bar 3 was played: same notes
    played = sorted(((m[0] - 2 * 16 * STEP) * 480 // (4 * STEP), m[2], m[3]) for m in msgs
                    if m[1] == 0x99 and 2 * 16 * STEP <= m[0] < 3 * 16 * STEP)
    assert played and [g for g in got if g[0] < 16 * 120] == played
    assert midi.tempo_map()[0][1] == 500000  # 120 BPM


def test_missing_model_is_a_clear_engine_error(monkeypatch):
    monkeypatch.setenv("BANDMATE_DRUMNET_MODEL", "/nonexistent/drumnet.onnx")
    with pytest.raises(FileNotFoundError, match="DrumNet model not found"):
        create_engine("drumnet", EngineConfig(RATE, 2))


def test_backend_memory_with_the_model_loaded(runtime_dir):
    p = plugin()
    p.process(music(3.0), transport=ph.Transport(tempo=TEMPO, playing=True))
    pid = kill_backend(runtime_dir, 0)
    rss_kb = int(next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                      if line.startswith("VmRSS")).split()[1])
    assert rss_kb < 200 * 1024, f"backend RSS {rss_kb / 1024:.0f} MB"
