"""The backend process: one per user, serving every plugin instance.

Main process: a ROUTER socket on the endpoint. PINGs are answered right there; PROCESS
requests go to a worker process chosen per instance (sticky: an instance's engine state
lives in one worker) over an ipc PAIR socket, and replies come back the same way. The first
few unlinked instances run in the main process while it is lightly loaded (InstanceRouter):
one Python hop fewer. With ``workers=0`` the main process runs every engine itself.
"""

from __future__ import annotations

import fcntl
import logging
import multiprocessing as mp
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import zmq

from bandmate.bridge_cpu import bridge_cpu_setting, choose_bridge_cpu
from bandmate.paths import runtime_dir, state_dir
from bandmate.sessions import SessionTable
from bandmate.specs import all_specs

log = logging.getLogger("bandmate.backend")


@dataclass
class BackendConfig:
    endpoint: str = ""  # default: ipc://<runtime dir>/backend.sock
    workers: int = field(default_factory=lambda: 0 if (os.cpu_count() or 1) <= 2 else min(8, os.cpu_count() - 1))
    session_idle_s: float = 60.0
    # With workers, the main process still runs the first few unlinked instances itself while it
    # is lightly loaded: one Python hop fewer each way (round trip ~140 instead of ~300 µs,
    # bench/RESULTS.md); the rest go to the workers, which give the parallelism.
    inline_sessions: int = 4
    inline_max_busy: float = 0.3  # fraction of the last second the routing thread was busy
    # Z85 server secret (default $BANDMATE_CURVE_SECRET_KEY): CURVE on TCP, allows non-loopback
    curve_secret_key: str | None = field(default_factory=lambda: os.environ.get("BANDMATE_CURVE_SECRET_KEY") or None)
    log_file: Path | None = None
    bridge_cpu: str = field(default_factory=bridge_cpu_setting)  # "auto", "off" or a CPU (bandmate.bridge_cpu)

    def resolved_endpoint(self) -> str:
        return self.endpoint or os.environ.get("BANDMATE_ENDPOINT") or f"ipc://{runtime_dir()}/backend.sock"


class InstanceRouter:
    """Where each instance's engine runs: a worker index, or -1 for this (routing) process.
    Sticky: an instance's engine state lives in one process for its whole life."""

    def __init__(self, workers: int, linked: set[bytes], inline_sessions: int, inline_max_busy: float):
        self.load = [0] * workers
        self.linked = linked  # engines that use reference links share one LinkBoard: all on worker 0
        self.inline_left = inline_sessions
        self.inline_max_busy = inline_max_busy
        self.busy = 0.0  # the routing thread's busy fraction, updated by the loop
        self.sticky: dict[bytes, int] = {}

    def route(self, identity: bytes, engine: bytes) -> int:
        w = self.sticky.get(identity)
        if w is None:
            if not self.load:
                w = -1
            elif engine in self.linked:
                w = 0
            elif self.inline_left > 0 and self.busy < self.inline_max_busy:
                w, self.inline_left = -1, self.inline_left - 1
            else:
                w = self.load.index(min(self.load))
            if w >= 0:
                self.load[w] += 1
            self.sticky[identity] = w
        return w


class AlreadyRunning(RuntimeError):
    pass


def _check_tcp(endpoint: str, curve: bool) -> None:
    host = urlparse(endpoint).hostname or ""
    if endpoint.startswith("tcp://") and host not in ("127.0.0.1", "localhost", "::1") and not curve:
        raise ValueError(f"refusing to listen on {endpoint} without CURVE keys (use tcp://127.0.0.1:PORT)")


def _worker_main(address: str, idle: float) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the main process stops us
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PAIR)
    sock.linger = 0
    sock.connect(address)
    table = SessionTable(idle)
    last_gc = time.monotonic()
    while True:
        if not sock.poll(1000):
            if time.monotonic() - last_gc > 5:
                table.collect_idle()
                last_gc = time.monotonic()
            continue
        batch = []  # everything queued, so late realtime hops can be dropped (handle_batch)
        while len(batch) < 256 and sock.get(zmq.EVENTS) & zmq.POLLIN:
            identity, frame = sock.recv_multipart()
            batch.append((identity, frame))
        if any(identity == b"" for identity, _ in batch):
            break  # stop signal
        for (identity, _), reply in zip(batch, table.handle_batch(batch), strict=True):
            sock.send_multipart([identity, reply])
    ctx.destroy(0)


