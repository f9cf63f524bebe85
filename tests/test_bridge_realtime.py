"""Realtime (non-deterministic) behaviour through the CLAP build in our host: a stalled
backend never blocks process(), the gap plays latency-aligned dry with crossfades, the
counters show it, and processing resumes when the backend does."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

import plugin_host as ph
from tests.conftest import backend_pid, plugin_path


def test_stalled_backend_falls_back_click_free_and_recovers(runtime_dir):
    rate, block = 48000, 256
    p = ph.ClapPlugin(str(plugin_path("Reference", "clap")))
    p.set_param("Gain", -20.0)  # processed = 0.1 x FIR(x), dry = x
    assert p.activate(rate, max_block=block)
    t = np.arange(rate * 8) / rate
    x = np.tile(0.5 * np.sin(2 * np.pi * 220 * t, dtype=np.float64).astype(np.float32), (2, 1))
    out, worst_call, pos = [], 0.0, 0

    def play(seconds):  # block by block at roughly wall-clock pace, like a DAW
        nonlocal pos, worst_call
        for _ in range(int(seconds * rate / block)):
            t0 = time.perf_counter()
            out.append(p.process(x[:, pos : pos + block], block_size=block).audio)
            worst_call = max(worst_call, time.perf_counter() - t0)
            pos += block
            time.sleep(block / rate)

    play(2.0)  # backend spawned by the plugin, then connected
    assert p.output_params["Backend connected"] == 1.0
    late_before = p.output_params["Late blocks"]
    pid = backend_pid(runtime_dir)
    os.kill(pid, signal.SIGSTOP)
    try:
        play(2.5)
        assert p.output_params["Late blocks"] > late_before + 50
        assert p.output_params["Backend connected"] == 0.0
    finally:
        os.kill(pid, signal.SIGCONT)
    play(2.0)
    assert p.output_params["Backend connected"] == 1.0
    y = np.concatenate(out, axis=1)[0]
    lat = p.latency
    ratio = np.abs(y[lat:]) / np.maximum(np.abs(x[0, : y.size - lat]), 1e-3)
    level = np.convolve(np.abs(y), np.ones(block) / block, mode="same")
    dry_level = np.mean(np.abs(x[0]))
    assert np.any(level > 0.9 * dry_level), "the stall must be bridged with dry audio"
    assert level[-block * 4] < 0.2 * dry_level, "processing must resume"
    # Click-free: sample-to-sample steps stay within the sine's own slope plus a 5 ms ramp
    # of the wet/dry difference; a hard switch would jump by up to 0.9 * 0.5.
    max_step = 0.5 * 2 * np.pi * 220 / rate + 0.5 * 1.1 / (0.005 * rate)
    assert np.max(np.abs(np.diff(y))) <= max_step * 1.05
    assert worst_call < 0.2, "process() must never wait for the backend (cost is measured in bench/)"
    assert np.isfinite(ratio).all()


@pytest.mark.parametrize("blocks", [[5, 300, 1, 8192, 17, 2048, 3]])
def test_varying_block_sizes_give_identical_output(blocks):
    p = ph.ClapPlugin(str(plugin_path("Reference", "clap")))
    p.set_param("Deterministic", 1.0)
    assert p.activate(48000, max_block=8192)
    n = sum(blocks)
    x = np.random.default_rng(0).standard_normal((2, n)).astype(np.float32)
    a = p.process(x, block_size=blocks).audio
    p.deactivate()
    assert p.activate(48000, max_block=8192)
    b = p.process(x, block_size=1024).audio
    assert np.array_equal(a, b)
