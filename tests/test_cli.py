"""`bandmate process` renders a WAV through a plugin named on the command line."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import soundfile as sf
from bandmate.engines.reference import REFERENCE_FIR
from scipy.signal import lfilter


def test_process_by_plugin_name(tmp_path):
    x = np.random.default_rng(0).standard_normal((24000, 2)).astype(np.float32) * 0.2
    sf.write(tmp_path / "in.wav", x, 48000, subtype="FLOAT")
    out = subprocess.run(
        [sys.executable, "-m", "bandmate", "process", "BandmateReference", str(tmp_path / "in.wav"),
         str(tmp_path / "out.wav"), "gain_db=-6", "deterministic=1", "--quiet"],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    y, rate = sf.read(tmp_path / "out.wav", dtype="float32")
    assert rate == 48000 and y.shape == x.shape
    np.testing.assert_allclose(y, lfilter(REFERENCE_FIR, 1, x, axis=0) * 10 ** (-6 / 20), atol=2e-4)


def test_process_unknown_plugin_fails_clearly(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "bandmate", "process", "BandmateNope", "in.wav", "out.wav"],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode != 0 and "BandmateNope.vst3 is not installed" in out.stderr
