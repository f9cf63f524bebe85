import struct

import numpy as np
import pytest
from bandmate.data import drums, sources
from bandmate.data.midi import MidiFile, note_events, read_midi, tempo_event, timesig_event, write_midi


def make_midi():
    tr0 = [tempo_event(0, 120.0), timesig_event(0, 4, 4), tempo_event(960, 60.0)]
    tr1 = [(0, b"\xc0\x21")] + note_events(0, 240, 0, 60, 100) + note_events(480, 240, 0, 64, 90)
    tr2 = note_events(0, 60, 9, 36, 110) + note_events(245, 60, 9, 38, 64) + note_events(470, 60, 9, 42, 50)
    return MidiFile(480, [tr0, tr1, tr2])


def test_round_trip_notes_tempo_and_time():
    m = make_midi()
    data = write_midi(m)
    assert data[:4] == b"MThd" and struct.unpack(">H", data[8:10])[0] == 1
    r = read_midi(data)
    assert r.tpb == 480 and len(r.tracks) == 3
    assert [(n.start, n.end, n.channel, n.pitch, n.velocity) for n in r.notes()] == [
        (n.start, n.end, n.channel, n.pitch, n.velocity) for n in m.notes()]
    assert r.tempo_map() == [(0, 500000), (960, 1000000)]
    # 960 ticks at 120 BPM = 1 s, then 480 ticks at 60 BPM = 1 s
    assert np.allclose(r.ticks_to_seconds([0, 480, 960, 1440]), [0.0, 0.5, 1.0, 2.0])
    assert write_midi(r) == data


def test_running_status_and_velocity_zero_note_off():
    # one track: note-on C4, running-status note-on vel 0 (= note-off)
    body = b"\x00\x90\x3c\x40" + b"\x83\x60\x3c\x00" + b"\x00\xff\x2f\x00"
    data = b"MThd" + struct.pack(">IHHH", 6, 0, 1, 96) + b"MTrk" + struct.pack(">I", len(body)) + body
    notes = read_midi(data).notes()
    assert [(n.start, n.end, n.pitch, n.velocity) for n in notes] == [(0, 480, 60, 64)]


def test_not_midi():
    with pytest.raises(ValueError):
        read_midi(b"RIFF1234WAVE")


def test_drum_targets_quantise_with_offsets():
    m = make_midi()
    bars = drums.four_four_bars(m)
    assert bars == [0]
    hits, vel, off = drums.drum_targets(m, bars)
    assert hits.shape == (1, 16, 9) and hits.sum() == 3
    assert hits[0, 0, 0] and hits[0, 2, 1] and hits[0, 4, 2]  # 245 ticks -> step 2 (+0.04), 470 -> step 4
    assert off[0, 2, 1] == pytest.approx(5 / 120) and off[0, 4, 2] == pytest.approx(-10 / 120)
    assert vel[0, 0, 0] == pytest.approx(110 / 127)


def test_three_four_bars_skipped():
    m = MidiFile(480, [[timesig_event(0, 3, 4), timesig_event(1440 * 2, 4, 4), (2880 + 1920 * 2, b"\xff\x01x")]])
    assert drums.four_four_bars(m) == [2880, 2880 + 1920]


def test_pattern_entropy():
    empty = np.zeros((16, 9), np.uint8)
    four = empty.copy()
    four[::4, 0] = 1  # two column types, 4 vs 12 steps
    assert drums.pattern_entropy(empty[None])[0] == 0.0
    assert drums.pattern_entropy(four[None])[0] == pytest.approx(-(0.25 * np.log2(0.25) + 0.75 * np.log2(0.75)))


def test_wad_music(tmp_path):
    lump_mid = write_midi(make_midi())
    lumps = [(b"D_RUNNIN", lump_mid), (b"DSPISTOL", b"\x03\x00junk"), (b"D_MUS", b"MUS\x1a....")]
    blob, dirents, pos = b"", b"", 12
    for name, data in lumps:
        dirents += struct.pack("<ii8s", pos + len(blob), len(data), name)
        blob += data
    wad = tmp_path / "t.wad"
    wad.write_bytes(b"PWAD" + struct.pack("<ii", len(lumps), 12 + len(blob)) + blob + dirents)
    assert sources.wad_music(wad) == [("D_RUNNIN", lump_mid)]


def test_missing_packages_reported(monkeypatch):
    monkeypatch.setitem(sources.REQUIRED, "not-a-package", "/nonexistent/path")
    assert "not-a-package" in sources.missing_packages()
