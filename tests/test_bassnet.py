import numpy as np
import pytest
from bandmate.cli import main as cli_main
from bandmate.data import bass
from bandmate.data.drums import STEPS
from bandmate.data.midi import MidiFile, note_events, read_midi, tempo_event, timesig_event, write_midi
from bandmate.features import N_FEATURES
from bandmate.generators.bassnet import (
    DEFAULT_MODEL,
    BassControls,
    BassNet,
    BassNote,
    drums_from_midi,
    notes_to_midi,
    program_for_timbre,
)
from bandmate.generators.drumnet import DrumHit, hits_to_midi

C_MAJOR, G_MAJOR = {0, 4, 7}, {7, 11, 2}


@pytest.fixture(scope="module")
def net():
    return BassNet()


def bars_of(chord_pcs, n=2):
    """Music-like input: accents on the beats, a chord in the chroma, position sin/cos."""
    f = np.zeros((n, STEPS, N_FEATURES), np.float32)
    f[:, ::4, 0] = 1.0
    f[:, 0::8, 1] = 1.0
    f[:, 4::8, 2] = 1.0
    f[:, :, 3:6] = [0.5, 0.9, 0.6]
    f[:, :, [6 + p for p in chord_pcs]] = 1.0
    k = np.arange(STEPS) * 2 * np.pi / STEPS
    f[:, :, 18], f[:, :, 19] = 0.5 + 0.5 * np.sin(k), 0.5 + 0.5 * np.cos(k)
    return f


@pytest.fixture(scope="module")
def feats():
    return bars_of(C_MAJOR)


def test_model_small_outputs_in_range_and_follows_harmony(net, feats):
    assert DEFAULT_MODEL.stat().st_size < 20e6
    out = net.predict(np.stack([feats, feats[::-1]]), BassControls())
    assert out["onset"].shape == out["gate"].shape == out["velocity"].shape == (2, STEPS)
    assert out["pitch_class"].shape == out["chord"].shape == (2, STEPS, 12)
    assert out["height"].shape == (2, STEPS, bass.N_PITCH)
    for k in ("onset", "gate", "velocity", "chord"):
        assert np.isfinite(out[k]).all() and out[k].min() >= 0 and out[k].max() <= 1, k
    assert np.allclose(np.exp(out["pitch_class"]).sum(-1), 1, atol=1e-4)
    for pcs in (C_MAJOR, G_MAJOR):  # the line follows the chord in the audio (also transposed)
        f = bars_of(pcs)
        notes = net.generate(f[0], f[1], BassControls(), seed=0, bar=1)
        assert notes and all(isinstance(n, BassNote) and 0 <= n.step < 16 for n in notes)
        assert all(bass.PITCH_LO <= n.pitch <= bass.PITCH_HI and 1 <= n.velocity <= 127 for n in notes)
        assert all(0 < n.length <= 16 and n.offset == 0.0 for n in notes)
        on_chord = sum(n.length for n in notes if n.pitch % 12 in pcs) / sum(n.length for n in notes)
        assert on_chord >= 0.85, [(n.step, n.pitch) for n in notes]
    ends = [n.step + n.length for n in notes]
    assert all(e <= s.step + 1e-6 for e, s in zip(ends, notes[1:], strict=False))  # monophonic


def _sweep(net, feats, name):
    vals = []
    for v in np.linspace(0, 1, 6):
        bars = net.generate_bars(np.concatenate([feats, bars_of(G_MAJOR)]), BassControls(**{name: float(v)}), seed=0)
        notes = [n for b in bars for n in b]
        vals.append({"density": len(notes), "register": np.mean([n.pitch for n in notes]),
                     "clarity": np.mean([n.length for n in notes]),
                     "timbre": np.mean([n.velocity for n in notes])}[name])
    return vals


@pytest.mark.parametrize("name,min_gain", [("density", 4), ("register", 5.0), ("clarity", 0.5), ("timbre", 15)])
def test_controls_monotonic(net, feats, name, min_gain):
    vals = _sweep(net, feats, name)
    assert np.all(np.diff(vals) >= -1e-9), (name, vals)
    assert vals[-1] - vals[0] >= min_gain, (name, vals)


