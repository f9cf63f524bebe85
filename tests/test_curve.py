"""A backend on TCP with CURVE keys: the C++ client encrypts with the server's public key
(BANDMATE_CURVE_SERVER_KEY), processing stays exact; a wrong key never connects (dry fallback)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import zmq
from bandmate.engines.reference import REFERENCE_FIR
from scipy.signal import lfilter

import plugin_host as ph
from tests.conftest import plugin_path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def curve_backend(tmp_path, monkeypatch):
    public, secret = zmq.curve_keypair()
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    env = {"BANDMATE_RUNTIME_DIR": str(tmp_path), "XDG_STATE_HOME": str(tmp_path),
           "BANDMATE_CURVE_SECRET_KEY": secret.decode()}
    proc = subprocess.Popen([sys.executable, "-m", "bandmate", "backend", "--endpoint", endpoint, "--workers", "0"],
                            env={**os.environ, **env})
    monkeypatch.setenv("BANDMATE_ENDPOINT", endpoint)
    monkeypatch.setenv("BANDMATE_NO_SPAWN", "1")
    time.sleep(1.5)
    yield public.decode()
    proc.terminate()
    proc.wait(10)


def render(x):
    p = ph.ClapPlugin(str(plugin_path("Reference", "clap")))
    p.set_param("Deterministic", 1.0)
    assert p.activate(48000, max_block=512)
    lat = p.latency
    y = p.process(np.concatenate([x, np.zeros((2, lat), np.float32)], axis=1), block_size=512).audio[:, lat:]
    return y, p.output_params


def test_curve_client_is_exact(curve_backend, monkeypatch):
    monkeypatch.setenv("BANDMATE_CURVE_SERVER_KEY", curve_backend)
    x = np.random.default_rng(0).standard_normal((2, 9600)).astype(np.float32) * 0.3
    y, out = render(x)
    assert out["Backend connected"] == 1.0 and out["Late blocks"] == 0
    np.testing.assert_allclose(y, lfilter(REFERENCE_FIR, 1, x, axis=1), atol=1e-6)


def test_wrong_server_key_never_connects(curve_backend, monkeypatch):
    monkeypatch.setenv("BANDMATE_CURVE_SERVER_KEY", zmq.curve_keypair()[0].decode())
    monkeypatch.setenv("BANDMATE_WAIT_BOUND_S", "0.2")
    x = np.random.default_rng(1).standard_normal((2, 4800)).astype(np.float32) * 0.3
    y, out = render(x)
    assert out["Backend connected"] == 0.0 and out["Late blocks"] > 0
    np.testing.assert_allclose(y, x, atol=1e-6)  # latency-aligned dry
