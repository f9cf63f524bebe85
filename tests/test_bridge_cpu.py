"""The bridge core: the plugins' I/O threads, their libzmq thread and the backend's routing
thread share one CPU (ARCHITECTURE.md); workers and spawned backends keep every CPU."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from bandmate.bridge_cpu import choose_bridge_cpu
from bandmate.paths import backend_setting

from tests.conftest import backend_pid, kill_backend, plugin_path

ALLOWED = os.sched_getaffinity(0)
needs_two = pytest.mark.skipif(len(ALLOWED) < 2, reason="pinning needs at least two CPUs to mean anything")


def test_choose_bridge_cpu_rules():
    assert choose_bridge_cpu("auto", {0, 1, 2, 3}) == 3
    assert choose_bridge_cpu("AUTO ", {0, 5}) == 5
    assert choose_bridge_cpu("off", {0, 1}) is None
    assert choose_bridge_cpu("none", {0, 1}) is None
    assert choose_bridge_cpu("2", {0, 1, 2}) == 2
    assert choose_bridge_cpu("7", {0, 1, 2}) is None  # not ours to use: no pinning, no error
    assert choose_bridge_cpu("fast", {0, 1}) is None
    assert choose_bridge_cpu("auto", {4}) is None  # one CPU: nothing to choose


def test_backend_setting_reads_backend_conf(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert backend_setting("bridge_cpu") == ""
    (tmp_path / "bandmate").mkdir()
    (tmp_path / "bandmate" / "backend.conf").write_text("command = bandmate backend\n bridge_cpu =  off \n")
    assert backend_setting("bridge_cpu") == "off"
    assert backend_setting("command") == "bandmate backend"


def _threads(pid: int | str = "self") -> dict[int, tuple[str, set[int]]]:
    """tid -> (name, allowed CPUs) of every thread of a process."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            status = (task / "status").read_text()
        except OSError:
            continue
        cpus = next(line.split()[1] for line in status.splitlines() if line.startswith("Cpus_allowed_list"))
        allowed = set()
        for part in cpus.split(","):
            lo, _, hi = part.partition("-")
            allowed |= set(range(int(lo), int(hi or lo) + 1))
        out[int(task.name)] = (name, allowed)
    return out


def _children(pid: int) -> list[int]:
    kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(k) for k in kids]


def _run_instance(setting: str, runtime: Path, monkeypatch) -> tuple[object, dict[int, tuple[str, set[int]]]]:
    """A BandmateReference CLAP activated with BANDMATE_BRIDGE_CPU=setting, processing until its
    backend (spawned by it, in `runtime`) answers; returns it and the threads it started."""
    import plugin_host as ph

    monkeypatch.setenv("BANDMATE_RUNTIME_DIR", str(runtime))
    monkeypatch.setenv("BANDMATE_BRIDGE_CPU", setting)
    # two engine workers, so the test sees that workers are not pinned
    monkeypatch.setenv("BANDMATE_BACKEND_CMD", f"{sys.executable} -m bandmate backend --workers 1")
    before = set(_threads())
    plugin = ph.ClapPlugin(str(plugin_path("BandmateReference", "clap")))
    assert plugin.activate(48000, max_block=256)
    x = np.zeros((2, 256), np.float32)
    for _ in range(400):
        plugin.process(x, block_size=256)
        if plugin.output_params["Backend connected"] >= 0.5:
            break
        time.sleep(0.01)
    assert plugin.output_params["Backend connected"] >= 0.5
    new = {tid: t for tid, t in _threads().items() if tid not in before}
    return plugin, new


@needs_two
@pytest.mark.parametrize("setting", ["auto", " Auto "])  # the shell reads it as bridge_cpu.py does
def test_auto_pins_io_thread_and_backend_to_one_core_but_not_workers(setting, tmp_path, monkeypatch):
    bridge = max(ALLOWED)
    plugin, new = _run_instance(setting, tmp_path, monkeypatch)
    try:
        io = [cpus for name, cpus in new.values() if name == "bandmate-io"]
        assert io == [{bridge}]
        backend = backend_pid(tmp_path)
        threads = _threads(backend)
        assert threads[backend][1] == {bridge}  # the routing (main) thread
        assert [cpus for name, cpus in threads.values() if name.startswith("ZMQbg/IO")] == [{bridge}]
        # The spawned backend got the plugin's original mask back: its worker uses every CPU.
        workers = [k for k in _children(backend) if "bandmate" not in Path(f"/proc/{k}/comm").read_text()]
        assert workers, "the backend should have started one worker process"
        for w in workers:
            assert _threads(w)[w][1] == ALLOWED
    finally:
        plugin.deactivate()
        kill_backend(tmp_path)


def _activate_more(n: int, into: list) -> list[set[int]]:
    """Activates n more BandmateReference CLAPs (appended to `into`); the CPU sets of the I/O
    threads they started."""
    import plugin_host as ph

    before = set(_threads())
    for _ in range(n):
        into.append(ph.ClapPlugin(str(plugin_path("BandmateReference", "clap"))))
        assert into[-1].activate(48000, max_block=256)
    time.sleep(0.2)
    return [cpus for tid, (name, cpus) in _threads().items() if name == "bandmate-io" and tid not in before]


@needs_two
def test_only_the_first_eight_io_threads_are_pinned(tmp_path, monkeypatch):
    """With dozens of instances their I/O threads would crowd the backend off the bridge core."""
    plugin, new = _run_instance("auto", tmp_path, monkeypatch)
    more = []
    try:
        io = _activate_more(9, more)
        assert len(io) == 9
        assert sorted(len(c) for c in io) == [1] * 7 + [len(ALLOWED)] * 2  # 1 + 7 pinned, 2 free
        for p in more[:3]:
            p.deactivate()  # frees their places: the next instances are pinned again
        assert _activate_more(2, more) == [{max(ALLOWED)}] * 2
    finally:
        for p in [plugin, *more]:
            p.deactivate()
        kill_backend(tmp_path)


@needs_two
def test_off_pins_nothing(tmp_path, monkeypatch):
    plugin, new = _run_instance("off", tmp_path, monkeypatch)
    try:
        assert [cpus for name, cpus in new.values() if name == "bandmate-io"] == [ALLOWED]
        backend = backend_pid(tmp_path)
        assert all(cpus == ALLOWED for _, cpus in _threads(backend).values())
    finally:
        plugin.deactivate()
        kill_backend(tmp_path)


@needs_two
def test_backend_command_line_choice(tmp_path):
    env = dict(os.environ, BANDMATE_RUNTIME_DIR=str(tmp_path), BANDMATE_BRIDGE_CPU="off")
    cpu = min(ALLOWED)
    proc = subprocess.Popen([sys.executable, "-m", "bandmate", "backend", "--workers", "0", "--bridge-cpu", str(cpu)],
                            env=env)
    try:
        for _ in range(500):
            if (tmp_path / "backend.sock").exists():
                break
            time.sleep(0.02)
        assert _threads(proc.pid)[proc.pid][1] == {cpu}
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
