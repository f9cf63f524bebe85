"""Profiles (bandmate.profiles), the Profile EQ engine, and its CONFIGURE path through the backend's
session table: values asserted, no plugin binary needed (tests/test_profile_eq_plugin.py has those)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from bandmate.cli import main as cli_main
from bandmate.engines import EngineConfig
from bandmate.engines.profile_eq import ProfileEQEngine
from bandmate.engines.spectrum import grid_weights, log_grid, loudness_normalise
from bandmate.profiles import (
    BUILTIN_TILTS,
    Profile,
    builtin_profile,
    capture_profile,
    find_profile,
    list_profiles,
    load_profile,
)
from bandmate.protocol import MsgType, ProtocolError, decode, decode_reply, encode_configure, encode_request
from bandmate.sessions import SessionTable
from bandmate.specs import load_spec

RATE = 48000


def tilted_noise(seconds: float, slope_db_oct: float, seed: int, channels: int = 2) -> np.ndarray:
    """Gaussian noise whose power density falls by ``slope_db_oct`` per octave (pivot 1 kHz)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    X = np.fft.rfft(rng.standard_normal((channels, n)), axis=-1)
    f = np.maximum(np.fft.rfftfreq(n, 1 / RATE), 10.0)
    X *= 10 ** (slope_db_oct * np.log2(f / 1000) / 20)
    x = np.fft.irfft(X, n=n, axis=-1)
    return (0.2 * x / np.abs(x).max()).astype(np.float32)


def slope(grid: np.ndarray, db: np.ndarray, lo: float = 200.0, hi: float = 5000.0) -> float:
    m = (grid >= lo) & (grid <= hi)
    return float(np.polyfit(np.log2(grid[m]), db[m], 1)[0])


def output_slope(y: np.ndarray, seconds: tuple[float, float]) -> float:
    seg = y[:, int(seconds[0] * RATE): int(seconds[1] * RATE)]
    f = np.fft.rfftfreq(seg.shape[1], 1 / RATE)
    p = (np.abs(np.fft.rfft(seg, axis=-1)) ** 2).mean(axis=0)
    g = np.geomspace(200, 5000, 40)
    db = [10 * np.log10(p[(f >= c * 2 ** (-1 / 12)) & (f < c * 2 ** (1 / 12))].mean()) for c in g]
    return slope(g, np.array(db))


def test_builtin_profiles_are_the_documented_formulas():
    assert list_profiles("/nonexistent") == list(BUILTIN_TILTS)
    g = log_grid(RATE)
    w = grid_weights(g, RATE)
    for name, tilt in BUILTIN_TILTS.items():
        p = builtin_profile(name)
        assert p.source == "builtin" and p.files == 0 and np.all(p.spread_db == 0)
        assert slope(p.grid_hz, p.median_db) == pytest.approx(tilt, abs=0.01)
        # the 40 Hz 2nd-order high-pass: -3 dB at 40 Hz relative to the tilt line, -12 at 20 Hz
        line = p.median_db[np.argmin(abs(g - 1000))] + tilt * np.log2(g / 1000)
        assert p.median_db[np.argmin(abs(g - 40))] - line[np.argmin(abs(g - 40))] == pytest.approx(-3.0, abs=0.1)
        assert p.median_db[0] - line[0] == pytest.approx(-12.3, abs=0.1)
        np.testing.assert_allclose(loudness_normalise(p.median_db, w), p.median_db, atol=1e-9)
    with pytest.raises(KeyError, match="Pink"):
        builtin_profile("Nope")


def test_capture_takes_the_median_and_spread_and_round_trips(tmp_path):
    (tmp_path / "refs").mkdir()
    for i, s in enumerate((-2.0, -3.0, -4.0, -3.2)):
        sf.write(tmp_path / "refs" / f"song{i}.wav", tilted_noise(3.0, s, i).T, RATE)
    sf.write(tmp_path / "one.flac", tilted_noise(3.0, -1.0, 9).T, 44100)  # another rate, another format
    prof = capture_profile([tmp_path / "refs"], "Mine")
    assert prof.files == 4 and prof.name == "Mine"
    assert slope(prof.grid_hz, prof.median_db) == pytest.approx(-3.1, abs=0.25)  # median of -2, -3, -3.2, -4
    # the inter-quartile range widens away from where all tilts agree after loudness normalisation (~2 kHz)
    i100, i10k = (np.argmin(abs(prof.grid_hz - f)) for f in (100, 10000))
    assert prof.spread_db[i100] > 2.0 and prof.spread_db[i10k] > 1.0
    assert prof.spread_db.min() < 0.5
    loaded = load_profile(prof.save(tmp_path / "Mine.json"))
    np.testing.assert_allclose(loaded.median_db, prof.median_db, atol=1e-3)
    np.testing.assert_allclose(loaded.spread_db, prof.spread_db, atol=1e-3)
    assert loaded.files == 4
    both = capture_profile([tmp_path / "refs" / "song0.wav", tmp_path / "one.flac"], "Two")
    assert both.files == 2 and slope(both.grid_hz, both.median_db) == pytest.approx(-1.5, abs=0.3)
    single = capture_profile([tmp_path / "one.flac"], "One")
    assert np.all(single.spread_db == 0)
    with pytest.raises(FileNotFoundError, match="no such file"):
        capture_profile([tmp_path / "missing.wav"], "X")
    sf.write(tmp_path / "silent.wav", np.zeros((RATE, 2)), RATE)
    with pytest.raises(ValueError, match="silent.wav"):
        capture_profile([tmp_path / "silent.wav"], "X")


