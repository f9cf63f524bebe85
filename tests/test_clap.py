"""Conformance of Bandmate CLAP builds in our own host (the rules clap-validator checks),
including each DPF 1.6 bug our ClapEntry.cpp works around."""

from __future__ import annotations

import numpy as np
import pytest
from bandmate.engines.reference import REFERENCE_FIR
from bandmate.specs import load_spec
from scipy.signal import lfilter

import plugin_host as ph
from tests.conftest import plugin_path

SPEC = load_spec("reference")
CLAP_ID = SPEC.clap_id


@pytest.fixture()
def path():
    return str(plugin_path("Reference", "clap"))


def make(path, **kw):
    p = ph.ClapPlugin(path, **kw)
    p.set_param("Deterministic", 1.0)
    return p


def aligned(p, x, rate, max_block, **process_kw):
    """Process x plus enough silence to flush the latency; return the latency-compensated output."""
    lat = p.latency
    assert lat == SPEC.plugin_latency(rate, max_block)
    padded = np.concatenate([x, np.zeros((x.shape[0], lat), np.float32)], axis=1)
    return p.process(padded, **process_kw).audio[:, lat:]


def test_unknown_plugin_id_gives_null(path):
    assert ph.ClapPlugin.create_raw(path, CLAP_ID)
    for bad in ("", CLAP_ID + "x", CLAP_ID + " garbage", "com.other.plugin", CLAP_ID.upper(), CLAP_ID[:-1]):
        assert not ph.ClapPlugin.create_raw(path, bad), bad


def test_descriptor_and_features(path):
    (info,) = ph.list_plugins(path)
    assert info.id == CLAP_ID and info.name == "BandmateReference" and info.vendor == "Bandmate"
    assert "audio-effect" in info.features


def test_parameters_match_the_spec_and_text_round_trips(path):
    p = ph.ClapPlugin(path)
    params = {q.name: q for q in p.parameters}
    for spec_param in SPEC.params:
        q = params[spec_param.name]
        assert (q.min_value, q.max_value, q.default_value) == (spec_param.min, spec_param.max, spec_param.default)
        for v in np.linspace(q.min_value, q.max_value, 5):
            text = p.value_to_text(q.id, v)
            assert text is not None
            assert p.text_to_value(q.id, text) == pytest.approx(spec_param.clamp(v), abs=1e-3)
    assert params["Late blocks"].is_readonly and params["Backend connected"].is_readonly


@pytest.mark.parametrize("block", [1, 10, 17, 256, 1024, 1536, 2027, 4096, "random"])
def test_exact_at_every_block_size(path, block):
    p = make(path)
    max_block = 4096
    assert p.activate(48000, max_block=max_block)
    x = np.random.default_rng(0).standard_normal((2, 12000)).astype(np.float32) * 0.3
    y = aligned(p, x, 48000, max_block, block_size=block, seed=7)
    np.testing.assert_allclose(y, lfilter(REFERENCE_FIR, 1, x, axis=1), atol=1e-6)


def test_foreign_namespace_events_are_ignored(path):
    p = make(path)
    assert p.activate(48000, max_block=512)
    x = np.random.default_rng(1).standard_normal((2, 9600)).astype(np.float32) * 0.3
    p.set_param("Gain", 12.0, space_id=0x4242)  # not CLAP_CORE_EVENT_SPACE_ID
    p.set_param("Mix", 0.0, space_id=0x4242)
    y = aligned(p, x, 48000, 512, block_size=512)
    np.testing.assert_allclose(y, lfilter(REFERENCE_FIR, 1, x, axis=1), atol=1e-6)
    assert p.get_param("Gain") == 0.0 and p.get_param("Mix") == 1.0
    p.set_param("Gain", -6.0)  # core namespace: applied
    p.process(np.zeros((2, 512), np.float32), block_size=512)
    assert p.get_param("Gain") == pytest.approx(-6.0)


