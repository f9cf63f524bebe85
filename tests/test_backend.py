"""The backend process: protocol handling, error replies, fuzzing, workers, shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import zmq
from bandmate.engines.reference import REFERENCE_FIR
from bandmate.protocol import (
    HEADER_BYTES,
    MAX_MESSAGE_BYTES,
    ErrorCode,
    MsgType,
    ProtocolError,
    decode,
    decode_reply,
    encode_request,
)
from bandmate.server import _check_tcp
from bandmate.specs import load_spec
from scipy.signal import lfilter

SPEC = load_spec("reference")
DEFAULTS = np.array([p.default for p in SPEC.params], np.float32)


# inline: no workers; workers: every instance in a worker; mixed: the default with workers (the
# first instances inline, later ones in workers: InstanceRouter)
@pytest.fixture(params=[(0, 0), (2, 0), (2, 2)], ids=["inline", "workers", "mixed"])
def backend(request, tmp_path):
    env = dict(os.environ, BANDMATE_RUNTIME_DIR=str(tmp_path), XDG_STATE_HOME=str(tmp_path))
    endpoint = f"ipc://{tmp_path}/b.sock"
    workers, inline = request.param
    proc = subprocess.Popen(
        [sys.executable, "-m", "bandmate", "backend", "--endpoint", endpoint, "--workers", str(workers),
         "--inline-sessions", str(inline)], env=env
    )
    ctx = zmq.Context()
    yield proc, endpoint, ctx, tmp_path
    proc.terminate()
    proc.wait(10)
    ctx.destroy(0)


def client(ctx, endpoint, identity=None):
    s = ctx.socket(zmq.DEALER)
    s.linger = 0
    if identity:
        s.identity = identity
    s.connect(endpoint)
    return s


def ask(sock, frame, timeout=10.0):
    sock.send(frame)
    assert sock.poll(int(timeout * 1000)), "backend did not answer"
    return decode_reply(sock.recv())


def request(seq, audio, values=DEFAULTS, epoch=1, engine="reference", rate=48000):
    return encode_request(seq, epoch, engine, rate, values, audio)


def test_reference_engine_is_exact_over_hops(backend):
    _, endpoint, ctx, _ = backend
    s = client(ctx, endpoint)
    x = np.random.default_rng(0).standard_normal((2, 256 * 8)).astype(np.float32)
    out = []
    for i in range(8):
        h, values, audio = ask(s, request(i, x[:, i * 256 : (i + 1) * 256]))
        assert h.type == MsgType.REPLY and h.seq == i and h.epoch == 1
        assert values.shape == (1,)  # block_rms_db
        out.append(audio)
    np.testing.assert_allclose(np.concatenate(out, axis=1), lfilter(REFERENCE_FIR, 1, x, axis=1), atol=1e-6)


def test_sessions_are_per_instance_with_sticky_workers(backend):
    _, endpoint, ctx, _ = backend
    socks = [client(ctx, endpoint, identity=bytes([0x80, i]) * 4) for i in range(6)]
    xs = [np.random.default_rng(i).standard_normal((2, 256 * 4)).astype(np.float32) for i in range(6)]
    outs = [[] for _ in socks]
    for hop in range(4):  # interleaved: any mixing of engine state between instances shows up
        for i, s in enumerate(socks):
            vals = DEFAULTS.copy()
            vals[0] = i  # gain_db
            outs[i].append(ask(s, request(hop, xs[i][:, hop * 256 : (hop + 1) * 256], vals))[2])
    for i in range(6):
        want = lfilter(REFERENCE_FIR, 1, xs[i], axis=1) * 10 ** (i / 20)
        np.testing.assert_allclose(np.concatenate(outs[i], axis=1), want, atol=1e-5)


def test_bad_messages_get_error_replies(backend):
    _, endpoint, ctx, _ = backend
    s = client(ctx, endpoint)
    good = request(0, np.zeros((2, 256), np.float32))
    bad_version = bytearray(good)
    bad_version[4] = 9
    cases = {
        ErrorCode.MALFORMED: [b"", b"hello", good[:HEADER_BYTES - 1], good[:-4], b"XXXX" + good[4:]],
        ErrorCode.BAD_VERSION: [bytes(bad_version)],
        ErrorCode.UNKNOWN_ENGINE: [request(0, np.zeros((2, 256), np.float32), engine="nope")],
        ErrorCode.BAD_CONFIG: [
            request(0, np.zeros((2, 100), np.float32)),  # wrong hop for the engine
            request(0, np.zeros((2, 256), np.float32), rate=8000),  # unsupported rate
            request(0, np.zeros((2, 256), np.float32), values=DEFAULTS[:2]),  # wrong parameter count
        ],
        ErrorCode.OVERSIZED: [b"\0" * (MAX_MESSAGE_BYTES + 1)],
        ErrorCode.UNKNOWN_TYPE: [encode_request(0, 1, "reference", 48000, DEFAULTS, np.zeros((2, 256)), type=0x33)],
    }
    for code, frames in cases.items():
        for frame in frames:
            h, _, text = ask(s, frame)
            assert h.type == MsgType.ERROR and h.status == code, (code, text)
            assert isinstance(text, str) and text
    h, _, audio = ask(s, good)  # still serving
    assert h.type == MsgType.REPLY and audio.shape == (2, 256)


def test_fuzzed_messages_never_kill_the_backend(backend):
    proc, endpoint, ctx, _ = backend
    s = client(ctx, endpoint)
    rng = np.random.default_rng(42)
    base = bytearray(request(0, rng.standard_normal((2, 256)).astype(np.float32)))
    answered = 0
    for i in range(10_000):
        m = bytearray(base)
        kind = i % 4
        if kind == 0:  # flip random bytes anywhere (header included)
            for pos in rng.integers(0, len(m), rng.integers(1, 8)):
                m[pos] = rng.integers(0, 256)
        elif kind == 1:  # truncate
            m = m[: rng.integers(0, len(m))]
        elif kind == 2:  # header-only mutations of counts / sizes
            pos = rng.integers(20, 32)
            m[pos] = rng.integers(0, 256)
        else:  # random junk
            m = bytearray(rng.bytes(int(rng.integers(0, 4096))))
        s.send(bytes(m))
        if i % 500 == 499:  # drain so high-water marks are never the limit
            while s.poll(2000 if answered < i else 0):
                s.recv()
                answered += 1
    while s.poll(2000):
        s.recv()
        answered += 1
    assert answered == 10_000  # every message got exactly one reply (error or audio)
    assert proc.poll() is None
    x = rng.standard_normal((2, 256)).astype(np.float32)
    h, _, audio = ask(client(ctx, endpoint), request(0, x, epoch=99))
    assert h.type == MsgType.REPLY
    np.testing.assert_allclose(audio, lfilter(REFERENCE_FIR, 1, x, axis=1), atol=1e-6)


def test_sigterm_shuts_down_cleanly(backend):
    proc, endpoint, ctx, tmp = backend
    assert ask(client(ctx, endpoint), encode_request(0, 1, "reference", 48000, DEFAULTS, np.zeros((2, 256))))[0]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert not (tmp / "b.sock").exists()
    assert "stopped" in (tmp / "bandmate" / "backend.log").read_text()


def test_second_backend_exits_when_one_is_running(backend):
    _, endpoint, ctx, tmp = backend
    time.sleep(0.5)
    env = dict(os.environ, BANDMATE_RUNTIME_DIR=str(tmp), XDG_STATE_HOME=str(tmp))
    out = subprocess.run(
        [sys.executable, "-m", "bandmate", "backend", "--endpoint", endpoint], env=env, capture_output=True, text=True,
        timeout=30,
    )
    assert out.returncode == 0 and "already" in out.stdout


def test_tcp_only_on_loopback_without_curve():
    _check_tcp("tcp://127.0.0.1:5555", curve=False)
    with pytest.raises(ValueError, match="CURVE"):
        _check_tcp("tcp://0.0.0.0:5555", curve=False)
    _check_tcp("tcp://0.0.0.0:5555", curve=True)


def test_decode_rejects_what_it_must():
    with pytest.raises(ProtocolError) as e:
        decode(b"\0" * 10)
    assert e.value.code == ErrorCode.MALFORMED
    msg = decode(request(5, np.ones((1, 64), np.float32)))
    assert msg.header.seq == 5 and msg.audio.shape == (1, 64) and np.all(msg.audio == 1)


def test_wire_table_clamps_exactly_like_the_spec():
    """The backend's vectorised per-hop parameter path agrees with PluginSpec.values_from_list
    for every plugin, out-of-range and half-way values included."""
    from bandmate.sessions import WireTable
    from bandmate.specs import all_specs

    rng = np.random.default_rng(0)
    for spec in all_specs():
        wire = WireTable.of(spec)
        lo = np.array([p.min for p in spec.params])
        hi = np.array([p.max for p in spec.params])
        for _ in range(20):
            v = (lo + (hi - lo) * rng.uniform(-0.2, 1.2, lo.size)).astype(np.float32)
            v[rng.random(lo.size) < 0.3] = 0.5  # ties round to even, as round() does
            assert wire.params(v) == pytest.approx(spec.values_from_list(v.tolist()), abs=1e-9), spec.name


def test_instance_router_runs_the_first_unlinked_instances_inline_then_spreads():
    from bandmate.server import InstanceRouter

    linked = {b"xspecmatch".ljust(16, b"\0")}
    ref = b"reference".ljust(16, b"\0")
    r = InstanceRouter(2, linked, inline_sessions=2, inline_max_busy=0.3)
    assert [r.route(bytes([i]), ref) for i in range(2)] == [-1, -1]  # inline: one hop fewer
    assert r.route(b"L", linked.copy().pop()) == 0  # linked engines share worker 0's LinkBoard
    assert [r.route(bytes([i]), ref) for i in range(2, 5)] == [1, 0, 1]  # then the least loaded worker
    assert r.route(bytes([0]), ref) == -1 and r.route(bytes([3]), ref) == 0  # sticky
    busy = InstanceRouter(2, linked, inline_sessions=4, inline_max_busy=0.3)
    busy.busy = 0.5  # a loaded routing thread takes no more engines
    assert busy.route(b"a", ref) == 0
    assert InstanceRouter(0, linked, 0, 0.3).route(b"a", linked.copy().pop()) == -1  # no workers: all here
