"""plugin_host: one test body over CLAP and VST3 (a DPF-built gain), paced realtime mode, render_file."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import plugin_host as ph
from plugin_host import ClapPlugin, MidiEvent, Transport
from plugin_host.render import render_file

SR = 48000.0
FIXTURES = Path(__file__).parent / "fixtures"


def _builder(rel: str, func: str):
    spec = importlib.util.spec_from_file_location(rel.replace("/", "_"), FIXTURES / rel)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return getattr(mod, func)


@pytest.fixture(scope="session")
def fixture_clap(tmp_path_factory) -> str:
    return str(_builder("clap_fixture/build.py", "build_clap_fixture")(tmp_path_factory.mktemp("clap_fx")))


@pytest.fixture(scope="session")
def dpf_gain(tmp_path_factory) -> dict[str, Path]:
    return _builder("dpf_gain/build.py", "build_dpf_gain")(tmp_path_factory.mktemp("dpf_gain"))


@pytest.fixture(params=["fixture.clap", "dpf.clap", "dpf.vst3"])
def any_plugin(request, fixture_clap, dpf_gain):
    path = {"fixture.clap": fixture_clap, "dpf.clap": dpf_gain["clap"], "dpf.vst3": dpf_gain["vst3"]}[request.param]
    p = ph.load(path)
    yield p
    p.close()


# ------------------------------------------------------------------ both formats, one API


def test_gain_same_api_both_formats(any_plugin):
    p = any_plugin
    gain = next(q for q in p.parameters if q.name == "Gain")
    assert (gain.min_value, gain.max_value) == (0.0, 2.0)
    p.set_param("Gain", 0.5)
    assert p.get_param("gain") == pytest.approx(0.5, abs=1e-6)
    assert p.activate(SR, max_block=512)
    assert p.latency == 0
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (2, 3000)).astype(np.float32)
    out = p.process(x, block_size=256).audio
    np.testing.assert_allclose(out, 0.5 * x, atol=1e-7)
    assert p.violations == []


def test_state_round_trip_both_formats(any_plugin):
    p = any_plugin
    if p.format == "clap" and not p.has_extension("state"):
        # DPF 1.6 CLAP without DISTRHO_PLUGIN_WANT_STATE offers no clap.state (why our generated
        # plugins set it): only the bare DPF build may lack it, and the host reports it clearly.
        assert "dpf" in str(p.path).lower()
        with pytest.raises((RuntimeError, NotImplementedError)):
            p.save_state()
        return
    p.set_param("Gain", 0.25)
    p.activate(SR, max_block=64)
    p.process(np.zeros((2, 64), np.float32), block_size=64)  # VST3: a processor sees edits only via process
    blob = p.save_state()
    p.set_param("Gain", 1.75)
    assert p.load_state(blob)
    assert p.get_param("Gain") == pytest.approx(0.25, abs=1e-6)


def test_vst3_limits_raise_not_implemented(dpf_gain):
    p = ph.load(dpf_gain["vst3"])
    assert p.format == "vst3" and "midi_out" not in p.capabilities
    p.activate(SR)
    x = np.zeros((2, 512), np.float32)
    r = p.process(x, block_size=128)
    with pytest.raises(NotImplementedError):
        _ = r.midi_out
    with pytest.raises(NotImplementedError):
        p.process(x, block_size="random")
    with pytest.raises(NotImplementedError):
        p.process(x, transport=Transport())
    with pytest.raises(NotImplementedError):
        p.process(x, midi_in=[MidiEvent(0, bytes([0x90, 60, 100]))])
    with pytest.raises(NotImplementedError):
        p.set_param("Gain", 1.0, sample_offset=10)
    with pytest.raises(NotImplementedError):
        p.save_state(chunk=17)


def test_dpf_clap_under_our_host(dpf_gain):
    """DPF 1.6's CLAP wrapper applies param events at the start of the block containing them
    (not sample-accurate); the host delivers them at the right offset either way."""
    p = ClapPlugin(str(dpf_gain["clap"]))
    p.activate(SR, max_block=256)
    p.set_param("Gain", 0.0, sample_offset=100)
    r = p.process(np.ones((2, 1000), np.float32), block_size="random", seed=4)
    starts = np.cumsum([0] + r.block_sizes)
    block_start = int(starts[starts <= 100].max())
    np.testing.assert_array_equal(r.audio[:, :block_start], 1.0)
    np.testing.assert_array_equal(r.audio[:, block_start:], 0.0)
    p.deactivate()
    assert p.violations == []


@pytest.mark.xfail(strict=True, reason="DPF 1.6 bug: clap_create_plugin ignores the requested plugin id")
def test_dpf_clap_rejects_garbage_id(dpf_gain):
    assert not ClapPlugin.create_raw(str(dpf_gain["clap"]), "org.bandmate.test.dpf-gain-garbage")


# ------------------------------------------------------------------ paced realtime mode


def test_paced_run_n_tracks(fixture_clap):
    plugins = [ClapPlugin(fixture_clap) for _ in range(3)]
    for p in plugins:
        p.set_param("Note period", 4800)
        assert p.activate(SR, max_block=256)
    stats = ph.paced_run(plugins, seconds=0.5, block=256)
    assert stats.blocks == int(np.ceil(0.5 * SR / 256))
    assert stats.durations_s.shape == (stats.blocks, 3)
    assert stats.period_s == pytest.approx(256 / SR)
    assert 0 < stats.p50 <= stats.p99 <= stats.max
    assert len(stats.per_plugin) == 3 and all(d["p50"] > 0 for d in stats.per_plugin)
    # a gain plugin uses a tiny part of the budget; allow a few scheduler hiccups on a busy CI box
    assert stats.p50 < 0.5 and stats.overruns <= stats.blocks // 10
    # notes (on+off per 4800 samples) + one Peak event per block, for each track
    n = stats.blocks * 256
    assert stats.out_events == 3 * (stats.blocks + len(range(0, n, 4800)) + len(range(2400, n, 4800)))
    for p in plugins:
        assert p.violations == []


def test_process_paced_single_and_validation(fixture_clap):
    p = ClapPlugin(fixture_clap)
    with pytest.raises(RuntimeError):
        p.process_paced(0.1)  # not active
    p.activate(SR, max_block=128)
    with pytest.raises(ValueError):
        p.process_paced(0.1, block=256)  # above max_block
    stats = p.process_paced(0.1, block=128)
    assert stats.blocks == int(np.ceil(0.1 * SR / 128))
    assert p.violations == []


# ------------------------------------------------------------------ render_file


def test_render_file_compensates_latency(fixture_clap, tmp_path, capsys):
    x = np.random.default_rng(1).uniform(-0.5, 0.5, (30000, 2)).astype(np.float32)
    src, dst = tmp_path / "in.wav", tmp_path / "out.wav"
    sf.write(src, x, 44100, subtype="FLOAT")
    info = render_file(fixture_clap, src, dst, params={"Gain": "0.5", "Delay": 100}, block_size=256)
    y, sr = sf.read(dst, dtype="float32", always_2d=True)
    assert sr == 44100 and y.shape == x.shape and info["latency"] == 100
    np.testing.assert_allclose(y, 0.5 * x, atol=1e-7)
    err = capsys.readouterr().err
    assert "100%" in err and "#" in err


def test_render_file_vst3(dpf_gain, tmp_path):
    x = np.random.default_rng(2).uniform(-0.5, 0.5, (5000, 2)).astype(np.float32)
    src, dst = tmp_path / "in.wav", tmp_path / "out.wav"
    sf.write(src, x, 48000, subtype="FLOAT")
    info = render_file(dpf_gain["vst3"], src, dst, params={"gain": 2.0}, block_size=512, progress=False)
    y, _ = sf.read(dst, dtype="float32", always_2d=True)
    assert info["format"] == "vst3"
    np.testing.assert_allclose(y, 2.0 * x, atol=1e-6)
