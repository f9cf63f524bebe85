"""CLAP test host (plugin_host) against the fixture plugin in tests/fixtures/clap_fixture."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import numpy as np
import pytest

import plugin_host as ph
from plugin_host import ClapPlugin, MidiEvent, Transport

SR = 48000.0
GAIN_ID = "org.bandmate.test.gain"
MONO_ID = "org.bandmate.test.mono"
SPLITS = [4096, 64, 1, "random", [100, 1, 99, 800, 3000, 96]]


def _load_builder():
    path = Path(__file__).parent / "fixtures" / "clap_fixture" / "build.py"
    spec = importlib.util.spec_from_file_location("clap_fixture_build", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.build_clap_fixture


@pytest.fixture(scope="session")
def fixture_clap(tmp_path_factory) -> str:
    return str(_load_builder()(tmp_path_factory.mktemp("clap_fixture")))


@pytest.fixture
def plug(fixture_clap):
    p = ClapPlugin(fixture_clap, GAIN_ID)
    yield p
    p.close()


def ones(n: int = 4096, ch: int = 2) -> np.ndarray:
    return np.ones((ch, n), np.float32)


def assert_clean(p: ClapPlugin) -> None:
    assert p.violations == []
    assert not [m for sev, m, _ in p.logs if sev >= 5], p.logs


# ------------------------------------------------------------------ discovery


def test_list_plugins(fixture_clap):
    infos = ph.list_plugins(fixture_clap)
    assert [i.id for i in infos] == [GAIN_ID, MONO_ID]
    assert infos[0].name == "Fixture Gain" and infos[0].vendor == "Bandmate" and infos[0].version == "1.2.3"
    assert infos[0].features == ("audio-effect", "stereo")


def test_create_with_garbage_id_returns_null(fixture_clap):
    assert ClapPlugin.create_raw(fixture_clap, GAIN_ID)
    for bad in ("", "nope", GAIN_ID + "garbage", GAIN_ID[:-1]):
        assert not ClapPlugin.create_raw(fixture_clap, bad), bad
    with pytest.raises(ValueError):
        ClapPlugin(fixture_clap, "no.such.plugin")


def test_first_plugin_by_default_and_load_by_extension(fixture_clap):
    assert ClapPlugin(fixture_clap).info.id == GAIN_ID
    assert isinstance(ph.load(fixture_clap), ClapPlugin)
    with pytest.raises(ValueError):
        ph.load("/tmp/plugin.dll")


# ------------------------------------------------------------------ params


def test_parameter_info(plug):
    params = {p.name: p for p in plug.parameters}
    assert [p.id for p in plug.parameters] == [0, 1, 2, 10, 11, 12]
    assert params["Gain"].min_value == 0 and params["Gain"].max_value == 2 and params["Gain"].default_value == 1
    assert params["Gain"].is_automatable and not params["Gain"].is_readonly
    assert params["Delay"].is_stepped
    assert params["Peak"].is_readonly and params["Peak"].is_output and params["Peak"].module == "Meters"


def test_param_get_set_text_while_inactive(plug):
    assert plug.get_param("Gain") == 1.0
    plug.set_param("gain", 0.25)  # by pedalboard-style name; flushed at once while inactive
    assert plug.get_param(0) == 0.25
    plug.set_param("Note period", "1200 smp")
    assert plug.get_param("note_period") == 1200
    assert plug.value_to_text("Delay", 12) == "12 smp"
    assert plug.text_to_value("Gain", "1.5") == 1.5
    with pytest.raises(KeyError):
        plug.get_param("Nope")
    assert_clean(plug)


@pytest.mark.parametrize("split", SPLITS, ids=str)
def test_sample_accurate_param_change(plug, split):
    plug.activate(SR, max_block=4096)
    plug.set_param("Gain", 0.5, sample_offset=100)
    plug.set_param("Gain", 2.0, sample_offset=3001)
    out = plug.process(ones(), block_size=split, seed=7).audio
    assert out.shape == (2, 4096)
    np.testing.assert_array_equal(out[:, :100], 1.0)
    np.testing.assert_array_equal(out[:, 100:3001], 0.5)
    np.testing.assert_array_equal(out[:, 3001:], 2.0)
    assert_clean(plug)


def test_param_event_beyond_call_is_kept_for_next_call(plug):
    plug.activate(SR, max_block=512)
    plug.set_param("Gain", 0.0, sample_offset=1500)
    a = plug.process(ones(1000), block_size=256).audio
    np.testing.assert_array_equal(a, 1.0)
    b = plug.process(ones(1000), block_size=256).audio
    np.testing.assert_array_equal(b[:, :500], 1.0)
    np.testing.assert_array_equal(b[:, 500:], 0.0)


def test_foreign_event_space_is_ignored(plug):
    plug.activate(SR)
    plug.set_param("Gain", 0.0, sample_offset=10, space_id=7)
    out = plug.process(ones(64), block_size=64).audio
    np.testing.assert_array_equal(out, 1.0)
    assert plug.get_param("Gain") == 1.0


def test_flush_while_active_runs_on_audio_thread(plug):
    plug.activate(SR)
    plug.set_param("Gain", 0.75)  # active: queued for the next process ...
    assert plug.get_param("Gain") == 1.0
    plug.flush_params()  # ... or flushed explicitly
    assert plug.get_param("Gain") == 0.75
    assert plug.output_params["Peak"] == 0.0  # the fixture reports its meter on flush
    assert_clean(plug)


# ------------------------------------------------------------------ MIDI


def expected_pattern(n: int, period: int) -> list[MidiEvent]:
    out, count = [], 0
    for t in range(n):
        key = 60 + count % 12
        if t % period == 0:
            out.append(MidiEvent(t, bytes([0x90, key, 100])))
        if t % period == period // 2:
            out.append(MidiEvent(t, bytes([0x80, key, 0])))
            count += 1
    return out


@pytest.mark.parametrize("split", SPLITS + ["random"], ids=str)
def test_midi_out_absolute_offsets_under_any_split(plug, split):
    plug.set_param("Note period", 300)
    plug.activate(SR, max_block=4096)
    r = plug.process(ones(), block_size=split, seed=len(str(split)))
    assert r.midi_out == expected_pattern(4096, 300)
    assert sum(r.block_sizes) == 4096
    if split == "random":
        assert len(set(r.block_sizes)) > 1
    assert_clean(plug)


def test_midi_in_echo_with_offsets_and_sysex(plug):
    plug.activate(SR, max_block=4096)
    ev = [MidiEvent(3000, bytes([0x90, 64, 90])), MidiEvent(777, bytes([0xB0, 7, 100])),
          MidiEvent(1500, bytes([0xF0, 0x7D, 1, 2, 3, 0xF7])), MidiEvent(4095, bytes([0xC0, 5]))]
    r = plug.process(ones(), block_size="random", seed=3, midi_in=ev)
    assert r.midi_out == sorted(ev, key=lambda e: e.offset)
    assert_clean(plug)


def test_mono_plugin_clap_note_dialect(fixture_clap):
    p = ClapPlugin(fixture_clap, MONO_ID)
    assert [port.channels for port in p.audio_inputs] == [1]
    assert p.note_inputs[0].supported_dialects == 1  # CLAP_NOTE_DIALECT_CLAP only
    assert not p.has_extension("latency") and not p.has_extension("state")
    p.activate(SR, max_block=256)
    ev = [MidiEvent(10, bytes([0x91, 60, 100])), MidiEvent(20, bytes([0x81, 60, 64])),
          MidiEvent(30, bytes([0x90, 61, 0]))]  # velocity-0 note-on becomes a CLAP note-off
    r = p.process(np.full((1, 1000), 0.5, np.float32), block_size="random", midi_in=ev)
    assert r.audio.shape == (1, 1000)
    np.testing.assert_array_equal(r.audio, 0.5)
    assert r.midi_out == [MidiEvent(10, bytes([0x91, 60, 100])), MidiEvent(20, bytes([0x81, 60, 64])),
                          MidiEvent(30, bytes([0x80, 61, 0]))]
    with pytest.raises(ValueError):
        p.process(ones(100, ch=2))
    assert p.latency == 0
    assert_clean(p)


# ------------------------------------------------------------------ transport


@pytest.mark.parametrize("num,den", [(4, 4), (3, 4), (6, 8)])
def test_transport_per_block(plug, num, den):
    plug.activate(SR, max_block=2048)
    tp = Transport(tempo=137.0, numerator=num, denominator=den, position_beats=7.5)
    first = plug.process(ones(10000), block_size="random", seed=5, transport=tp)
    second = plug.process(ones(5000), block_size=333)  # continues from where the first call ended
    bar_len = num * 4 / den
    for offset0, r in ((0, first), (10000, second)):
        pos = [(o, v) for o, i, v in r.param_out if i == 11]
        bars = [(o, v) for o, i, v in r.param_out if i == 12]
        assert len(pos) == len(r.block_sizes)
        assert [o for o, _ in pos] == list(np.cumsum([0] + r.block_sizes[:-1]))
        for (o, v), (_, b) in zip(pos, bars, strict=True):
            expect = 7.5 + (offset0 + o) / SR * 137.0 / 60.0
            assert v == pytest.approx(expect, abs=1e-9)
            assert b == pytest.approx(np.floor(expect / bar_len + 1e-9) * bar_len, abs=1e-9)
    assert plug.transport.position_beats == pytest.approx(7.5 + 15000 / SR * 137 / 60)


def test_transport_stopped_does_not_advance(plug):
    plug.activate(SR)
    r = plug.process(ones(2000), block_size=500, transport=Transport(playing=False, position_beats=3.0))
    assert {v for _, i, v in r.param_out if i == 11} == {3.0}


def test_no_transport_by_default(plug):
    plug.activate(SR)
    r = plug.process(ones(1000), block_size=500)
    assert not [p for p in r.param_out if p[1] in (11, 12)]
    assert plug.output_params["Song position"] == -1.0


# ------------------------------------------------------------------ output params


def test_output_param_events(plug):
    plug.activate(SR, max_block=1024)
    x = ones(1024)
    x[0, 500] = 3.0
    r = plug.process(x, block_size=[512, 512])
    assert [(o, i, v) for o, i, v in r.param_out if i == 10] == [(511, 10, 3.0), (1023, 10, 1.0)]
    assert plug.output_params["Peak"] == 1.0


# ------------------------------------------------------------------ state


def test_state_round_trip_chunked(fixture_clap, plug):
    plug.set_param("Gain", 0.3)
    plug.set_param("Delay", 17)
    plug.set_param("Note period", 999)
    whole = plug.save_state()
    assert plug.save_state(chunk=17) == whole and len(whole) > 17 * 3
    other = ClapPlugin(fixture_clap, GAIN_ID)
    assert other.load_state(whole, chunk=5)
    assert (other.get_param("Gain"), other.get_param("Delay"), other.get_param("Note period")) == (0.3, 17, 999)
    assert not other.load_state(b"")
    assert not other.load_state(whole[:-1], chunk=17)
    assert_clean(other)


# ------------------------------------------------------------------ latency


def test_latency_reported_inside_activate(plug):
    plug.set_param("Delay", 37)
    assert plug.activate(SR, max_block=512)
    assert plug.latency == 37
    x = np.zeros((2, 1000), np.float32)
    x[:, 10] = 1.0
    out = plug.process(x, block_size="random", seed=2).audio
    assert np.flatnonzero(out[0]).tolist() == [47]
    changed = [c for c in plug.host_calls if c.name == "latency.changed"]
    assert changed == [ph.HostCall("latency.changed", "main", "activate")]
    plug.deactivate()
    assert_clean(plug)


def test_latency_change_while_active_requests_restart(plug):
    plug.activate(SR)
    assert plug.latency == 0
    plug.set_param("Delay", 64)
    plug.process(ones(256), block_size=128)
    assert plug.restart_requested and plug.latency == 0  # unchanged until re-activation
    assert [c.thread for c in plug.host_calls if c.name == "request_restart"] == ["audio"]
    assert plug.idle(restart=True) == ["restart"]
    assert plug.latency == 64 and plug.is_active
    assert all(c.phase == "activate" for c in plug.host_calls if c.name == "latency.changed")
    assert_clean(plug)


def test_host_without_latency_params_state_extensions(fixture_clap):
    p = ClapPlugin(fixture_clap, GAIN_ID, extensions=("audio-ports", "note-ports", "thread-check"))
    p.set_param("Delay", 100)
    assert p.activate(SR, max_block=512)
    assert p.latency == 100
    r = p.process(ones(1000), block_size="random")
    np.testing.assert_array_equal(r.audio[:, :100], 0.0)
    np.testing.assert_array_equal(r.audio[:, 100:], 1.0)
    p.deactivate()
    assert "clap.latency" in p.extension_queries  # asked for, refused
    assert not [c for c in p.host_calls if c.name == "latency.changed"]
    assert p.logs == []  # no log extension exposed
    assert p.violations == []
    with pytest.raises(ValueError):
        ClapPlugin(fixture_clap, GAIN_ID, extensions=("no-such-ext",))


# ------------------------------------------------------------------ threads and lifecycle


def test_full_lifecycle_threads_are_correct(plug):
    plug.set_param("Note period", 100)
    for _ in range(2):
        assert plug.activate(SR, max_block=256)
        plug.process(ones(1000), block_size="random", midi_in=[MidiEvent(1, bytes([0x90, 1, 1]))])
        plug.reset()
        plug.set_param("Gain", 0.5)
        plug.flush_params()
        plug.save_state(chunk=3)
        plug.deactivate()
    assert_clean(plug)
    assert ("on_main_thread" in [m for _, m, _ in plug.logs])  # request_callback from init was serviced
    assert [c.thread for c in plug.host_calls if c.name == "request_callback"] == ["main"]


def test_main_thread_is_enforced(plug):
    plug.activate(SR)
    errors = []

    def worker():
        try:
            plug.process(ones(64), block_size=64)
        except RuntimeError as e:
            errors.append(str(e))

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert errors and "main thread" in errors[0]


def test_lifecycle_errors(plug):
    with pytest.raises(RuntimeError):
        plug.process(ones(64))
    plug.activate(SR, max_block=128)
    with pytest.raises(RuntimeError):
        plug.activate(SR)
    with pytest.raises(ValueError):
        plug.process(ones(1000), block_size=256)
    plug.deactivate()
    plug.deactivate()  # no-op
    assert plug.activate(SR * 2, max_block=64) and plug.sample_rate == SR * 2


def test_mono_input_is_duplicated_into_stereo_port(plug):
    plug.activate(SR)
    out = plug.process(np.linspace(-1, 1, 300, dtype=np.float32), block_size=100).audio
    assert out.shape == (2, 300)
    np.testing.assert_array_equal(out[0], out[1])


def test_aux_ports_carry_their_own_audio_under_any_split(plug):
    """Input ports after the main one get `aux_in` (e.g. a sidechain); outputs after the main
    one come back in `aux_audio` (the fixture's aux out is 0.5 x its sidechain in)."""
    assert [p.name for p in plug.audio_inputs] == ["in", "sidechain"]
    assert [p.name for p in plug.audio_outputs] == ["out", "aux"]
    plug.activate(SR)
    rng = np.random.default_rng(3)
    x, side = rng.standard_normal((2, 2, 1000)).astype(np.float32)
    r = plug.process(x, block_size="random", seed=5, aux_in=[side])
    assert len(r.aux_audio) == 1
    np.testing.assert_array_equal(r.aux_audio[0], 0.5 * side)
    assert not np.array_equal(r.audio, r.aux_audio[0])  # the main path is independent
    silent = plug.process(x, block_size=100)
    np.testing.assert_array_equal(silent.aux_audio[0], 0.0)  # no aux_in: silence
    with pytest.raises(ValueError, match="aux input 0 has 1 channels"):
        plug.process(x, aux_in=[side[:1]])
    with pytest.raises(ValueError, match="2 aux input port"):
        plug.process(x, aux_in=[side, side])


# ------------------------------------------------------------------ the host catches misbehaviour


@pytest.fixture(scope="session")
def bad_clap(tmp_path_factory) -> str:
    return str(_load_builder()(tmp_path_factory.mktemp("bad_fixture"), ("-DFIXTURE_MISBEHAVE",)))


def test_misbehaving_plugin_is_reported(bad_clap):
    assert ClapPlugin.create_raw(bad_clap, GAIN_ID + "garbage")  # the DPF 1.6 id bug, seen by the probe
    p = ClapPlugin(bad_clap, GAIN_ID)
    p.set_param("Delay", 5)
    p.activate(SR, max_block=256)
    r = p.process(ones(512), block_size=256)
    # the misordered event is kept as pushed, the one past the block is refused (try_push -> false)
    assert [(o, v) for o, i, v in r.param_out] == [(255, 1.0), (0, 1.0), (511, 1.0), (256, 1.0)]
    p.deactivate()
    v = p.violations
    assert any(s.startswith("state.mark_dirty must be called on the main thread") for s in v)
    assert any(s.startswith("out events not sorted by time") for s in v)
    assert any(s.startswith("out event time 256 >= frames_count 256") for s in v)
    assert any("latency.changed while active outside activate()" in s and "phase=deactivate" in s for s in v)