class Backend:
    def __init__(self, config: BackendConfig | None = None):
        self.config = config or BackendConfig()
        self.endpoint = self.config.resolved_endpoint()
        self._lock_fd: int | None = None
        self._stop = False

    def stop(self, *_):
        self._stop = True

    def _acquire_lock(self) -> None:
        lock_path = runtime_dir() / "backend.lock"
        fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyRunning(f"a backend already holds {lock_path}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def serve(self) -> None:
        cfg = self.config
        _check_tcp(self.endpoint, cfg.curve_secret_key is not None)
        if self.endpoint.startswith("ipc://"):
            self._acquire_lock()
            sock_path = Path(self.endpoint[len("ipc://"):])
            sock_path.unlink(missing_ok=True)  # stale from a killed backend; we hold the lock
        bridge = choose_bridge_cpu(cfg.bridge_cpu, os.sched_getaffinity(0))
        ctx = zmq.Context()
        if bridge is not None:  # libzmq's I/O thread, started with the first socket
            ctx.set(zmq.THREAD_AFFINITY_CPU_ADD, bridge)
        workers, pairs = [], []
        try:
            mpctx = mp.get_context("spawn")
            for i in range(cfg.workers):
                addr = f"ipc://{runtime_dir()}/worker-{os.getpid()}-{i}.sock"
                pair = ctx.socket(zmq.PAIR)
                pair.linger = 0
                pair.bind(addr)
                proc = mpctx.Process(target=_worker_main, args=(addr, cfg.session_idle_s), daemon=True)
                proc.start()
                workers.append(proc)
                pairs.append(pair)
            if bridge is not None:  # this (routing) thread; the workers keep every CPU
                os.sched_setaffinity(0, {bridge})
            router = ctx.socket(zmq.ROUTER)
            router.linger = 0
            router.sndhwm = router.rcvhwm = 10000
            router.router_mandatory = False
            # A re-activated instance reconnects with the same identity: let it take over.
            router.router_handover = True
            if cfg.curve_secret_key:
                router.curve_server = True
                router.curve_secretkey = cfg.curve_secret_key.encode()
            router.bind(self.endpoint)
            if self.endpoint.startswith("ipc://"):
                os.chmod(self.endpoint[len("ipc://"):], 0o600)
            log.info("backend %d listening on %s with %d worker(s), bridge core %s", os.getpid(), self.endpoint,
                     cfg.workers, "off" if bridge is None else bridge)
            self._loop(router, pairs)
        finally:
            for pair in pairs:
                try:
                    pair.send_multipart([b"", b""], zmq.NOBLOCK)
                except zmq.ZMQError:
                    pass
            deadline = time.monotonic() + 2
            for proc in workers:
                proc.join(timeout=max(0.0, deadline - time.monotonic()))
                if proc.is_alive():  # e.g. still importing and missed the stop message;
                    proc.kill()      # workers ignore SIGTERM, so SIGKILL (else exit would hang)
                    proc.join(timeout=1)
            ctx.destroy(0)
            if self.endpoint.startswith("ipc://"):
                Path(self.endpoint[len("ipc://"):]).unlink(missing_ok=True)
            log.info("backend %d stopped", os.getpid())

    def _loop(self, router: zmq.Socket, pairs: list[zmq.Socket]) -> None:
        table = SessionTable(self.config.session_idle_s)  # inline engines / PING answers
        # Engines that use reference links must share one LinkBoard: all go to worker 0.
        linked = {s.engine.encode().ljust(16, b"\0") for s in all_specs() if s.extra.get("links")}
        router_of = InstanceRouter(len(pairs), linked, self.config.inline_sessions, self.config.inline_max_busy)
        busy_since, busy_cpu = time.monotonic(), time.thread_time()
        poller = zmq.Poller()
        poller.register(router, zmq.POLLIN)
        for pair in pairs:
            poller.register(pair, zmq.POLLIN)
        last_gc = time.monotonic()
        while not self._stop:
            events = dict(poller.poll(200))
            # Messages are a few KiB: copying them is cheaper than pyzmq's zero-copy frames,
            # and draining while EVENTS says "readable" avoids an exception per wake-up.
            if router in events:
                here = []  # answered by this process, as one batch (see SessionTable.handle_batch)
                for _ in range(256):  # drain, but keep replies flowing
                    if not router.get(zmq.EVENTS) & zmq.POLLIN:
                        break
                    try:
                        ident, buf = router.recv_multipart()
                    except ValueError:
                        continue  # wrong frame count (not a DEALER): ignore
                    is_ping = len(buf) >= 8 and buf[6] == 2 and buf[7] == 0
                    if not pairs or is_ping or len(buf) < 48:
                        here.append((ident, buf))
                        continue
                    w = router_of.route(ident, buf[32:48])
                    if w < 0:
                        here.append((ident, buf))
                    else:
                        pairs[w].send_multipart([ident, buf])
                for (ident, _), reply in zip(here, table.handle_batch(here), strict=True):
                    router.send_multipart([ident, reply])
            for pair in pairs:
                if pair in events:
                    while pair.get(zmq.EVENTS) & zmq.POLLIN:
                        router.send_multipart(pair.recv_multipart())
            now = time.monotonic()
            if now - busy_since >= 1.0:  # this thread's busy fraction over the last second
                cpu = time.thread_time()
                router_of.busy = (cpu - busy_cpu) / (now - busy_since)
                busy_since, busy_cpu = now, cpu
            if now - last_gc > 5:
                table.collect_idle()
                last_gc = now


def run_backend(config: BackendConfig | None = None) -> int:
    """Entry point of ``bandmate backend``: log to the state dir, stop cleanly on SIGTERM."""
    config = config or BackendConfig()
    log_file = config.log_file or state_dir() / "backend.log"
    logging.basicConfig(
        filename=str(log_file), level=logging.INFO, format="%(asctime)s %(process)d %(levelname)s %(message)s"
    )
    backend = Backend(config)
    signal.signal(signal.SIGTERM, backend.stop)
    signal.signal(signal.SIGINT, backend.stop)
    try:
        backend.serve()
    except AlreadyRunning as e:
        log.info("%s; exiting", e)
        print(f"bandmate backend: {e}")
        return 0
    return 0
