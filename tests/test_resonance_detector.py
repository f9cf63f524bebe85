"""ResonanceEQ's learned cut detector: the shipped model, its wiring into the analyzer, fallbacks."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import scipy.signal as ss
from bandmate.data.resonance import GRID, features
from bandmate.data.sources import SOUNDFONTS
from bandmate.engines import resonance_detector as rd
from bandmate.engines.base import EngineConfig
from bandmate.engines.resonance import ResonanceEngine

from bench import resonance_quality as rq
from tests.conftest import HELD_SINES_HZ, band_db, held_sines_over_hits, peaking, pink

FS = 48000
SOUNDFONT = SOUNDFONTS["FluidR3_GM"]


class Spy:
    """A detector that records the spectra it is handed and returns a fixed prominence."""

    def __init__(self, prominence=None):
        self.powers: list[np.ndarray] = []
        self.prominence = prominence
        self.cutting = False

    def set_threshold(self, threshold, boost_threshold):
        pass

    def reset(self):
        self.powers.clear()

    def __call__(self, power):
        self.powers.append(power.copy())
        p = self.prominence
        if p is None or isinstance(p, tuple) or p.shape[-1] != power.shape[-1]:
            return p
        return np.broadcast_to(p, power.shape)


def test_shipped_model_matches_torch_golden():
    # Torch outputs recorded at export (train/resonance.py::write_golden); CI has no torch.
    det, name = rd.load(957)
    assert det is not None and name.startswith("learned"), name
    golden = np.load(rd.DEFAULT_MODEL.with_suffix(".golden.npz"))
    got = det.session.run([rd.OUTPUT_NAME], {rd.INPUT_NAME: golden["log_power"]})[0]
    np.testing.assert_allclose(got, golden["boost_db"], atol=1e-3)
    assert det.context == golden["log_power"].shape[1]


def test_detector_sees_the_spectra_it_was_trained_on():
    # train/serve skew check: the analyzer's main-path power (linked stereo, 48 kHz) is what
    # bandmate.data.resonance.features computed for the training clips
    x = pink(FS // 2, 1).astype(np.float32)
    e = ResonanceEngine(EngineConfig(FS, 2), "rule")
    spy = e._det = Spy()
    e.process_buffer(x, {"amount": -1.0})
    got = np.log10(np.array(spy.powers)[:, 0] + 1e-12)
    # update k's window ends after hop + k * update input samples (the look-ahead included)
    want = features(np.concatenate([np.zeros((2, 4096 - e.hop)), x.astype(np.float64)], axis=1))
    k = min(len(got), len(want))
    assert k >= 20
    np.testing.assert_allclose(got[:k], want[:k], atol=1e-4)


def test_detector_prominence_replaces_the_rule_for_cuts_only():
    x = pink(FS, 2).astype(np.float32)

    def rule(amount):
        return ResonanceEngine(EngineConfig(FS, 2), "rule").process_buffer(x, {"amount": amount})

    e = ResonanceEngine(EngineConfig(FS, 2), "rule")
    prom = np.full(e.G, -30.0)
    band = (e.grid > 1800) & (e.grid < 2200)
    prom[band] = 30.0  # "a resonance at 2 kHz"
    e._det = Spy(prom)
    e._det.cutting = True
    e.process_buffer(x, {"amount": -1.0, "selectivity": 1.0})  # selectivity 1: the low path stays quiet
    g = e.last_gain_db[0]
    assert g[(e.freqs > 1900) & (e.freqs < 2100)].max() < -10.0  # cut at depth where it says so
    assert np.abs(g[(e.freqs < 1500) | (e.freqs > 2600)]).max() < 0.5  # nowhere else
    # returning None leaves the rule in charge: bit-identical to the engine without a detector
    e2 = ResonanceEngine(EngineConfig(FS, 2), "rule")
    e2._det = Spy(None)
    e2._det.cutting = True
    assert np.array_equal(e2.process_buffer(x, {"amount": -1.0}), rule(-1.0))
    # emphasis ignores the detector's prominence
    e3 = ResonanceEngine(EngineConfig(FS, 2), "rule")
    e3._det = Spy(prom)
    assert np.array_equal(e3.process_buffer(x, {"amount": 1.0}), rule(1.0))


def test_detector_output_of_the_wrong_shape_is_rejected():
    e = ResonanceEngine(EngineConfig(FS, 2), "rule")
    e._det = Spy(np.zeros((1, 5)))
    with pytest.raises(ValueError, match="detector must return None, a"):
        e.process_buffer(pink(4096, 3).astype(np.float32), {"amount": -1.0})
    e = ResonanceEngine(EngineConfig(FS, 2), "rule")
    e._det = Spy((np.zeros((1, e.G)), np.zeros((1, e.G - 1))))  # a low-path gate of the wrong shape
    with pytest.raises(ValueError, match="pair of them"):
        e.process_buffer(pink(4096, 3).astype(np.float32), {"amount": -1.0})


def test_detector_gates_the_low_path(monkeypatch):
    # (prominence, gate): the gate (dB) is added to the low path's prominence for cuts. A zero gate
    # is the same as no gate; a shut one the same as an engine without a low path
    x = pink(FS, 7)
    b, a = peaking(200.0, 12.0, 30.0)  # a narrow low resonance: only the low path resolves it
    x = ss.lfilter(b, a, x, axis=-1).astype(np.float32)

    def run(returned, long_thr_db=None):
        if long_thr_db is not None:
            monkeypatch.setattr("bandmate.engines.resonance.LONG_THR_DB", long_thr_db)
        e = ResonanceEngine(EngineConfig(FS, 2), "rule")
        monkeypatch.undo()
        e._det = Spy(returned(e.G))
        e._det.cutting = True
        return e, e.process_buffer(x, {"amount": -1.0})

    quiet = lambda G: np.full((1, G), -30.0)  # noqa: E731 - the main path finds nothing
    e, alone = run(quiet)
    _, zero_gate = run(lambda G: (quiet(G), np.zeros((1, G))))
    assert np.array_equal(alone, zero_gate)
    assert e.last_gain_db[0][np.abs(e.freqs - 200.0) < 15].min() < -6.0  # the low path cut it
    e, shut = run(lambda G: (quiet(G), np.full((1, G), -1e3)))
    _, no_low_path = run(quiet, long_thr_db=1e3)
    assert np.array_equal(shut, no_low_path)
    assert np.abs(e.last_gain_db).max() < 0.1  # nothing cut


def test_low_gate_opens_near_a_predicted_boost():
    boost = np.zeros((2, 200))
    boost[0, 100] = 2.0  # row 0: a resonance at point 100; row 1: nothing
    boost[1, 50] = 0.5 * sum(rd.LOW_GATE_BOOST_DB)  # halfway between shut and open
    g = rd.low_gate(boost)
    h = rd.LOW_GATE_HALF
    assert np.all(g[0, 100 - h : 101 + h] == 0.0)  # open within +-h points
    assert np.all(g[0, : 100 - h] == -rd.LOW_GATE_DB) and np.all(g[0, 101 + h :] == -rd.LOW_GATE_DB)
    np.testing.assert_allclose(g[1, 50 - h : 51 + h], -0.5 * rd.LOW_GATE_DB)


def test_steadiness_vetoes_steady_lines_and_not_noise_or_resonances():
    rng = np.random.default_rng(3)
    ctx, g = 16, 300
    noise = rng.exponential(1.0, (2, ctx, g)) * 1e-6  # per-point power of noise: ~5.6 dB std
    line = noise.copy()
    line[0, :, 150] = 1e-4 * (1.0 + 0.05 * rng.standard_normal(ctx))  # row 0: a steady line 20 dB up
    tone = np.full((1, ctx, g), 1e-9)
    tone[0, :, 80] = 1e-4  # a steady tone alone: nothing moves anywhere
    s = rd.steadiness(np.log10(line))
    h = rd.STEADY_HALF
    assert np.all(s[0, 150 - h : 151 + h] == 0.0)  # vetoed on the line and its main lobe
    assert np.mean(s[0, : 150 - 2 * h] == 1.0) > 0.95 and np.mean(s[1] == 1.0) > 0.95  # noise is not
    assert np.all(rd.steadiness(np.log10(tone)) == 0.0)
    # noise through a narrow resonance moves like noise: not vetoed at the resonance
    x = pink(4 * FS, 5)
    b, a = peaking(5000.0, 12.0, 40)
    lp = features(ss.lfilter(b, a, x, axis=-1))
    k = int(np.argmin(np.abs(GRID - 5000.0)))
    vetoed = [rd.steadiness(lp[None, t - ctx : t])[0, k] < 1.0 for t in range(ctx, len(lp), 4)]
    assert np.mean(vetoed) < 0.05


def test_held_sines_over_hits_are_left_alone_by_the_learned_detector(monkeypatch):
    """The rule's held-partials case (tests/test_resonance.py) with the learned detector: three sines
    ~16 dB over drum hits, and a resonance on the hits. The net alone cut the sines by 3.5..10 dB (its
    training music has no pure tones); the steadiness veto leaves them within 1 dB."""
    x, xin = held_sines_over_hits(4 * FS)
    s = slice(2 * FS, None)  # levels over the last 2 s

    def run():
        e = ResonanceEngine(EngineConfig(FS, 2))
        assert e.detector_name.startswith("learned")
        y = e.process_buffer(xin, {"amount": -1.0})[:, s]
        cuts = [band_db(y, f - 5, f + 5) - band_db(xin[:, s], f - 5, f + 5) for f in HELD_SINES_HZ]
        excess = band_db(xin[:, s], 2450, 2550) - band_db(x[:, s], 2450, 2550)
        return np.array(cuts), 1.0 - (band_db(y, 2450, 2550) - band_db(x[:, s], 2450, 2550)) / excess

    cuts, removed = run()
    assert np.all(np.abs(cuts) < 1.0), cuts
    assert removed > 0.75, removed
    monkeypatch.setattr(rd, "steadiness", lambda hist: np.ones((hist.shape[0], hist.shape[2])))
    cuts_unvetoed, removed_unvetoed = run()
    assert np.min(cuts_unvetoed) < -3.0, cuts_unvetoed  # what the veto prevents (measured -9.6 dB)
    assert removed_unvetoed > 0.75


def test_a_detector_that_fails_raises_and_the_engine_goes_on():
    x = pink(FS // 2, 6).astype(np.float32)
    e = ResonanceEngine(EngineConfig(FS, 2), "rule")

    class Broken(Spy):
        def __call__(self, power):
            raise RuntimeError("detector broke")

    e._det = Broken()
    p = e.spec.defaults() | {"amount": -1.0, "mid_side": 1.0}  # a pending domain switch, too
    with pytest.raises(RuntimeError, match="detector broke"):
        e.process(x[:, : e.hop], p)
    e._det = Spy()
    y = np.concatenate([e.process(x[:, s : s + e.hop], p)[0] for s in range(e.hop, x.shape[1] - e.hop + 1, e.hop)],
                       axis=1)
    assert np.isfinite(y).all() and np.abs(y).max() > 0.1
    assert len(e._det.powers) > 20


def test_missing_or_corrupt_model_falls_back_to_the_rule(tmp_path, monkeypatch, caplog):
    x = pink(FS // 2, 4).astype(np.float32)
    rule = ResonanceEngine(EngineConfig(FS, 2), "rule")
    assert rule.detector_name == "rule"
    want = rule.process_buffer(x, {"amount": -1.0})
    missing = ResonanceEngine(EngineConfig(FS, 2), str(tmp_path / "nope.onnx"))
    assert missing.detector_name.startswith("rule (model not found")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    corrupt = ResonanceEngine(EngineConfig(FS, 2), str(bad))
    assert corrupt.detector_name.startswith("rule (model unreadable")
    assert "model not found" in caplog.text and "model unreadable" in caplog.text  # the backend log says why
    monkeypatch.setenv(rd.ENV_MODEL, "rule")
    by_env = ResonanceEngine(EngineConfig(FS, 2))
    assert by_env.detector_name == "rule"
    for eng in (missing, corrupt, by_env):
        assert np.array_equal(eng.process_buffer(x, {"amount": -1.0}), want)


def test_link_and_mid_side_switches_keep_the_learned_detector_running():
    x = pink(FS, 5)
    b, a = peaking(2500.0, 12.0, 30.0)
    x = ss.lfilter(b, a, x, axis=-1).astype(np.float32)
    e = ResonanceEngine(EngineConfig(FS, 2))
    assert e.detector_name.startswith("learned")
    p = e.spec.defaults() | {"amount": -1.0}
    hops = [x[:, s : s + e.hop] for s in range(0, x.shape[1] - e.hop + 1, e.hop)]
    third = len(hops) // 3
    for i, h in enumerate(hops):  # linked, then unlinked (2 detector rows), then mid/side
        q = p | ({"stereo_link": 0.0} if i >= third else {}) | ({"mid_side": 1.0} if i >= 2 * third else {})
        y, _ = e.process(h, q)
        assert np.isfinite(y).all()
    assert e._det.last_boost.shape == (2, e.G)
    g = e.last_gain_db.mean(axis=0)
    assert g[np.abs(e.freqs - 2500.0) < 40].min() < -6.0  # still cutting the resonance


@functools.cache
def rendered_music() -> np.ndarray:
    """8 s at 48 kHz from FluidR3 (the bench's soundfont, not the training one): held string chords,
    a flute melody (vibrato), piano arpeggios and hats. Rendered once, read-only."""
    from bandmate.data.midi import MidiFile, tempo_event, write_midi
    from bandmate.data.render import fluidsynth_render_stereo

    tpq, ev = 480, [tempo_event(0, 120.0)]
    for ch, prog in ((0, 48), (1, 0), (3, 73)):
        ev.append((0, bytes([0xC0 | ch, prog])))

    def note(ch, key, beat, beats, vel):
        ev.append((int(beat * tpq), bytes([0x90 | ch, key, vel])))
        ev.append((int((beat + beats) * tpq) - 1, bytes([0x80 | ch, key, 0])))

    for bar, chord in enumerate([(60, 64, 67), (57, 60, 64), (53, 57, 60), (55, 59, 62)]):
        for k in chord:
            note(0, k, 4 * bar, 4, 70)
        for i in range(8):
            note(1, chord[i % 3] + 12 * (i >= 4), 4 * bar + i / 2, 0.5, 80)
            note(9, 42, 4 * bar + i / 2, 0.25, 60)
        for i, k in enumerate((72, 76, 79, 77)):
            note(3, k + (bar % 2) * 2, 4 * bar + i, 1, 85)
    audio, sr = fluidsynth_render_stereo(write_midi(MidiFile(tpq, [ev])), SOUNDFONT, FS, gain=0.6)
    assert sr == FS
    y = audio[:, : 8 * FS].astype(np.float64)
    y = y / np.max(np.abs(y)) * 0.5
    y.setflags(write=False)  # shared by the tests (cached)
    return y


def with_resonances(x: np.ndarray, peaks, t0: float) -> np.ndarray:
    """x with +12 dB peaking resonances ((f0, q), ...) from t0 s on."""
    xin = x.copy()
    for f0, q in peaks:
        b, a = peaking(f0, 12.0, q)
        xin[:, int(t0 * FS) :] = ss.lfilter(b, a, xin, axis=-1)[:, int(t0 * FS) :]
    return xin


def removal_and_collateral(x, xin, y, peaks, t0: float) -> tuple[list[float], float]:
    """The quality bench's measures (bench/resonance_quality.py) for peaks ((f0, q), ...) active from t0
    to the end: per peak 1 - residual/excess, and the collateral in third octaves away from them."""
    spans = [{"f0": f0, "q": q, "t0": t0, "t1": x.shape[1] / FS} for f0, q in peaks]
    return list(rq.removal(x, xin, y, spans)), rq.collateral(xin, y, spans)


def test_learned_detector_cuts_resonances_and_leaves_the_music_more_alone_than_the_rule():
    # the reason it ships: on rendered music (a song and soundfont it was not trained on) the rule
    # cuts partials it takes for resonances; the learned detector leaves far less collateral (measured
    # 1.49 dB vs the rule's 4.76) and still removes the resonances, the one at 2.3 kHz only in part: it
    # sits on a flute partial (G5 x 3), measured 40 % / 110 %. bench/RESULTS.md has the full picture
    x = rendered_music()
    peaks, t0 = ((2300.0, 30.0), (5000.0, 25.0)), 2.0
    xin = with_resonances(x, peaks, t0)
    got = {}
    for det in ("rule", None):
        e = ResonanceEngine(EngineConfig(FS, 2), det)
        y = e.process_buffer(xin.astype(np.float32), {"amount": -1.0}).astype(np.float64)
        got[e.detector_name.split()[0]] = removal_and_collateral(x, xin, y, peaks, t0)
    assert got["learned"][0][0] >= 0.3 and got["learned"][0][1] >= 0.75, got
    assert got["learned"][1] <= 0.5 * got["rule"][1], got
    assert got["rule"][1] > 2.0, got  # the material is one the rule gets wrong


def test_from_the_detectors_band_edge_up_the_music_goal_holds():
    # issue 4's goal on music (every peak >= 75 % removed, <= 0.5 dB collateral) holds in the range
    # where the learned detector finds resonances: with Low at 2.8 kHz, the bench's upper-range row
    # (bench/RESULTS.md). Here one peak on a flute partial (A5 x 4, 3520 Hz) and a narrow high one:
    # measured 112 % / 127 % at 0.01 dB. Over the full range (Low 40 Hz) the same engine cuts the
    # flute's notes below 2.8 kHz too: 1.50 dB, the music goal's miss (bench/RESULTS.md)
    x = rendered_music()
    peaks, t0 = ((3520.0, 30.0), (7000.0, 40.0)), 2.0
    xin = with_resonances(x, peaks, t0)
    got = {}
    for low_hz in (2800.0, 40.0):
        y = ResonanceEngine(EngineConfig(FS, 2)).process_buffer(
            xin.astype(np.float32), {"amount": -1.0, "low_hz": low_hz}).astype(np.float64)
        got[low_hz] = removal_and_collateral(x, xin, y, peaks, t0)
    removal, collateral = got[2800.0]
    assert min(removal) >= 0.75 and collateral <= 0.5, got
    assert got[40.0][1] > 1.0, got  # the material is one where the full range misses the goal


def test_on_pink_noise_the_gated_low_path_cuts_the_low_resonance_and_little_else():
    # the low path alone (flatness-gated) also cut pink noise's random low peaks: measured 0.23 dB
    # collateral ungated, 0.09 with the detector's gate; both resonances fully removed either way
    x = pink(6 * FS, 11)
    peaks = ((210.0, 30.0), (3000.0, 30.0))
    xin = x.copy()
    for f0, q in peaks:
        b, a = peaking(f0, 12.0, q)
        xin = ss.lfilter(b, a, xin, axis=-1)
    e = ResonanceEngine(EngineConfig(FS, 2))
    assert e.detector_name.startswith("learned")
    y = e.process_buffer(xin.astype(np.float32), {"amount": -1.0}).astype(np.float64)
    s = slice(2 * FS, None)

    def peak_db(z, f0, q):  # the resonance's bandwidth
        return band_db(z[:, s], f0 - f0 / (2 * q), f0 + f0 / (2 * q), nperseg=32768)

    for f0, q in peaks:
        excess = peak_db(xin, f0, q) - peak_db(x, f0, q)
        assert peak_db(y, f0, q) - peak_db(x, f0, q) <= 0.25 * excess, f0
    assert rq.collateral(xin[:, s], y[:, s], [{"f0": f0} for f0, _ in peaks]) < 0.15


def test_training_clips_render_with_either_soundfont(tmp_path):
    from bandmate.data.resonance import build_resonance

    with pytest.raises(ValueError, match="unknown soundfont 'GeneralUser'.*FluidR3_GM"):
        build_resonance(tmp_path, clips=1, soundfont="GeneralUser")
    assert build_resonance(tmp_path, clips=1, solo=False, soundfont="FluidR3_GM") == 1
    z = np.load(tmp_path / "c0000.npz")
    assert z["X"].shape == z["Y"].shape == (934, len(GRID))
    assert np.all(np.isfinite(z["X"])) and np.ptp(z["X"]) > 3.0  # rendered audio, not silence
    assert 6.0 <= float(z["Y"].max()) <= 15.5  # at least one injected resonance (+6..15 dB)