def test_variation_is_seeded_and_keeps_chord_tones(net, feats):
    c = BassControls(variation=1.0, density=0.8)
    a = net.generate(feats[0], feats[1], c, seed=3)
    assert a == net.generate(feats[0], feats[1], c, seed=3)
    assert a != net.generate(feats[0], feats[1], c, seed=4)
    assert a != net.generate(feats[0], feats[1], BassControls(density=0.8), seed=3)
    bars = [net.generate(feats[0], feats[1], c, seed=s) for s in range(8)]
    notes = [n for b in bars for n in b]
    assert sum(n.length for n in notes if n.pitch % 12 in C_MAJOR) >= 0.85 * sum(n.length for n in notes)


def test_controls_validated():
    for bad in ({"density": 1.5}, {"register": -0.1}, {"clarity": float("nan")}, {"variation": 2}):
        with pytest.raises(ValueError):
            BassControls(**bad)
    assert program_for_timbre(0.0) == 32 and program_for_timbre(0.5) == 33 and program_for_timbre(1.0) == 38


def test_missing_model_clear_error(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="BassNet model not found.*python -m bandmate.train bassnet"):
        BassNet(tmp_path / "nope.onnx")
    monkeypatch.setenv("BANDMATE_BASSNET_MODEL", str(tmp_path / "env.onnx"))
    with pytest.raises(FileNotFoundError, match="env.onnx"):
        BassNet()


def _balanced(m: MidiFile) -> tuple[int, int]:
    ons = sum(1 for _, e in m.tracks[0] if e[0] & 0xF0 == 0x90 and e[2] > 0)
    offs = sum(1 for _, e in m.tracks[0] if e[0] & 0xF0 == 0x80 or (e[0] & 0xF0 == 0x90 and e[2] == 0))
    return ons, offs


def test_notes_to_midi_channel_program_note_offs():
    bars = [[BassNote(0, 36, 100, 3.5), BassNote(4, 43, 90, 1.0)], [BassNote(14, 40, 80, 4.0, 0.25)]]
    m = read_midi(notes_to_midi(bars, 100.0, program=34))
    assert [(n.start, n.end - n.start, n.pitch, n.velocity, n.channel) for n in m.notes()] == [
        (0, 420, 36, 100, 0), (480, 120, 43, 90, 0), (int(round(30.25 * 120)), 480, 40, 80, 0)]
    assert _balanced(m) == (3, 3) and m.tempo_map() == [(0, 600000)]
    assert [e for _, e in m.tracks[0] if e[0] & 0xF0 == 0xC0] == [b"\xc0\x22"]
    with pytest.raises(ValueError):
        notes_to_midi(bars, 100.0, program=128)


def song_midi(bpm=120.0, n_bars=4) -> bytes:
    """Piano chords C F G C, a finger-bass line (program 33) and a kick, one chord per bar."""
    tpb, bar = 480, 1920
    chords = [(60, 64, 67), (60, 65, 69), (59, 62, 67), (60, 64, 67)]
    roots = [36, 41, 43, 36]
    meta = [tempo_event(0, bpm), timesig_event(0, 4, 4)]
    piano = [(0, b"\xc0\x00")]
    bass_tr = [(0, b"\xff\x03Bass"), (0, b"\xc1\x21")]
    drums = []
    for b in range(n_bars):
        for p in chords[b % 4]:
            piano += note_events(b * bar, bar - 10, 0, p, 80)
        for beat in range(4):
            bass_tr += note_events(b * bar + beat * tpb, tpb - 20, 1, roots[b % 4], 100)
            drums += note_events(b * bar + beat * tpb, 60, 9, 36, 100)
    return write_midi(MidiFile(tpb, [meta, piano, bass_tr, drums]))


