"""BandmateXSpecMatch: a Target instance matches its track to a Reference instance in the
same Link group, through the backend (no sidechain), in our CLAP host; `bandmate match`."""

from __future__ import annotations

import numpy as np
import soundfile as sf
from bandmate.cli import main as cli_main
from bandmate.engines.spectrum import k_weight_power
from bandmate.match import match_audio
from scipy.signal import butter, sosfilt

from tests.conftest import plugin_path

RATE = 48000


def third_octave_db(x: np.ndarray) -> np.ndarray:
    f = np.fft.rfftfreq(x.shape[-1], 1 / RATE)
    p = np.abs(np.fft.rfft(x.mean(axis=0))) ** 2
    centres = 1000 * 2.0 ** (np.arange(-14, 13) / 3)  # 63 Hz .. 16 kHz
    bands = [p[(f >= c * 2 ** -(1 / 6)) & (f < c * 2 ** (1 / 6))].mean() for c in centres]
    db = 10 * np.log10(np.array(bands))
    return db - db.mean()


def k_loudness(x: np.ndarray) -> float:
    """K-weighted level (dB), as the engine's auto gain measures it."""
    f = np.fft.rfftfreq(x.shape[-1], 1 / RATE)
    p = (np.abs(np.fft.rfft(x, axis=-1)) ** 2).sum(axis=0)
    return float(10 * np.log10(np.sum(p * k_weight_power(f, RATE))))


def material(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pink = np.cumsum(rng.standard_normal((2, int(seconds * RATE))), axis=1)  # brown-ish
    pink -= pink.mean(axis=1, keepdims=True)
    white = rng.standard_normal(pink.shape)
    x = sosfilt(butter(2, 40, "high", fs=RATE, output="sos"), 0.02 * pink + 0.1 * white, axis=1)
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def test_target_moves_to_the_linked_reference():
    ref = material(8.0, 1)
    dull = sosfilt(butter(2, 1500, "low", fs=RATE, output="sos"), material(8.0, 2), axis=1).astype(np.float32)
    dull = 0.5 * dull + 0.5 * material(8.0, 2) * 0.2  # a darker track
    y = match_audio(ref, dull, RATE, plugin=plugin_path("XSpecMatch", "clap"))
    tail = slice(5 * RATE, None)
    before = np.sqrt(np.mean((third_octave_db(dull[:, tail]) - third_octave_db(ref[:, tail])) ** 2))
    after = np.sqrt(np.mean((third_octave_db(y[:, tail]) - third_octave_db(ref[:, tail])) ** 2))
    assert before > 4.0
    assert after < 0.35 * before, (before, after)
    assert abs(k_loudness(y[:, tail]) - k_loudness(dull[:, tail])) < 0.5  # auto gain keeps loudness


def test_unlinked_target_is_untouched_and_cli_writes_the_match(tmp_path):
    x = material(3.0, 3)
    # a silent Reference never publishes (in a group of its own): nothing to match
    y = match_audio(np.zeros_like(x), x, RATE, group=7, plugin=plugin_path("XSpecMatch", "clap"))
    np.testing.assert_allclose(y, x, atol=1e-5)
    sf.write(tmp_path / "ref.wav", material(3.0, 4).T, RATE)
    sf.write(tmp_path / "in.wav", x.T, RATE)
    assert cli_main(["match", "--reference", str(tmp_path / "ref.wav"), str(tmp_path / "in.wav"),
                     str(tmp_path / "out.wav"), "Amount=0.5"]) == 0
    out, rate = sf.read(tmp_path / "out.wav", dtype="float32", always_2d=True)
    assert rate == RATE and out.shape == x.T.shape and np.all(np.isfinite(out))


def sidechain_match(ref: np.ndarray, x: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, float]:
    """x through a Target instance (no link group) with `ref` on its sidechain input (CLAP):
    (output latency-compensated, the "Reference linked" output at the end)."""
    import plugin_host as ph

    p = ph.ClapPlugin(str(plugin_path("XSpecMatch", "clap")))
    for key, value in (("Deterministic", 1.0), ("Link group", 0), ("Role", "Target")):
        p.set_param(key, value)
    assert p.activate(RATE, max_block=chunk)
    lat, n = p.latency, x.shape[1]
    pad = np.zeros((2, lat), np.float32)
    xs, rs = np.concatenate([x, pad], axis=1), np.concatenate([ref, pad], axis=1)
    out = [p.process(xs[:, s: s + chunk], block_size="random", seed=s, aux_in=[rs[:, s: s + chunk]]).audio
           for s in range(0, xs.shape[1], chunk)]
    return np.concatenate(out, axis=1)[:, lat: lat + n], p.output_params["Reference linked"]


def test_sidechain_input_is_a_reference_without_links():
    """CLAP: a reference routed to the sidechain works like a linked Reference instance."""
    ref = material(8.0, 1)
    dull = sosfilt(butter(2, 1500, "low", fs=RATE, output="sos"), material(8.0, 2), axis=1).astype(np.float32)
    dull = 0.5 * dull + 0.5 * material(8.0, 2) * 0.2
    y, linked = sidechain_match(ref, dull)
    assert linked == 1.0
    tail = slice(5 * RATE, None)
    before = np.sqrt(np.mean((third_octave_db(dull[:, tail]) - third_octave_db(ref[:, tail])) ** 2))
    after = np.sqrt(np.mean((third_octave_db(y[:, tail]) - third_octave_db(ref[:, tail])) ** 2))
    assert after < 0.35 * before, (before, after)
    linked_y = match_audio(ref, dull, RATE, group=5, plugin=plugin_path("XSpecMatch", "clap"))
    assert np.max(np.abs(third_octave_db(y[:, tail]) - third_octave_db(linked_y[:, tail]))) < 0.5
    # a silent sidechain (nothing routed) and no link: untouched
    y0, linked0 = sidechain_match(np.zeros_like(dull), dull)
    assert linked0 == 0.0
    np.testing.assert_allclose(y0, dull, atol=1e-5)


def test_vst3_ignores_the_sidechain_bus_dpf_never_delivers():
    """DPF 1.6's VST3 wrapper reads only the first input bus; the shell sends silence for the
    sidechain there, so a VST3 XSpecMatch without a link stays neutral (no garbage target)."""
    import plugin_host as ph

    x = material(3.0, 6)
    p = ph.load(plugin_path("XSpecMatch", "vst3"))
    p.set_param("Deterministic", 1.0)
    p.set_param("Link group", 0)
    p.set_param("Role", "Target")
    p.activate(RATE, max_block=512)
    y = p.process(x, block_size=512, reset=True).audio  # reset=True: pedalboard compensates latency
    np.testing.assert_allclose(y, x, atol=1e-5)
