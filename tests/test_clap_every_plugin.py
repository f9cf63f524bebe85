"""The CLAP conformance rules (what clap-validator checks) for every Bandmate plugin, each
checked against its own offline engine. test_clap.py covers the same rules for the
Reference plugin in more depth (each DPF 1.6 bug, host callbacks and threads)."""

from __future__ import annotations

import numpy as np
import pytest
from bandmate.engines import EngineConfig, create_engine
from bandmate.specs import all_specs

import plugin_host as ph
from tests.conftest import plugin_path

MAIN_CATEGORIES = {"instrument", "audio-effect", "note-effect", "note-detector", "analyzer"}


class Variant:
    """A plugin build: the spec plus its channel count (effects also ship a mono build)."""

    def __init__(self, spec, channels: int):
        self.spec, self.channels = spec, channels
        self.suffix = "Mono" if channels == 1 else ""

    def __getattr__(self, name):
        return getattr(self.spec, name)

    @property
    def name(self) -> str:
        return self.spec.name + self.suffix

    @property
    def plugin_name(self) -> str:
        return self.spec.plugin_name + self.suffix

    @property
    def clap_id(self) -> str:
        return self.spec.clap_id + (".mono" if self.channels == 1 else "")


VARIANTS = {v.name: v for s in all_specs() for v in [Variant(s, 2)] + ([] if s.generator else [Variant(s, 1)])}


@pytest.fixture(params=sorted(VARIANTS))
def spec(request):
    return VARIANTS[request.param]


def make(spec, **kw) -> ph.ClapPlugin:
    p = ph.ClapPlugin(str(plugin_path(spec.name, "clap")), **kw)
    p.set_param("Deterministic", 1.0)
    return p


