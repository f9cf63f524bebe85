"""BandmateProfileEQ in a host: the profile name is saved in the plugin state, restored in a fresh
instance (CLAP through ClapEntry's envelope, VST3 through DPF/pedalboard), and reaches the backend
engine (CONFIGURE), observable in the output audio and meters."""

from __future__ import annotations

import re
import signal
import struct
import zlib

import numpy as np
import pytest
from bandmate.specs import load_spec

import plugin_host as ph
from tests.conftest import kill_backend, plugin_path
from tests.test_profiles import RATE, output_slope, tilted_noise

SPEC = load_spec("ProfileEQ")
JUCE_B64 = ".ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+"


def _juce_decode(s: str) -> bytes:  # JUCE MemoryBlock::toBase64Encoding: "size.chars", 6 bits LSB first
    size, _, chars = s.partition(".")
    n = sum(JUCE_B64.index(c) << (6 * i) for i, c in enumerate(chars))
    return (n & ((1 << (8 * int(size))) - 1)).to_bytes(int(size), "little")


def _juce_encode(b: bytes) -> str:
    n = int.from_bytes(b, "little")
    return f"{len(b)}." + "".join(JUCE_B64[(n >> (6 * i)) & 63] for i in range((len(b) * 8 + 5) // 6))


def dpf_state(blob: bytes, fmt: str) -> bytes:
    """DPF's own state bytes inside a host's blob."""
    if fmt == "clap":
        return blob[16:]  # ClapEntry's envelope: magic, version, size, crc32
    return _juce_decode(re.search(r"<IComponent>([^<]*)</IComponent>", blob[8:].decode()).group(1))


def with_profile(blob: bytes, fmt: str, name: str) -> bytes:
    """The same state with another profile name (what a host stores after the user picks one)."""
    inner = re.sub(rb"profile\x00[^\x00]*\x00", b"profile\x00" + name.encode() + b"\x00", dpf_state(blob, fmt))
    if fmt == "clap":
        return struct.pack("<4I", 0x54534D42, 1, len(inner), zlib.crc32(inner)) + inner
    xml = blob[8:].decode()
    m = re.search(r"<IComponent>([^<]*)</IComponent>", xml)
    xml = (xml[: m.start(1)] + _juce_encode(inner) + xml[m.end(1):]).encode()
    size = struct.unpack("<I", blob[4:8])[0] + len(xml) - len(blob) + 8  # JUCE's size field, kept consistent
    return b"VC2!" + struct.pack("<I", size) + xml


_OPEN: list = []


@pytest.fixture(autouse=True)
def _close_plugins():
    """Close every instance at the end of its test: no I/O thread outlives the test (one that
    did could respawn a backend after the session's teardown stopped it)."""
    yield
    while _OPEN:
        _OPEN.pop().close()


def make(fmt: str):
    path = str(plugin_path("ProfileEQ", fmt))
    p = ph.ClapPlugin(path) if fmt == "clap" else ph.load(path)
    _OPEN.append(p)
    return p


def render(p, x: np.ndarray) -> np.ndarray:
    """Latency-aligned output (both hosts here return the plugin's delayed output)."""
    assert p.activate(RATE, max_block=512)
    lat = p.latency
    assert lat == SPEC.plugin_latency(RATE, 512) == 960  # 20 ms: minimum phase, hop 192
    y = p.process(np.concatenate([x, np.zeros((2, lat), np.float32)], axis=1), block_size=512).audio
    return y[:, lat:]


@pytest.fixture(params=["clap", "vst3"])
def fmt(request, monkeypatch):
    monkeypatch.setenv("BANDMATE_DETERMINISTIC", "1")  # pedalboard does not restore parameter values
    return request.param


def test_profile_name_is_saved_restored_and_reaches_the_engine(fmt):
    x = tilted_noise(8.0, -6.0, 5)
    blob = make(fmt).save_state()
    assert b"profile\x00Pink\x00" in dpf_state(blob, fmt)  # the spec default
    out = {}
    for name in ("Nope", "Warm"):
        p = make(fmt)
        assert p.load_state(with_profile(blob, fmt, name))
        assert b"profile\x00" + name.encode() + b"\x00" in dpf_state(p.save_state(), fmt)
        out[name] = render(p, x)
        if fmt == "clap":
            meters = p.output_params
            assert meters["Profile found"] == (name == "Warm")
            assert (meters["Deviation low"] > 3.0) if name == "Warm" else (meters["Deviation low"] == 0.0)
    # unknown profile: neutral but running, exactly the latency-aligned input
    np.testing.assert_allclose(out["Nope"], x, atol=1e-6)
    # Warm (-4 dB/oct): the -6 dB/oct input is tilted toward it
    assert output_slope(out["Warm"], (5, 8)) == pytest.approx(-4.0, abs=0.4)


def test_profile_change_while_active_and_state_rejection_clap():
    x = tilted_noise(6.0, -6.0, 6)
    p = make("clap")
    p.set_param("Deterministic", 1.0)
    blob = p.save_state()
    assert p.load_state(with_profile(blob, "clap", "Nope"))
    y0 = render(p, x[:, : 2 * RATE])
    np.testing.assert_allclose(y0, x[:, : 2 * RATE], atol=1e-6)
    assert p.load_state(with_profile(blob, "clap", "Bright"))  # while active: the I/O thread re-sends
    y1 = p.process(x[:, 2 * RATE:], block_size=512).audio
    assert np.abs(y1 - x[:, 2 * RATE - p.latency: -p.latency]).max() > 0.05
    assert p.output_params["Profile found"] == 1.0
    # the Built-in profile parameter overrides the saved name (hosts without a plugin UI)
    q = make("clap")
    q.set_param("Deterministic", 1.0)
    assert q.load_state(with_profile(blob, "clap", "Nope"))
    q.set_param("Built-in profile", 2)  # Warm
    yq = render(q, x)
    assert q.output_params["Profile found"] == 1.0
    assert output_slope(yq, (3, 6)) == pytest.approx(-4.0, abs=0.5)
    # ClapEntry's envelope still guards the state: a truncated or bit-flipped one is refused
    good = with_profile(blob, "clap", "Warm")
    q = make("clap")
    for bad in (good[:-1], good[:16], good[:40] + bytes([good[40] ^ 1]) + good[41:]):
        assert not q.load_state(bad, chunk=17)
    assert b"profile\x00Pink\x00" in dpf_state(q.save_state(), "clap")
    assert q.load_state(good, chunk=17) and q.save_state(chunk=1) == good


def test_user_profile_from_the_profile_folder_reaches_a_fresh_backend(tmp_path, monkeypatch):
    """A backend of its own (its own runtime dir) whose XDG_CONFIG_HOME holds one user profile."""
    folder = tmp_path / "config" / "bandmate" / "profiles"
    folder.mkdir(parents=True)
    from bandmate.profiles import builtin_profile

    mine = builtin_profile("Bright")  # saved under another name: only the folder knows it
    type(mine)("Mine", mine.grid_hz, mine.median_db, mine.spread_db, 1).save(folder / "Mine.json")
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    monkeypatch.setenv("BANDMATE_RUNTIME_DIR", str(runtime))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    try:
        p = make("clap")
        p.set_param("Deterministic", 1.0)
        assert p.load_state(with_profile(p.save_state(), "clap", "Mine"))
        y = render(p, tilted_noise(6.0, -6.0, 7))
        assert p.output_params["Profile found"] == 1.0
        assert output_slope(y, (3, 6)) == pytest.approx(-2.0, abs=0.5)
        _OPEN.remove(p)
        p.close()  # before its backend is stopped
    finally:
        kill_backend(runtime, signal.SIGTERM)
