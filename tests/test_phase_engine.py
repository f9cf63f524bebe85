"""Multiband Phase engine: delay and polarity, per-band phase with its guard, Mix = 0, links, Learn/Track."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal as ss
from bandmate.engines.base import EngineConfig
from bandmate.engines.phase import LEARN, REFERENCE, TARGET, TRACK, MultibandPhaseEngine, align_offline
from bandmate.engines.phase_analysis import BAND_CENTRES_HZ, CrossSpectrum, correction_fir
from bandmate.links import LinkBoard

FS = 48000


def material(seconds: float, seed: int) -> np.ndarray:
    """Percussive bursts (onsets) over a quiet bed of noise: broadband like a drum track."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FS)
    x = 0.02 * rng.standard_normal(n)
    for start in rng.integers(0, n - FS // 4, int(seconds * 6)):
        length = int(rng.integers(FS // 40, FS // 5))
        burst = rng.standard_normal(length) * np.exp(-np.arange(length) / (length / 5))
        x[start:start + length] += burst * rng.uniform(0.2, 1.0)
    x = ss.sosfilt(ss.butter(2, [30, 16000], "bandpass", fs=FS, output="sos"), x)
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def delayed(x: np.ndarray, d: float) -> np.ndarray:
    """x(t - d), fractional d (FFT, zero-padded: no wrap-around)."""
    N = 1 << int(np.ceil(np.log2(len(x) + abs(d) + 16)))
    f = np.fft.rfftfreq(N)
    return np.fft.irfft(np.fft.rfft(x, N) * np.exp(-2j * np.pi * f * d), N)[: len(x)]


def allpass(f0: float, q: float = 0.7):
    w0 = 2 * np.pi * f0 / FS
    al, c = np.sin(w0) / (2 * q), np.cos(w0)
    return np.array([1 - al, -2 * c, 1 + al]) / (1 + al), np.array([1 + al, -2 * c, 1 - al]) / (1 + al)


def octave_energy_db(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f, p = ss.welch(x, FS, nperseg=8192)
    centres = 1000 * 2.0 ** np.arange(-4, 4)  # 62.5 Hz .. 8 kHz
    return centres, np.array([10 * np.log10(p[(f >= c / 2**0.5) & (f < c * 2**0.5)].sum()) for c in centres])


@pytest.mark.parametrize(("d", "pol"), [(1234.37, 1), (-3050.81, -1), (4700.5, -1), (0.25, 1)])
def test_delay_and_polarity_are_found_to_a_tenth_of_a_sample(d, pol):
    r = material(8.0, 1)
    rng = np.random.default_rng(2)
    t = pol * delayed(r, d)
    t = (t + rng.standard_normal(len(t)) * t.std() * 10 ** (-30 / 20)).astype(np.float32)
    _, al = align_offline(r, t, FS, {"learn_s": 4.0})
    assert al is not None
    assert abs(al.delay - d) < 0.1, (al.delay, d)
    assert al.polarity == pol
    assert al.corr_after > 0.95 and al.corr_after > al.corr_before


@pytest.mark.parametrize("rate", [44100, 96000])
def test_other_sample_rates_keep_the_range_and_the_accuracy(rate):
    from scipy.signal import resample_poly

    r = resample_poly(material(8.0, 10), rate, FS).astype(np.float32)
    d = 0.095 * rate + 0.3  # 95 ms
    t = -delayed(r, d).astype(np.float32)
    _, al = align_offline(r, t, rate)
    assert abs(al.delay - d) < 0.1 and al.polarity == -1


def test_band_phase_beats_time_only_below_500_hz_and_is_never_worse():
    r = material(10.0, 3)
    b, a = allpass(150.0)
    t = -ss.lfilter(b, a, delayed(r, 812.6)).astype(np.float32)
    y_full, al = align_offline(r, t, FS)
    y_time, al_t = align_offline(r, t, FS, {"band_phase": 0.0})
    assert al.guarded == 0 and al_t.polarity == al.polarity == -1
    tail = slice(6 * FS, None)
    centres, e_full = octave_energy_db(r[tail] + y_full[tail])
    _, e_time = octave_energy_db(r[tail] + y_time[tail])
    gain = e_full - e_time
    assert np.all(gain > -0.5), gain
    assert np.all(gain[centres < 500] >= 1.0), gain  # the allpass turns the phase there
    # the summary phases report the allpass' turn at 125 Hz (close to -120 deg there: -phase of H)
    assert abs(np.degrees(np.angle(np.exp(1j * np.radians(al.phase_at([125.0])[0]))))) > 60


def test_guard_drops_band_phases_that_would_lower_the_sum(monkeypatch):
    r = material(5.0, 4)
    t = delayed(r, 100.0)
    cs = CrossSpectrum(FS)
    for s in range(0, len(r) - cs.n, cs.stride):
        cs.add(r[s: s + cs.n].astype(float), t[s: s + cs.n])
    harmful = np.where(BAND_CENTRES_HZ < 1000, np.pi, 0.0)  # a "correction" that inverts the lows
    monkeypatch.setattr(cs, "band_phase", lambda d, pol: harmful.copy())
    al, h = cs.estimate(4800, 16384, 8192, 4096)
    assert al.guarded >= np.sum(BAND_CENTRES_HZ < 1000)
    h_time = correction_fir(al.delay, al.polarity, None, 16384, 8192, FS, 4096)
    ov = cs.overlap(al.delay)
    e, e_time = cs.band_energy(cs.response(h, 8192), ov), cs.band_energy(cs.response(h_time, 8192), ov)
    assert np.all(e >= e_time * (1 - 1e-3))
    assert abs(al.sum_gain_db - al.time_only_gain_db) < 0.01


def test_mix_zero_is_the_input_exactly_and_bad_input_is_refused():
    r = material(3.0, 5)
    t = delayed(r, 300.0).astype(np.float32)
    y, _ = align_offline(r, t, FS, {"mix": 0.0})
    np.testing.assert_array_equal(y, t)
    with pytest.raises(ValueError, match="equal length"):
        align_offline(r, t[:-1], FS)


def run_linked(ref: np.ndarray, tgt: np.ndarray, params: dict, hops_behind: int = 3):
    """A Reference and a Target engine on one board; the Target's hops arrive ``hops_behind`` hops
    after the Reference's (negative: the Reference's arrive late)."""
    board = LinkBoard()
    re = MultibandPhaseEngine(EngineConfig(FS, 1, links=board, identity=b"ref"))
    te = MultibandPhaseEngine(EngineConfig(FS, 1, links=board, identity=b"tgt"))
    p = re.spec.defaults() | params
    hop = re.hop
    n = len(ref) // hop * hop
    lag_t, lag_r = max(hops_behind, 0) * hop, max(-hops_behind, 0) * hop
    ref_out, tgt_out = [], []
    for s in range(0, n + abs(hops_behind) * hop, hop):
        if lag_r <= s < n + lag_r:
            a = s - lag_r
            ref_out.append(re.process(ref[None, a: a + hop], p | {"role": REFERENCE})[0])
        if lag_t <= s < n + lag_t:
            a = s - lag_t
            y, meters = te.process(tgt[None, a: a + hop], p | {"role": TARGET})
            tgt_out.append(y)
    return re, te, np.concatenate(ref_out, axis=1)[0], np.concatenate(tgt_out, axis=1)[0], meters


def test_the_target_renders_the_same_whichever_instance_s_hops_arrive_first():
    r = material(6.0, 14)
    t = -delayed(r, 777.7).astype(np.float32)
    outs = [run_linked(r, t, {"learn_s": 2.0}, hops_behind=k)[3] for k in (-8, 0, 8)]
    assert np.max(np.abs(outs[0])) > 0.01
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], outs[2])


def test_linked_target_aligns_to_the_reference_and_the_reference_passes_through():
    r = material(8.0, 6)
    t = -delayed(r, -2222.2).astype(np.float32)
    re, te, ref_out, tgt_out, meters = run_linked(r, t, {"mode": LEARN, "learn_s": 3.0})
    L = re.latency
    np.testing.assert_array_equal(ref_out[L:], r[: len(ref_out) - L])
    al = te.aligner.alignment
    assert abs(al.delay + 2222.2) < 0.1 and al.polarity == -1
    assert meters["linked"] == 1.0 and meters["learned"] == 1.0 and meters["polarity"] == 1.0
    assert abs(meters["delay_ms"] + 2222.2 / 48) < 0.01
    assert not te.aligner.learning  # learnt, then frozen
    y = tgt_out[L:]
    tail = slice(5 * FS, len(y))
    assert np.corrcoef(y[tail], r[tail])[0, 1] > 0.99


def test_track_mode_follows_a_moving_source_and_relearn_restarts():
    r = material(16.0, 7)
    half = 8 * FS
    t = np.concatenate([delayed(r, 500.0)[:half], delayed(r, 900.0)[half:]]).astype(np.float32)
    _, te, _, _, _ = run_linked(r, t, {"mode": TRACK, "learn_s": 1.5}, hops_behind=0)
    assert te.aligner.learning  # tracking never freezes
    assert abs(te.aligner.alignment.delay - 900.0) < 0.5
    _, te, _, _, _ = run_linked(r, t, {"mode": LEARN, "learn_s": 2.0}, hops_behind=0)
    assert abs(te.aligner.alignment.delay - 500.0) < 0.5  # learnt early, frozen
    learnt = te.aligner.cs.accepted
    te.process(t[None, :te.hop], te.spec.defaults() | {"relearn": 1.0})
    assert te.aligner.learning and te.aligner.cs.accepted <= 2 < learnt  # starts over (this hop: <= 2 frames)


def test_the_transport_frame_pairs_instances_that_started_at_different_times():
    """Through the backend's sessions (wire values): the Target starts 5 hops after the Reference;
    with the transport frame (beyond 2^24, sent split) the pairing is exact, without it the
    sessions' own sample counts pair the wrong hops."""
    from bandmate.protocol import MsgType, decode_reply, encode_request
    from bandmate.sessions import SessionTable
    from bandmate.specs import FRAME_SPLIT, load_spec

    spec = load_spec("MultibandPhase")
    r = material(6.0, 8)
    t = -delayed(r, 1000.4).astype(np.float32)
    hop, late, f0 = 512, 5, FRAME_SPLIT + 12345

    def delay_found(rolling: bool) -> float:
        table = SessionTable()
        p = spec.defaults() | {"learn_s": 3.0}
        meters = None
        for k in range(len(r) // hop):
            frame = f0 + k * hop
            hi, lo = (frame // FRAME_SPLIT, frame % FRAME_SPLIT) if rolling else (-1, 0)
            for who, x, role in ((b"r", r, REFERENCE), (b"t", t, TARGET)):
                if who == b"t" and k < late:
                    continue
                values = [(p | {"role": role})[q.id] for q in spec.params] + [1.0, 0, 0, 120.0, 4.0, hi, lo]
                reply = table.handle(who, encode_request(k, 1, spec.engine, FS, np.array(values),
                                                         x[None, k * hop: (k + 1) * hop]))
                h, out, _ = decode_reply(reply)
                assert h.type == MsgType.REPLY
                if who == b"t":
                    meters = dict(zip([q.id for q in spec.engine_outputs], out, strict=True))
        assert meters["linked"] == 1.0
        return float(meters["delay_ms"])

    assert abs(delay_found(True) - 1000.4 / 48) < 0.005
    assert abs(delay_found(False) - (1000.4 - late * hop) / 48) < 0.01  # the wrong hops, paired by count


def test_histories_restart_on_a_transport_jump_and_analysis_continues():
    from bandmate.engines.phase import ANALYSIS_LAG_S, AudioHistory, PhaseAligner

    r = material(4.0, 9)
    t = delayed(r, 50.0).astype(np.float32)
    al = PhaseAligner(FS, 1, 512, 8192)
    ref, own = AudioHistory(4 * FS), AudioHistory(4 * FS)
    loop = 188 * 512  # a 2 s cycle: the host jumps back to frame 0 at its end (twice)
    for k in range(3 * loop // 512):
        pos = (k * 512) % loop
        ref.append(pos, r[pos: pos + 512])
        own.append(pos, t[pos: pos + 512])
        assert ref.start <= pos and ref.end == pos + 512
        al.feed(ref, own, track=False, learn_s=30.0)
    # each pass through the loop is analysed (up to the analysis lag before its end), 3 passes
    assert al.cs.accepted == 3 * ((loop - int(ANALYSIS_LAG_S * FS) - al.cs.n) // al.cs.stride + 1)
    assert abs(al.cs.delay(4800)[0] - 50.0) < 0.1