def test_strip_bass_and_targets():
    data = song_midi()
    midi = read_midi(data)
    notes, is_bass = bass.bass_mask(midi)
    assert {n.pitch for n, b in zip(notes, is_bass, strict=True) if b} == {36, 41, 43}
    assert all(n.channel == 1 for n, b in zip(notes, is_bass, strict=True) if b)
    stripped = read_midi(bass.strip_bass(data)).notes()
    assert len(stripped) == len(notes) - is_bass.sum() and all(n.channel != 1 for n in stripped)
    bars = [i * 1920 for i in range(4)]
    tg = bass.bass_targets([n for n, b in zip(notes, is_bass, strict=True) if b], bars, 480)
    assert tg["onset"].sum() == 16 and (tg["onset"][:, ::4] == 1).all()
    assert tg["pitch"][1, 0] == 41 and np.allclose(tg["length"][0, 0], 460 / 120, atol=0.01)
    root, mask = bass.estimate_chords([n for n, b in zip(notes, is_bass, strict=True) if not b and n.channel != 9],
                                      bars, 480)
    assert list(root[:, 0]) == [0, 5, 7, 0]  # C F G C from the piano alone
    assert bass.in_chord(np.array([36, 41, 43, 36]), mask[:, 0]).all()
    assert bass.parse_chord("Dm7", 2) == (4, bass.chord_mask(4, "m7"))
    assert bass.mma_chords("Transpose -1\n1 C\n2 G7\n", 2)[0][:, 0].tolist() == [11, 6]


