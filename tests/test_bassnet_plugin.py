"""BandmateBassNet in our CLAP host: bass MIDI locked to the transport, identical to the
offline engine at any block size, controls reach the model, no stuck notes, capture, and the
drums of a DrumNet in the same link group.
(The transport/MIDI machinery shared with DrumNet is tested in depth in test_drumnet_plugin.py.)"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from bandmate.data.midi import read_midi
from bandmate.generators.bassnet import program_for_timbre
from bandmate.specs import load_spec

import plugin_host as ph
from tests.conftest import plugin_path
from tests.test_drumnet_plugin import RATE, STEP, TEMPO, assert_balanced, engine_midi, notes

SPEC = load_spec("bassnet")


def chords(seconds: float) -> np.ndarray:
    """A I-vi-IV-V progression, one chord per bar (2 s at 120 BPM), piano-like decay per beat."""
    t = np.arange(int(seconds * RATE)) / RATE
    roots = [60, 57, 53, 55]
    x = np.zeros_like(t)
    for k, root in enumerate(roots * int(np.ceil(seconds / 8))):
        seg = (t >= 2 * k) & (t < 2 * k + 2)
        third = 4 if root in (60, 53, 55) else 3
        for semis in (0, third, 7):
            f = 440 * 2 ** ((root + semis - 69) / 12)
            x[seg] += 0.15 * np.sin(2 * np.pi * f * t[seg]) * np.exp(-np.mod(t[seg], 0.5) * 3)
    return np.tile(x.astype(np.float32), (2, 1))


def plugin(name: str = "BassNet", **params) -> ph.ClapPlugin:
    """Deterministic instance; unlinked (Link group 0) unless given, so no DrumNet of another
    test can feed it."""
    p = ph.ClapPlugin(str(plugin_path(name, "clap")))
    p.set_param("Deterministic", 1.0)
    for pid, value in ({"Link group": 0} | params).items():
        p.set_param(pid, value)
    assert p.activate(RATE, max_block=512)
    return p


def play(p, x, block_size=512):
    r = p.process(x, block_size=block_size, transport=ph.Transport(tempo=TEMPO, playing=True))
    r2 = p.process(np.zeros((2, 16384), np.float32), block_size=block_size, transport=ph.Transport(playing=False))
    return notes(r.midi_out, p.latency) + [(m[0] + x.shape[1], *m[1:]) for m in notes(r2.midi_out, p.latency)]


def test_bass_midi_matches_the_engine_at_any_block_size():
    x = chords(8.0)
    msgs = play(plugin(Density=0.7), x)
    assert msgs == play(plugin(Density=0.7), x, block_size="random")
    assert msgs == engine_midi("bassnet", x, {"density": 0.7}, SPEC.plugin_latency(RATE, 512))
    ons = [m for m in msgs if m[1] == 0x90]
    assert len(ons) >= 8 and all(m[0] % STEP == 0 for m in ons)
    assert all(28 <= m[2] <= 55 for m in ons), "bass range E1..G3"
    assert_balanced(msgs)


def test_register_and_channel_controls():
    x = chords(8.0)
    low = [m[2] for m in play(plugin(Register=0.1), x) if m[1] == 0x90]
    high_msgs = play(plugin(Register=0.9, **{"MIDI channel": 5}), x)
    high = [m[2] for m in high_msgs if m[1] == 0x94]
    assert low and high and np.mean(high) > np.mean(low) + 3
    assert all(m[1] & 0x0F == 4 for m in high_msgs), "everything on channel 5"


def test_capture_has_the_program_for_the_timbre():
    music_dir = Path(os.environ["XDG_MUSIC_DIR"]) / "Bandmate"
    before = set(music_dir.glob("BassNet-*.mid")) if music_dir.exists() else set()
    p = plugin(Timbre=0.95, **{"Capture bars": 4})
    play(p, chords(8.0))
    p.set_param("Capture", 1.0)
    p.process(np.zeros((2, 2048), np.float32), transport=ph.Transport(playing=False))
    (path,) = set(music_dir.glob("BassNet-*.mid")) - before
    midi = read_midi(path)
    programs = [m[1] for tr in midi.tracks for _, m in tr if m[0] & 0xF0 == 0xC0]
    assert programs == [program_for_timbre(0.95)]
    assert midi.notes() and all(n.end > n.start for n in midi.notes())


def play_together(plugins, x, chunk=2048):
    """Play x through every plugin, interleaved chunk by chunk like a host's tracks (transport
    rolling from bar 1), then stop: MIDI messages per plugin."""
    msgs = [[] for _ in plugins]
    for pos in range(0, x.shape[1], chunk):
        for k, p in enumerate(plugins):
            tp = ph.Transport(tempo=TEMPO, playing=True) if pos == 0 else None  # then the host advances it
            r = p.process(x[:, pos:pos + chunk], block_size=512, transport=tp)
            msgs[k] += [(m[0] + pos, *m[1:]) for m in notes(r.midi_out, p.latency)]
    for k, p in enumerate(plugins):
        r = p.process(np.zeros((2, 16384), np.float32), block_size=512, transport=ph.Transport(playing=False))
        msgs[k] += [(m[0] + x.shape[1], *m[1:]) for m in notes(r.midi_out, p.latency)]
    return msgs


def test_linked_drumnet_drives_the_bass():
    x = chords(8.0)
    lat = SPEC.plugin_latency(RATE, 512)
    drum_params = {"density": 0.7, "link_group": 3}
    drums, bass = plugin("DrumNet", Density=0.7, **{"Link group": 3}), plugin(**{"Link group": 3})
    drum_msgs, bass_msgs = play_together([drums, bass], x)
    assert bass.output_params["Drums linked"] == 1.0
    assert drum_msgs == engine_midi("drumnet", x, drum_params, lat)  # linking does not change DrumNet
    with_drums = engine_midi("bassnet", x, {"link_group": 3}, lat, linked=(("drumnet", drum_params),))
    assert bass_msgs == with_drums
    assert bass_msgs != engine_midi("bassnet", x, {"link_group": 3}, lat), "the drums change the bass line"
    assert sum(m[1] == 0x90 for m in bass_msgs) >= 8
    assert_balanced(bass_msgs)


def test_without_a_drumnet_in_its_group_it_plays_without_drums():
    x = chords(8.0)
    lat = SPEC.plugin_latency(RATE, 512)
    drums, bass = plugin("DrumNet", **{"Link group": 5}), plugin(**{"Link group": 6})
    _, bass_msgs = play_together([drums, bass], x)
    assert bass.output_params["Drums linked"] == 0.0
    assert bass_msgs == engine_midi("bassnet", x, {"link_group": 6}, lat)
    assert sum(m[1] == 0x90 for m in bass_msgs) >= 8


def test_linked_in_realtime():
    """Realtime (not Deterministic), paced like a DAW: once the backend is up, every bar BassNet
    generates has DrumNet's drums (BassNet generates half a beat after DrumNet)."""
    x, block = chords(8.0), 256
    drums, bass = (plugin(name, Deterministic=0.0, **{"Link group": 7}) for name in ("DrumNet", "BassNet"))
    linked, tp, t0 = [], ph.Transport(tempo=TEMPO, playing=True), time.monotonic()
    for pos in range(0, x.shape[1], block):
        for p in (drums, bass):
            p.process(x[:, pos:pos + block], block_size=block, transport=tp)
        tp = None  # the host advances it
        if pos % (RATE // 2) < block:
            linked.append(bass.output_params["Drums linked"])
        time.sleep(max(0.0, (pos + block) / RATE - (time.monotonic() - t0)))
    assert bass.output_params["Backend connected"] == 1.0
    assert linked[-8:] == [1.0] * 8, linked  # the last 4 s
