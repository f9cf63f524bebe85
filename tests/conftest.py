"""Shared fixtures: built plugins, an isolated backend runtime dir, helpers."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.signal as ss
from bandmate.data.resonance import peaking
from bandmate.paths import find_plugin
from bandmate.signals import pink_noise as pink  # noqa: F401  (re-exported: the DSP tests' broadband material)

ROOT = Path(__file__).resolve().parents[1]


def band_db(x: np.ndarray, lo: float, hi: float, nperseg: int = 16384) -> float:
    """Level (dB) of x's Welch power between lo and hi Hz (48 kHz), all channels together."""
    f, p = ss.welch(x, 48000, nperseg=nperseg, axis=-1)
    return 10 * np.log10(p[..., (f >= lo) & (f <= hi)].sum())


HELD_SINES_HZ = (1500.0, 1800.0, 3600.0)


def held_sines_over_hits(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(clean, with resonance): three held sines ~16 dB over pink-noise hits every 125 ms; in the
    second, a +12 dB Q 25 resonance at 2.5 kHz on the hits only (the sines are not resonances)."""
    t = np.arange(n) / 48000
    hits = pink(n, 11) * np.exp(-(t % 0.125) / 0.03) * 2.0
    tones = sum(0.02 * np.sin(2 * np.pi * f * t) for f in HELD_SINES_HZ)
    b, a = peaking(2500, 12.0, 25)
    return hits + tones, ss.lfilter(b, a, hits, axis=-1) + tones


def plugin_path(name: str, fmt: str) -> Path:
    """A built plugin: the build tree first, then the user's install dirs."""
    try:
        return find_plugin(name, fmt, prefer_build=True)
    except FileNotFoundError as e:
        pytest.fail(str(e))


def backend_pid(runtime: Path) -> int | None:
    """The pid of the backend serving `runtime` (written into its backend.lock)."""
    try:
        return int((runtime / "backend.lock").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def kill_backend(runtime: Path, sig: int = signal.SIGKILL) -> int | None:
    """Kill the backend serving `runtime`; returns the pid."""
    pid = backend_pid(runtime)
    if pid is None:
        return None
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return None
    if sig == 0:
        return pid
    for _ in range(200):  # until it is gone or a zombie (spawned backends are not our children)
        if not _alive(pid):
            break
        time.sleep(0.01)
    return pid


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.fixture(scope="session", autouse=True)
def backend_env(tmp_path_factory):
    """Every test session gets its own runtime dir; plugins spawn the backend there."""
    runtime = tmp_path_factory.mktemp("runtime")
    os.environ["BANDMATE_RUNTIME_DIR"] = str(runtime)
    os.environ["BANDMATE_BACKEND_CMD"] = f"{sys.executable} -m bandmate backend"
    os.environ.pop("BANDMATE_ENDPOINT", None)
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state"))
    os.environ["XDG_MUSIC_DIR"] = str(tmp_path_factory.mktemp("music"))  # DrumNet/BassNet captures
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "python_backend"), str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
    yield runtime
    kill_backend(runtime, signal.SIGTERM)


@pytest.fixture()
def runtime_dir(backend_env) -> Path:
    return backend_env
