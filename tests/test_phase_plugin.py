"""BandmateMultibandPhase through the real CLAP plugin in our host: Stereo mode (R to L), a Target
following a Reference instance through the backend's links, and `bandmate align --report`."""

from __future__ import annotations

import numpy as np
import soundfile as sf
from bandmate.align import align_audio
from bandmate.cli import main as cli_main
from bandmate.specs import load_spec

import plugin_host as ph
from tests.conftest import plugin_path
from tests.test_phase_engine import FS, allpass, delayed, material


def test_stereo_mode_aligns_right_to_left_with_a_constant_latency():
    r = material(8.0, 11)
    x = np.stack([r, -delayed(r, 1500.3).astype(np.float32)])
    p = ph.ClapPlugin(str(plugin_path("MultibandPhase", "clap")))
    p.set_param("Deterministic", 1.0)
    p.set_param("Mode", "Stereo")
    p.set_param("Learn time", 3.0)
    assert p.activate(FS, max_block=1024)
    lat = p.latency
    assert lat == load_spec("MultibandPhase").plugin_latency(FS, 1024)
    assert lat >= 0.1 * FS  # covers the +-100 ms range
    y = p.process(np.concatenate([x, np.zeros((2, lat), np.float32)], axis=1), block_size="random").audio[:, lat:]
    np.testing.assert_array_equal(y[0], x[0])  # L passes through, latency-compensated
    tail = slice(5 * FS, None)
    assert np.corrcoef(y[0, tail], y[1, tail])[0, 1] > 0.99
    meters = p.output_params
    assert abs(meters["Delay"] - 1500.3 / 48) < 0.005  # ms: a tenth of a sample
    assert meters["Polarity inverted"] == 1.0 and meters["Learned"] == 1.0
    assert meters["Correlation after"] > 0.99 > meters["Correlation before"]


def test_target_aligns_to_its_linked_reference_with_band_phase():
    ref = material(10.0, 12)
    b, a = allpass(120.0)
    from scipy.signal import lfilter

    tgt = lfilter(b, a, delayed(ref, -900.7)).astype(np.float32)
    y, meters = align_audio(ref[None], tgt[None], FS, plugin=plugin_path("MultibandPhase", "clap"))
    assert meters["Reference linked"] == 1.0
    assert abs(meters["Delay"] + 900.7 / 48) < 0.005 and meters["Polarity inverted"] == 0.0
    assert abs(meters["Phase 125 Hz"]) > 45  # the allpass turns the phase there; the correction undoes it
    tail = slice(6 * FS, None)
    assert np.corrcoef(y[0, tail], ref[tail])[0, 1] > 0.98
    e = [np.sum((ref[tail] + z[tail]) ** 2) for z in (tgt, y[0])]
    assert e[1] > 1.3 * e[0]
    # the shell's transport frames (hi/lo) pair the hops as the sample counts do here (our host's
    # CLAP steady_time counts from activation): the same render without any transport
    y2, _ = align_audio(ref[None], tgt[None], FS, plugin=plugin_path("MultibandPhase", "clap"), transport=False)
    np.testing.assert_array_equal(y, y2)


def test_cli_align_writes_the_aligned_file_and_reports(tmp_path, capsys):
    ref = material(6.0, 13)
    tgt = -delayed(ref, 333.3).astype(np.float32)
    sf.write(tmp_path / "ref.wav", ref, FS, subtype="FLOAT")
    sf.write(tmp_path / "in.wav", tgt, FS, subtype="FLOAT")
    assert cli_main(["align", "--reference", str(tmp_path / "ref.wav"), str(tmp_path / "in.wav"),
                     str(tmp_path / "out.wav"), "--report", "Learn time=3"]) == 0
    out, rate = sf.read(tmp_path / "out.wav", dtype="float32", always_2d=True)
    assert rate == FS and out.shape == (len(tgt), 1)
    tail = slice(4 * FS, None)
    assert np.corrcoef(out[tail, 0], ref[tail])[0, 1] > 0.99
    text = capsys.readouterr().out
    assert "delay: +6.944 ms" in text and "polarity: inverted" in text and "summed energy" in text
