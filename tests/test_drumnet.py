import numpy as np
import pytest
from bandmate.data.drums import N_VOICES, STEPS, VOICE_NOTES, pattern_entropy
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


@pytest.fixture(scope="module")
def bars(feats):
    """Fixed (prev, cur) feature bars: the music-like one and two seeded random-onset bars."""
    out = [feats]
    for seed in (1, 2):
        rng = np.random.default_rng(seed)
        f = feats.copy()
        f[:, :, :3] = rng.random((2, STEPS, 3)) ** 3
        f[:, :, 3:6] = 0.5 + 0.5 * rng.random((2, STEPS, 3))
        f[:, :, 6:18] = 0.0
        f[:, :, 6 + rng.choice(12, 3, replace=False)] = 1.0
        out.append(f)
    return out


def _grid(hits) -> np.ndarray:
    a = np.zeros((STEPS, N_VOICES), bool)
    for h in hits:
        a[h.step, VOICE_NOTES.index(h.note)] = True
    return a


def _corr(a, b) -> float:
    a, b = a - a.mean(), b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den else 0.0


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


def test_density_raises_notes(net, bars):
    sweep = np.linspace(0, 1, 11)
    for f in bars:
        rows = np.stack([sweep, np.full(11, 0.5), np.zeros(11)], 1)
        p, _, _ = net.predict(np.repeat(f[None], 11, 0), rows)
        assert np.all(np.diff(p.sum((1, 2))) >= -1e-3)  # monotone model input
        notes = [len(net.generate(f[0], f[1], DrumControls(density=float(v)))) for v in sweep]
        assert np.all(np.diff(notes) >= 0) and notes[-1] >= notes[0] + 20, notes


def test_complexity_raises_entropy_not_notes(net, bars):
    sweep = np.linspace(0, 1, 11)
    for f in bars:
        default = net.generate(f[0], f[1], DrumControls())
        hits = [net.generate(f[0], f[1], DrumControls(complexity=float(v))) for v in sweep]
        assert hits[5] == default  # 0.5 is the model's own pattern
        ent = pattern_entropy(np.stack([_grid(h) for h in hits]))
        assert np.all(np.diff(ent) >= 0) and ent[-1] >= ent[0] + 1.5, ent
        assert ent[-1] <= 3.4 + 1e-9
        notes = np.array([len(h) for h in hits])
        assert np.all((notes >= 0.6 * len(default)) & (notes <= 1.4 * len(default))), notes


def test_follow_locks_to_accents(net, feats, bars):
    p0, _, _ = net.predict(feats[None], DrumControls(follow=0.0))
    p1, _, _ = net.predict(feats[None], DrumControls(follow=1.0))
    accent, quiet = feats[1, :, 1] > 0.5, feats[1, :, 1] < 0.5  # kick follows low onsets
    assert p1[0, accent, 0].mean() > p0[0, accent, 0].mean()
    assert p1[0, quiet, 0].mean() < p0[0, quiet, 0].mean()
    for f in bars:  # kick ~ low-band onsets, snare ~ onsets: correlation of the generated bar
        grids = [_grid(net.generate(f[0], f[1], DrumControls(follow=v))).astype(float) for v in (0.0, 0.5, 1.0)]
        lock = [_corr(g[:, 0], f[1, :, 1]) + _corr(g[:, 1], f[1, :, 0]) for g in grids]
        assert np.all(np.diff(lock) >= 0) and lock[-1] >= lock[0] + 0.4, lock


def test_humanize_moves_timing_and_velocity_only(net, bars):
    for f in bars:
        base = net.generate(f[0], f[1], DrumControls(), seed=5)
        dt, dv = [], []
        for h in (0.0, 0.25, 0.5, 1.0):
            hits = net.generate(f[0], f[1], DrumControls(humanize=h), seed=5)
            assert [(x.step, x.note) for x in hits] == [(x.step, x.note) for x in base]
            dt.append(np.mean([abs(x.offset) for x in hits]))
            dv.append(np.mean([abs(x.velocity - y.velocity) for x, y in zip(hits, base, strict=True)]))
        assert dt[0] == dv[0] == 0 and np.all(np.diff(dt) > 0) and np.all(np.diff(dv) > 0), (dt, dv)
        assert 0.05 < dt[-1] < 0.25  # steps: 6-30 ms at 120 BPM


def test_variation_differs_across_seeds_at_same_density(net, bars):
    for f in bars:
        n = len(net.generate(f[0], f[1], DrumControls()))
        diff = []
        for v in (0.0, 0.25, 0.5, 1.0):
            grids = [_grid(net.generate(f[0], f[1], DrumControls(variation=v), seed=s)) for s in range(4)]
            assert all(g.sum() == n for g in grids)  # variation picks which notes, density how many
            diff.append(np.mean([(grids[i] != grids[j]).sum() for i in range(4) for j in range(i + 1, 4)]))
        assert diff[0] == 0 and np.all(np.diff(diff) > 0), diff


def test_humanize_and_variation_are_seeded(net, feats):
    c = DrumControls(humanize=1.0, variation=1.0, complexity=0.8)
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
