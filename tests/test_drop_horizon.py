"""The drop horizon (PROTOCOL.md): in realtime a backend that fell behind skips the hops the
shell can no longer play instead of answering a backlog in order; deterministic hops are
never skipped."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest
import zmq
from bandmate.protocol import (
    ErrorCode,
    MsgType,
    decode,
    decode_reply,
    encode_pong,
    encode_reply,
    encode_request,
    peek_request,
)
from bandmate.sessions import SessionTable
from bandmate.specs import load_spec

import plugin_host as ph
from tests.conftest import kill_backend, plugin_path

RATE, HOP = 48000, 256


def reference_request(seq: int, horizon: int, epoch: int = 1) -> bytes:
    spec = load_spec("reference")
    values = np.array([p.default for p in spec.params], np.float32)
    audio = np.full((2, HOP), 0.01 * (seq % 7), np.float32)
    return encode_request(seq, epoch, "reference", RATE, values, audio, horizon=horizon)


def kinds(replies: list[bytes]) -> list[str]:
    out = []
    for frame in replies:
        h, _, payload = decode_reply(frame)
        out.append("ok" if h.type == MsgType.REPLY else f"err{h.status}")
    return out


@pytest.mark.parametrize("horizon", [3, 5])
def test_batch_skips_exactly_the_hops_past_their_deadline(horizon):
    table = SessionTable()
    ident = b"a" * 16
    batch = [(ident, reference_request(s, horizon)) for s in range(10)]
    batch += [(b"b" * 16, reference_request(s, horizon)) for s in range(2)]  # another instance
    got = kinds(table.handle_batch(batch))
    missed = f"err{int(ErrorCode.DEADLINE_MISSED)}"
    # Hop s is dropped when hop s + K - 1 of the same instance is in the queue.
    expected = [missed if s + horizon - 1 <= 9 else "ok" for s in range(10)] + ["ok", "ok"]
    assert got == expected
    assert table.missed == 10 - (horizon - 1)
    # Replies echo the request's seq, so the shell matches each one to its hop.
    assert [decode_reply(r)[0].seq for r in table.handle_batch(batch[:3])] == [0, 1, 2]


def test_deterministic_hops_are_never_skipped_and_epochs_are_separate():
    table = SessionTable()
    ident = b"a" * 16
    batch = [(ident, reference_request(s, 0)) for s in range(10)]
    assert kinds(table.handle_batch(batch)) == ["ok"] * 10
    # Hop 5 of a new activation does not make hop 0 of the old one late, nor the reverse.
    mixed = [(ident, reference_request(0, 3, epoch=2)), (ident, reference_request(5, 3, epoch=3))]
    assert kinds(table.handle_batch(mixed)) == ["ok", "ok"]


def test_generator_hops_are_never_skipped():
    """A generator's timeline counts every hop it is sent: dropping one would look like a
    transport jump (bar generated again, a stall, more drops), so its backlog is processed."""
    spec = load_spec("drumnet")
    hop = spec.hop(RATE)
    values = np.array([p.default for p in spec.params] + [0.0] * (spec.wire_inputs - len(spec.params)), np.float32)

    def req(seq: int) -> bytes:
        return encode_request(seq, 1, "drumnet", RATE, values, np.zeros((2, hop), np.float32), horizon=2)

    table = SessionTable()
    assert kinds(table.handle_batch([(b"g" * 16, req(0))])) == ["ok"]
    assert kinds(table.handle_batch([(b"g" * 16, req(s)) for s in range(1, 7)])) == ["ok"] * 6
    assert table.missed == 0


class RecordingBackend:
    """A stand-in backend on its own endpoint: answers PINGs and echoes PROCESS audio,
    recording each request's status field (the drop horizon)."""

    def __init__(self, endpoint: str):
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.linger = 0
        self.sock.bind(endpoint)
        self.horizons: list[int] = []
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop:
            if not self.sock.poll(50):
                continue
            ident, frame = self.sock.recv_multipart()
            h = peek_request(frame)
            if h is None:  # a PING
                self.sock.send_multipart([ident, encode_pong(decode(frame).header)])
                continue
            self.horizons.append(h.status)
            payload = np.frombuffer(frame, "<f4", offset=48)
            audio = payload[h.n_values:].reshape(h.channels, h.frames)
            spec = load_spec(h.engine)
            self.sock.send_multipart([ident, encode_reply(h, np.zeros(len(spec.engine_outputs), np.float32), audio)])

    def close(self):
        self.stop = True
        self.thread.join()
        self.ctx.destroy(0)


def test_shell_sends_its_horizon_in_realtime_and_zero_when_deterministic(tmp_path, monkeypatch):
    monkeypatch.setenv("BANDMATE_ENDPOINT", f"ipc://{tmp_path}/fake.sock")
    monkeypatch.setenv("BANDMATE_NO_SPAWN", "1")
    fake = RecordingBackend(f"ipc://{tmp_path}/fake.sock")
    try:
        x = np.zeros((2, HOP * 40), np.float32)
        seen = {}
        for deterministic in (0.0, 1.0):
            p = ph.ClapPlugin(str(plugin_path("Reference", "clap")))
            p.set_param("Deterministic", deterministic)
            assert p.activate(RATE, max_block=HOP)
            fake.horizons.clear()
            for s in range(0, x.shape[1], HOP):
                p.process(x[:, s: s + HOP], block_size=HOP)
                time.sleep(0.002)
            time.sleep(0.1)
            seen[deterministic] = set(fake.horizons)
            spec = load_spec("reference")
            k = (p.latency - spec.engine_latency(RATE)) // spec.hop(RATE)
            del p
        assert seen[0.0] == {k} and k >= 2
        assert seen[1.0] == {0}
    finally:
        fake.close()


def test_backend_that_fell_behind_answers_every_hop_and_catches_up(runtime_dir):
    """A backend stopped while 60 realtime hops queue up: after it resumes, every hop gets one
    reply in order, the old ones are skipped (error 8) and the newest are processed."""
    p = ph.ClapPlugin(str(plugin_path("Reference", "clap")))  # spawns the session's backend
    p.set_param("Deterministic", 1.0)
    assert p.activate(RATE, max_block=HOP)
    p.process(np.zeros((2, HOP * 4), np.float32), block_size=HOP)
    pid = kill_backend(runtime_dir, 0)
    assert pid is not None
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    sock.connect(f"ipc://{runtime_dir}/backend.sock")
    os.kill(pid, signal.SIGSTOP)
    try:
        for s in range(60):
            sock.send(reference_request(s, 3))
        time.sleep(0.2)
    finally:
        os.kill(pid, signal.SIGCONT)
    replies = []
    while len(replies) < 60 and sock.poll(5000):
        replies.append(sock.recv())
    ctx.destroy(0)
    got = kinds(replies)
    assert [decode_reply(r)[0].seq for r in replies] == list(range(60))
    assert got[-2:] == ["ok", "ok"]  # the two newest can still be played
    assert got.count(f"err{int(ErrorCode.DEADLINE_MISSED)}") >= 10