def test_cli_end_to_end_on_midi(tmp_path):
    mid, out = tmp_path / "song.mid", tmp_path / "bass.mid"
    mid.write_bytes(song_midi(bpm=100.0))
    assert cli_main(["bass", str(mid), "--bars", "4", "-o", str(out), "density=0.7", "timbre=0.95"]) == 0
    m = read_midi(out.read_bytes())
    notes = m.notes()
    assert notes and all(n.channel == 0 and bass.PITCH_LO <= n.pitch <= bass.PITCH_HI for n in notes)
    assert max(n.start for n in notes) < 4 * 1920 and m.tempo_map() == [(0, 600000)]  # MIDI tempo, 4 bars
    assert [e for _, e in m.tracks[0] if e[0] & 0xF0 == 0xC0] == [bytes([0xC0, program_for_timbre(0.95)])]
    ons, offs = _balanced(m)
    assert ons == offs == len(notes)
    roots = [0, 5, 7, 0]  # mostly chord tones of C F G C
    share = np.mean([n.pitch % 12 in ({0, 4, 7}, {5, 9, 0}, {7, 11, 2}, {0, 4, 7})[n.start // 1920] for n in notes])
    assert share >= 0.75, (roots, [(n.start, n.pitch) for n in notes])


def test_cli_bad_control(tmp_path, capsys):
    mid = tmp_path / "song.mid"
    mid.write_bytes(song_midi())
    for bad in ("density=1.5", "loudness=0.3", "density=abc"):
        with pytest.raises(SystemExit) as e:
            cli_main(["bass", str(mid), "-o", str(tmp_path / "o.mid"), bad])
        assert e.value.code == 2
    assert "density" in capsys.readouterr().err


def test_onnx_matches_torch(net):
    # Torch outputs recorded at export (train/bassnet.py::write_golden); CI has no torch.
    golden = np.load(DEFAULT_MODEL.with_suffix(".golden.npz"))
    assert 0 < golden["drums_present"].sum() < len(golden["drums_present"])  # rows with and without drums
    drums = [d if on[0] else None for d, on in zip(golden["drums"], golden["drums_present"], strict=True)]
    got = net.predict(golden["features"], golden["controls"], golden["position"], drums)
    for name, g in got.items():
        assert g.shape == golden[name].shape
        assert (np.abs(golden[name] - g) / (1 + np.abs(golden[name]))).max() < 1e-4, name  # log outputs: relative


KICKS = (0, 3, 6, 10, 11)  # a syncopated kick the audio does not show


def drum_bar(kicks=KICKS, snares=(4, 12)) -> np.ndarray:
    d = np.zeros((STEPS, len(bass.DRUM_CHANNELS)), np.float32)
    d[list(kicks), 0] = 1.0
    d[list(snares), 1] = 1.0
    d[::2, 2] = 1.0
    return d


def test_drums_pull_the_onsets_to_the_kick(net):
    """Same audio (the beat-accent bars), with and without a syncopated kick: onsets off the kick
    become less likely relative to those on it, and the decoded line changes."""
    f = bars_of(C_MAJOR, n=4)
    x = np.stack([np.concatenate([np.zeros_like(f[:1]), f[:-1]]), f], 1)
    drums = np.stack([drum_bar()] * 4)
    gain = net.predict(x, BassControls(), drums=drums)["onset"] - net.predict(x, BassControls())["onset"]
    kick = np.zeros(STEPS, bool)
    kick[list(KICKS)] = True
    assert gain[:, kick].mean() - gain[:, ~kick].mean() > 0.1, np.round(gain, 2)
    plain = net.generate_bars(f, BassControls(), seed=0)
    assert net.generate_bars(f, BassControls(), seed=0, drums=drums) != plain
    # absent drums (None per bar, or drums=None) are the same thing
    assert net.generate_bars(f, BassControls(), seed=0, drums=[None] * 4) == plain
    mixed = net.generate_bars(f, BassControls(), seed=0, drums=[None, drum_bar(), None, None])
    assert mixed[0] == plain[0] and mixed[1] != plain[1]


def test_drum_input_validated(net, feats):
    with pytest.raises(ValueError, match="drums of a bar"):
        net.generate(feats[0], feats[1], drums=np.zeros((16, 9)))
    with pytest.raises(ValueError, match="drums for 1 bars"):
        net.generate_bars(feats, drums=[drum_bar()])
    with pytest.raises(ValueError, match=r"\(\.\.\., 16, 9\)"):
        bass.drum_channels(np.zeros((16, 3)))


def test_drum_channels_pool_the_voices():
    hits = np.zeros((STEPS, 9), np.uint8)
    hits[0, 0] = hits[4, 1] = hits[2, 2] = hits[6, 3] = hits[8, 8] = hits[9, 7] = 1  # kick snare hat ohat ride crash
    d = bass.drum_channels(hits)
    assert d.shape == (STEPS, 3)
    assert np.nonzero(d[:, 0])[0].tolist() == [0] and np.nonzero(d[:, 1])[0].tolist() == [4]
    assert np.nonzero(d[:, 2])[0].tolist() == [2, 6, 8]  # crash is not a hat


def test_cli_with_drum_midi(tmp_path, capsys):
    mid, drums, out, out2 = (tmp_path / n for n in ("song.mid", "drums.mid", "a.mid", "b.mid"))
    mid.write_bytes(song_midi(bpm=100.0))
    hits_to_midi([[DrumHit(s, 36, 100, 0.0) for s in KICKS] + [DrumHit(s, 38, 90, 0.0) for s in (4, 12)]] * 4,
                 100.0, path=drums)
    assert np.array_equal(drums_from_midi(drums), np.stack([drum_bar(snares=(4, 12)) * [1, 1, 0]] * 4))
    assert cli_main(["bass", str(mid), "--bars", "4", "-o", str(out)]) == 0
    assert cli_main(["bass", str(mid), "--bars", "4", "--drums", str(drums), "-o", str(out2)]) == 0
    a, b = read_midi(out.read_bytes()).notes(), read_midi(out2.read_bytes()).notes()
    assert a != b
    kicks = {bar * 1920 + s * 120 for bar in range(4) for s in KICKS}
    assert sum(n.start in kicks for n in b) > sum(n.start in kicks for n in a)
    for bad, msg in ((tmp_path / "none.mid", "not found"), (out, "no GM drum notes")):
        with pytest.raises(SystemExit) as e:
            cli_main(["bass", str(mid), "--drums", str(bad), "-o", str(out)])
        assert e.value.code == 2 and msg in capsys.readouterr().err