@pytest.mark.parametrize("rate", [8000, 22050, 32000, 44100, 48000, 88200, 96000, 176400, 192000])
def test_sample_rates_run_correctly_or_refuse_cleanly(path, rate):
    p = make(path)
    ok = p.activate(rate, max_block=1024)
    assert ok == (44100 <= rate <= 192000)
    if not ok:
        assert not p.is_active
        return
    x = np.random.default_rng(2).standard_normal((2, rate // 10)).astype(np.float32) * 0.3
    y = aligned(p, x, rate, 1024, block_size="random", seed=rate)
    np.testing.assert_allclose(y, lfilter(REFERENCE_FIR, 1, x, axis=1), atol=1e-6)


def test_latency_reported_only_inside_activate(path):
    p = make(path)
    for rate, block in ((48000, 256), (96000, 2048), (44100, 64)):
        assert p.activate(rate, max_block=block)
        assert p.latency == SPEC.plugin_latency(rate, block)
        p.process(np.zeros((2, 4 * block), np.float32), block_size=block)
        p.deactivate()
    changed = [c for c in p.host_calls if "latency" in c.name]
    assert changed and all(c.phase == "activate" and c.thread == "main" for c in changed), changed
    assert not p.restart_requested
    assert p.violations == []


def test_host_without_optional_extensions(path):
    p = make(path, extensions=("log",))
    assert p.activate(48000, max_block=512)
    x = np.random.default_rng(3).standard_normal((2, 4800)).astype(np.float32)
    y = aligned(p, x, 48000, 512, block_size=100)
    np.testing.assert_allclose(y, lfilter(REFERENCE_FIR, 1, x, axis=1), atol=1e-6)
    p.deactivate()
    assert p.activate(96000, max_block=512)  # latency changes: no host latency extension to call
    p.deactivate()


def test_reset_and_reactivate(path):
    p = make(path)
    x = np.random.default_rng(4).standard_normal((2, 4800)).astype(np.float32) * 0.3
    expected = lfilter(REFERENCE_FIR, 1, x, axis=1)
    for _ in range(2):
        assert p.activate(48000, max_block=256)
        np.testing.assert_allclose(aligned(p, x, 48000, 256, block_size=256), expected, atol=1e-6)
        p.reset()
        np.testing.assert_allclose(aligned(p, x, 48000, 256, block_size=256), expected, atol=1e-6)
        p.deactivate()


def test_state_round_trip_with_partial_reads_and_writes(path):
    p = make(path)
    p.set_param("Gain", 4.5)
    p.set_param("Invert polarity", 1.0)
    blob = p.save_state(chunk=17)
    assert blob == p.save_state() == p.save_state(chunk=1)  # byte-exact, however it is written
    q = ph.ClapPlugin(path)
    assert q.load_state(blob, chunk=17)
    assert q.get_param("Gain") == pytest.approx(4.5) and q.get_param("Invert polarity") == 1.0
    assert q.get_param("Deterministic") == 1.0  # the mode switch is part of the state
    assert q.save_state() == blob


def test_empty_corrupt_and_truncated_state_is_rejected(path):
    p = make(path)
    p.set_param("Gain", 3.0)
    good = p.save_state()
    q = ph.ClapPlugin(path)
    q.set_param("Gain", -2.0)
    rng = np.random.default_rng(5)
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0x40
    for bad in (b"", good[:10], good[:-1], bytes(flipped), rng.bytes(len(good)), rng.bytes(3000)):
        assert not q.load_state(bad, chunk=17)
        assert q.get_param("Gain") == pytest.approx(-2.0)  # nothing lost


def test_random_parameter_fuzzing_in_and_out_of_namespace(path):
    p = make(path)
    assert p.activate(48000, max_block=512)
    rng = np.random.default_rng(6)
    fuzzable = [q for q in SPEC.params if q.id != "deterministic"]
    last = {q.name: q.default for q in fuzzable}
    for _ in range(20):
        events = []
        for _ in range(10):
            q = fuzzable[rng.integers(len(fuzzable))]
            events.append((int(rng.integers(0, 512)), q, float(rng.uniform(q.min, q.max)), rng.random() < 0.5))
        for offset, q, value, core in sorted(events, key=lambda e: e[0]):  # the host delivers them in time order
            p.set_param(q.name, value, sample_offset=offset, space_id=0 if core else 7)
            if core:
                last[q.name] = q.clamp(value)
        y = p.process(rng.standard_normal((2, 512)).astype(np.float32), block_size="random", seed=1).audio
        assert np.all(np.isfinite(y))
    for name, value in last.items():
        assert p.get_param(name) == pytest.approx(value, abs=1e-4), name
    assert p.violations == []
