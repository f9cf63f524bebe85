import numpy as np
import pytest
from bandmate.data.drums import N_VOICES, STEPS, VOICE_NOTES
from bandmate.data.midi import read_midi
from bandmate.features import N_FEATURES
from bandmate.generators.drumnet import DEFAULT_MODEL, DrumControls, DrumHit, DrumNet, drums_main, hits_to_midi


@pytest.fixture(scope="module")
def net():
    return DrumNet()


@pytest.fixture(scope="module")
def feats():
    """A fixed, music-like input: two bars, accents on the beats, a C major chord."""
    f = np.zeros((2, STEPS, N_FEATURES), np.float32)
    f[:, ::4, 0] = 1.0
    f[:, 0::8, 1] = 1.0
    f[:, 4::8, 2] = 1.0
    f[:, :, 3:6] = [0.8, 0.9, 0.6]
    f[:, :, [6, 10, 13]] = 1.0
    k = np.arange(STEPS) * 2 * np.pi / STEPS
    f[:, :, 18], f[:, :, 19] = 0.5 + 0.5 * np.sin(k), 0.5 + 0.5 * np.cos(k)
    return f


def test_model_small_and_valid_ranges(net, feats):
    assert DEFAULT_MODEL.stat().st_size < 5e6
    x = np.stack([feats, feats[::-1]])  # (2, 2, 16, F)
    p, v, o = net.predict(x, DrumControls())
    assert p.shape == v.shape == o.shape == (2, STEPS, N_VOICES)
    assert np.isfinite(p).all() and p.min() >= 0 and p.max() <= 1
    assert v.min() >= 0 and v.max() <= 1 and np.abs(o).max() <= 0.5
    hits = net.generate(feats[0], feats[1], DrumControls(), seed=0)
    assert hits and all(isinstance(h, DrumHit) and 0 <= h.step < 16 and h.note in VOICE_NOTES for h in hits)
    assert all(1 <= h.velocity <= 127 and h.offset == 0.0 for h in hits)  # humanize 0: on the grid


@pytest.mark.parametrize("name,index", [("density", 0), ("complexity", 1)])
def test_density_and_complexity_monotonic(net, feats, name, index):
    sweep = np.linspace(0, 1, 11)
    expected = []
    for v in sweep:
        p, _, _ = net.predict(feats[None], DrumControls(**{name: float(v)}))
        expected.append(p.sum())
    assert np.all(np.diff(expected) >= -1e-3), expected
    if name == "density":
        lo = len(net.generate(feats[0], feats[1], DrumControls(density=0.0)))
        hi = len(net.generate(feats[0], feats[1], DrumControls(density=1.0)))
        assert hi > lo + 4


def test_follow_locks_to_accents(net, feats):
    p0, _, _ = net.predict(feats[None], DrumControls(follow=0.0))
    p1, _, _ = net.predict(feats[None], DrumControls(follow=1.0))
    accent, quiet = feats[1, :, 1] > 0.5, feats[1, :, 1] < 0.5  # kick follows low onsets
    assert p1[0, accent, 0].mean() > p0[0, accent, 0].mean()
    assert p1[0, quiet, 0].mean() < p0[0, quiet, 0].mean()


def test_humanize_and_variation_are_seeded(net, feats):
    c = DrumControls(humanize=1.0, variation=1.0)
    a = net.generate(feats[0], feats[1], c, seed=3)
    assert a == net.generate(feats[0], feats[1], c, seed=3)
    assert a != net.generate(feats[0], feats[1], c, seed=4)
    assert any(h.offset != 0 for h in a)


def test_controls_validated():
    with pytest.raises(ValueError):
        DrumControls(density=1.5)


def test_missing_model_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="DrumNet model not found"):
        DrumNet(tmp_path / "nope.onnx")


def test_hits_to_midi_note_offs():
    bars = [[DrumHit(0, 36, 100, 0.0), DrumHit(4, 38, 90, -0.2)], [DrumHit(0, 36, 80, 0.1)]]
    m = read_midi(hits_to_midi(bars, 100.0))
    notes = m.notes()
    assert [(n.start, n.pitch, n.velocity, n.channel) for n in notes] == [
        (0, 36, 100, 9), (int(round(3.8 * 120)), 38, 90, 9), (int(round(16.1 * 120)), 36, 80, 9)]
    ons = sum(1 for t, e in m.tracks[0] if e[0] == 0x99)
    offs = sum(1 for t, e in m.tracks[0] if e[0] == 0x89)
    assert ons == offs == 3 and m.tempo_map() == [(0, 600000)]


def test_generate_from_audio_and_cli(net, tmp_path):
    sr = 22050
    t = np.arange(sr * 5) / sr
    audio = 0.2 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 2 * t) > 0)  # 120 BPM pulses
    midi = read_midi(net.generate_from_audio(audio, sr, bpm=120, bars=2, controls=DrumControls(density=0.8)))
    assert midi.notes() and max(n.start for n in midi.notes()) < 2 * 16 * 120
    import soundfile as sf

    wav, out = tmp_path / "in.wav", tmp_path / "out.mid"
    sf.write(wav, audio, sr)
    assert drums_main([str(wav), "--bpm", "120", "--bars", "2", "-o", str(out), "density=0.7", "humanize=0.3"]) == 0
    assert read_midi(out.read_bytes()).notes()


def test_onnx_matches_torch(net):
    # Torch outputs recorded at export (train/drumnet.py::write_golden); CI has no torch.
    golden = np.load(DEFAULT_MODEL.with_suffix(".golden.npz"))
    got = net.predict(golden["features"], golden["controls"])
    for name, g in zip(("prob", "velocity", "offset"), got, strict=True):
        assert g.shape == golden[name].shape
        assert np.abs(golden[name] - g).max() < 1e-4, name