def test_corrupt_profiles_are_rejected_naming_the_file(tmp_path):
    good = builtin_profile("Pink").to_json()
    bad = {
        "version.json": good | {"version": 99},
        "format.json": good | {"format": "other"},
        "lengths.json": good | {"spread_db": good["spread_db"][:-1]},
        "grid.json": good | {"grid_hz": good["grid_hz"][::-1]},
        "nan.json": good | {"median_db": [None] * len(good["median_db"])},
        "negative.json": good | {"spread_db": [-1.0] * len(good["spread_db"])},
    }
    for name, data in bad.items():
        (tmp_path / name).write_text(json.dumps(data))
    (tmp_path / "garbage.json").write_text("{not json")
    for name in [*bad, "garbage.json"]:
        with pytest.raises(ValueError, match=name):
            load_profile(tmp_path / name)
    with pytest.raises(FileNotFoundError):
        load_profile(tmp_path / "absent.json")
    with pytest.raises(FileNotFoundError, match="not a built-in"):
        find_profile("Absent", tmp_path)
    with pytest.raises(ValueError, match="bad profile name"):
        find_profile("../etc/passwd", tmp_path)
    # a user profile of a built-in's name wins over the built-in
    (tmp_path / "Pink.json").write_text(json.dumps(builtin_profile("Bright").to_json() | {"name": "Pink"}))
    assert find_profile("Pink", tmp_path).source == str(tmp_path / "Pink.json")
    assert slope(*[find_profile("Pink", tmp_path).grid_hz, find_profile("Pink", tmp_path).median_db]) == \
        pytest.approx(-2.0, abs=0.01)


def run_engine(engine: ProfileEQEngine, x: np.ndarray, params: dict | None = None) -> tuple[np.ndarray, dict]:
    p = engine.spec.defaults() | dict(params or {})
    out, meters = [], {}
    for s in range(0, x.shape[1] - engine.hop + 1, engine.hop):
        y, meters = engine.process(x[:, s: s + engine.hop], p)
        out.append(y)
    return np.concatenate(out, axis=1), meters


def test_engine_moves_the_track_to_the_profile_and_reports_the_deviation(tmp_path):
    x = tilted_noise(12.0, -6.0, 1)  # much darker than Pink (-3 dB/oct)
    eng = ProfileEQEngine(EngineConfig(RATE, 2), profile_folder=str(tmp_path))
    assert eng.profile_name == "Pink"  # the spec default
    y, meters = run_engine(eng, x)
    assert output_slope(x, (8, 12)) == pytest.approx(-6.0, abs=0.3)
    assert output_slope(y, (8, 12)) == pytest.approx(-3.0, abs=0.4)
    # the meters compare the *input* with the profile: low bands louder, high band quieter
    assert meters["profile_found"] == 1.0
    assert meters["dev_low"] > 3.0 and meters["dev_high"] < -3.0

    # tolerance band from the spread: only what lies outside median +- spread / 2 is corrected, so a
    # profile with a 40 dB spread (+-20 dB, more than the track's deviation) leaves the track alone
    wide = builtin_profile("Pink")
    wide = Profile("Wide", wide.grid_hz, wide.median_db, np.full(len(wide.grid_hz), 40.0), 5)
    wide.save(tmp_path / "Wide.json")
    eng.configure({"profile": "Wide"})
    y2, meters = run_engine(eng, x)
    assert meters["profile_found"] == 1.0
    assert output_slope(y2, (8, 12)) == pytest.approx(-6.0, abs=0.3)


def test_unknown_profile_runs_neutral_and_mix_zero_is_identity(tmp_path, caplog):
    x = tilted_noise(4.0, -6.0, 2)
    eng = ProfileEQEngine(EngineConfig(RATE, 2), profile_folder=str(tmp_path))
    eng.configure({"profile": "Nope"})
    assert "no profile 'Nope'" in caplog.text
    y, meters = run_engine(eng, x)
    np.testing.assert_array_equal(y, x[:, : y.shape[1]])  # correction filter at 0 dB, latency 0
    assert meters == {"dev_low": 0.0, "dev_lowmid": 0.0, "dev_highmid": 0.0, "dev_high": 0.0, "profile_found": 0.0}
    (tmp_path / "Broken.json").write_text("{")
    eng.configure({"profile": "Broken"})
    assert "Broken.json: not a valid Bandmate profile" in caplog.text
    eng2 = ProfileEQEngine(EngineConfig(RATE, 2))
    y, _ = run_engine(eng2, x, {"mix": 0.0})
    np.testing.assert_array_equal(y, x[:, : y.shape[1]])