def noise(spec, n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((spec.channels, n)).astype(np.float32) * 0.2


def expected(spec, x: np.ndarray, rate: int) -> np.ndarray:
    """What the plugin must render after latency compensation: the offline engine's output
    (a generator passes its input through)."""
    if spec.generator:
        return x
    return create_engine(spec.engine, EngineConfig(rate, x.shape[0])).process_buffer(x, spec.defaults())


def render(p: ph.ClapPlugin, x: np.ndarray, **kw) -> np.ndarray:
    lat = p.latency
    padded = np.concatenate([x, np.zeros((x.shape[0], lat), np.float32)], axis=1)
    return p.process(padded, **kw).audio[:, lat:]


def test_unknown_id_is_null_and_descriptor_is_consistent(spec):
    path = str(plugin_path(spec.name, "clap"))
    assert ph.ClapPlugin.create_raw(path, spec.clap_id)
    for bad in ("", spec.clap_id + "x", spec.clap_id.upper(), "com.bandmate.other"):
        assert not ph.ClapPlugin.create_raw(path, bad)
    (info,) = ph.list_plugins(path)
    assert (info.id, info.name, info.vendor) == (spec.clap_id, spec.plugin_name, "Bandmate")
    assert info.features[0] in MAIN_CATEGORIES and ("mono" if spec.channels == 1 else "stereo") in info.features
    p = ph.ClapPlugin(path)
    assert len(p.note_outputs) == (1 if spec.midi_out else 0)
    # a main input, plus a sidechain bus as wide (spec "sidechain"), never marked main
    assert [port.channels for port in p.audio_inputs] == [spec.channels] * (2 if spec.sidechain else 1)
    assert [port.flags & 1 for port in p.audio_inputs] == [1] + [0] * (len(p.audio_inputs) - 1)
    # a main output, plus a second bus where the spec has "aux_outputs" (BassNet's audition)
    aux = [spec.aux_outputs] if spec.aux_outputs else []
    assert [port.channels for port in p.audio_outputs] == [spec.channels] + aux
    assert [port.flags & 1 for port in p.audio_outputs] == [1] + [0] * (len(p.audio_outputs) - 1)


def test_parameters_match_the_spec_and_text_round_trips(spec):
    p = ph.ClapPlugin(str(plugin_path(spec.name, "clap")))
    params = {q.name: q for q in p.parameters}
    assert len(params) == len(spec.params) + len(spec.outputs)
    for sp in spec.params:
        q = params[sp.name]
        assert (q.min_value, q.max_value, q.default_value) == pytest.approx((sp.min, sp.max, sp.default), rel=1e-6)
        for v in np.linspace(sp.min, sp.max, 4):
            assert p.text_to_value(q.id, p.value_to_text(q.id, v)) == pytest.approx(sp.clamp(v), abs=1e-3)
    assert all(params[o.name].is_readonly for o in spec.outputs)


@pytest.mark.parametrize("block", [1, 10, 17, 256, 1024, 1536, 2027, 4096, "random"])
def test_matches_the_engine_at_every_block_size(spec, block):
    p = make(spec)
    assert p.activate(48000, max_block=4096)
    assert p.latency == spec.plugin_latency(48000, 4096, spec.defaults())
    n = 6000 if block == 1 else 12000
    x = noise(spec, n, 0)
    np.testing.assert_allclose(render(p, x, block_size=block, seed=3), expected(spec, x, 48000), atol=2e-5)


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 88200, 192000])
def test_sample_rates_run_correctly_or_refuse_cleanly(spec, rate):
    p = make(spec)
    ok = p.activate(rate, max_block=1024)
    assert ok == (44100 <= rate <= 192000)
    if ok:
        x = noise(spec, rate // 8, 1)
        np.testing.assert_allclose(render(p, x, block_size="random", seed=rate), expected(spec, x, rate), atol=2e-5)
    else:
        assert not p.is_active


def test_reset_reactivate_and_a_host_without_optional_extensions(spec):
    x = noise(spec, 4800, 2)
    want = expected(spec, x, 48000)
    for extensions in (None, ("log",)):
        p = make(spec, **({"extensions": extensions} if extensions else {}))
        for _ in range(2):
            assert p.activate(48000, max_block=256)
            np.testing.assert_allclose(render(p, x, block_size=256), want, atol=2e-5)
            p.reset()
            np.testing.assert_allclose(render(p, x, block_size=256), want, atol=2e-5)
            p.deactivate()


def test_state_is_byte_exact_and_bad_state_is_rejected(spec):
    p = make(spec)
    rng = np.random.default_rng(4)
    for sp in spec.params:
        p.set_param(sp.name, sp.clamp(rng.uniform(sp.min, sp.max)))
    blob = p.save_state(chunk=17)
    assert blob == p.save_state() == p.save_state(chunk=1)
    q = ph.ClapPlugin(str(plugin_path(spec.name, "clap")))
    assert q.load_state(blob, chunk=17)
    assert q.save_state() == blob
    for sp in spec.params:
        assert q.get_param(sp.name) == pytest.approx(p.get_param(sp.name), abs=1e-5), sp.id
    r = ph.ClapPlugin(str(plugin_path(spec.name, "clap")))
    before = r.save_state()
    for bad in (b"", blob[:10], blob[:-1], rng.bytes(len(blob)), rng.bytes(3000)):
        assert not r.load_state(bad, chunk=17)
        assert r.save_state() == before  # nothing lost


def test_random_parameter_fuzzing_in_and_out_of_namespace(spec):
    p = make(spec)
    assert p.activate(48000, max_block=512)
    rng = np.random.default_rng(6)
    fuzzable = [q for q in spec.params if q.id not in ("deterministic", "capture")]
    last = {q.name: q.default for q in fuzzable}
    for _ in range(10):
        for offset in sorted(rng.integers(0, 512, 8)):
            q = fuzzable[rng.integers(len(fuzzable))]
            value, core = float(rng.uniform(q.min, q.max)), bool(rng.random() < 0.5)
            p.set_param(q.name, value, sample_offset=int(offset), space_id=0 if core else 7)
            if core:
                last[q.name] = q.clamp(value)
        y = p.process(noise(spec, 512, int(rng.integers(1000))), block_size="random", seed=1).audio
        assert np.all(np.isfinite(y)) and np.abs(y).max() < 100
    for name, value in last.items():
        assert p.get_param(name) == pytest.approx(value, abs=1e-4, rel=1e-6), name
    assert p.violations == []