def test_configure_message_reaches_the_engine_through_the_session_table():
    spec = load_spec("ProfileEQ")
    frame = encode_configure("profile_eq", {"profile": "Nope"})
    msg = decode(frame)
    assert msg.header.type == MsgType.CONFIGURE and msg.strings == {"profile": "Nope"}
    for bad in (frame[:-1], frame + b"x\0", frame[:48] + b"\0v\0", frame[:48] + b"\xff\0v\0"):
        with pytest.raises(ProtocolError):
            decode(bad)
    table = SessionTable()
    ident = b"\x81" * 16
    x = tilted_noise(0.5, -6.0, 3)
    hop = spec.hop(RATE)
    values = np.array([p.default for p in spec.params], np.float32)

    def run(epoch: int) -> np.ndarray:
        meters = None
        for j in range(x.shape[1] // hop):
            h, meters, audio = decode_reply(table.handle(ident, encode_request(
                j, epoch, "profile_eq", RATE, values, x[:, j * hop: (j + 1) * hop])))
            assert h.type == MsgType.REPLY, audio
        return meters

    # CONFIGURE before the first PROCESS: stored, applied when the session's engine is created
    h, _, _ = decode_reply(table.handle(ident, frame))
    assert h.type == MsgType.PONG
    found = [o.id for o in spec.engine_outputs].index("profile_found")
    assert run(1)[found] == 0.0
    table.handle(ident, encode_configure("profile_eq", {"profile": "Warm"}))  # while it runs
    assert table.sessions[ident].engine.profile_name == "Warm"
    assert run(1)[found] == 1.0
    assert run(2)[found] == 1.0  # a new activation's engine gets the stored strings too


def test_cli_capture_compare_plot(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for i in range(2):
        sf.write(tmp_path / f"ref{i}.wav", tilted_noise(2.0, -3.0, 10 + i).T, RATE)
    sf.write(tmp_path / "bright.wav", tilted_noise(2.0, -1.0, 20).T, RATE)
    assert cli_main(["profile", "capture", str(tmp_path / "ref0.wav"), str(tmp_path / "ref1.wav"),
                     "-o", "House.json", "--user"]) == 0
    assert (tmp_path / "config" / "bandmate" / "profiles" / "House.json").is_file()
    assert cli_main(["profile", "list"]) == 0
    assert capsys.readouterr().out.strip().endswith("House")
    assert cli_main(["profile", "compare", str(tmp_path / "bright.wav"), "--profile", "House",
                     "--plot", str(tmp_path / "cmp.png")]) == 0
    out = capsys.readouterr().out
    dev = {line.split()[0]: float(line.split()[-1]) for line in out.splitlines() if line.startswith("  dev_")}
    assert set(dev) == {"dev_low", "dev_lowmid", "dev_highmid", "dev_high"}
    assert dev["dev_high"] > 1.0 and dev["dev_low"] < -1.0  # brighter than the profile
    assert (tmp_path / "cmp.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert cli_main(["profile", "compare", str(tmp_path / "bright.wav"), "--profile", "Nope"]) == 1
    assert "no profile 'Nope'" in capsys.readouterr().err


def test_builtin_parameter_overrides_the_saved_name_and_low_cpu_mode(tmp_path):
    spec = load_spec("ProfileEQ")
    assert spec.param("builtin").choices[1:] == tuple(BUILTIN_TILTS)  # slot i = i-th built-in
    (tmp_path / "Pink.json").write_text(json.dumps(builtin_profile("Bright").to_json()))
    x = tilted_noise(2.0, -6.0, 4)
    eng = ProfileEQEngine(EngineConfig(RATE, 2, activation_params={"builtin": 1.0}), profile_folder=str(tmp_path))
    assert eng.profile.source == "builtin"  # the parameter's Pink, not the user file of that name
    eng.configure({"profile": "Nope"})
    assert eng.profile_name == "Pink" and eng.profile is not None
    _, meters = run_engine(eng, x, {"builtin": 0.0})  # back to the saved name: unknown, neutral
    assert eng.profile_name == "Nope" and meters["profile_found"] == 0.0
    _, meters = run_engine(eng, x, {"builtin": 3.0})
    assert eng.profile_name == "Bright" and meters["profile_found"] == 1.0
    # "Minimum, low CPU": minimum phase on 256-sample hops, no engine latency
    low = ProfileEQEngine(EngineConfig(RATE, 2, activation_params={"phase_mode": 2.0}))
    assert (low.hop, low.latency, low.core.latency) == (256, 0, 0)
    assert [spec.plugin_latency(RATE, b, {"phase_mode": 2.0}) for b in (256, 512)] == [768, 1024]
    assert [spec.plugin_latency(RATE, b) for b in (256, 512)] == [768, 960]
    y = low.process_buffer(tilted_noise(12.0, -6.0, 1))
    assert output_slope(y, (8, 12)) == pytest.approx(-3.0, abs=0.4)
