"""RealtimeSanitizer on the audio path: a clang-22 `-fsanitize=realtime` CLAP host
(plugin_host/rtsan) runs each Bandmate .clap (built normally with g++) with every
process() call — and start/stop_processing and reset(), every RESET_EVERY blocks — inside
`[[clang::nonblocking]]` functions, in realtime mode (Deterministic off), for 10^4 blocks with
the backend up, stalled (SIGSTOP) and killed (SIGKILL). The host sends parameter events (one
of a foreign namespace too) and a playing transport, and takes any out events (generators'
MIDI) into fixed storage. RTSan halts the host (exit code 43) on any allocation, lock,
blocking syscall or I/O reached from there; zero reports are required. Without clang-22 these tests fail: the
sanitizer is part of the test suite (scripts/setup.sh installs it), never silently skipped."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from tests.conftest import ROOT, kill_backend, plugin_path

BLOCKS = 10_000  # per phase
BLOCK = 256      # frames at 48 kHz; both plugins' hop is 256 there
# Pacing (x real time). With the backend up it must keep up well enough that thousands of
# replies are consumed (Reference: ~90 % of hops wet at 8x here; ResonanceEQ's engine is
# heavier: ~95 % at 3x); stalled and dead phases only need > 1.5 s (3 heartbeats) of wall time.
UP_SPEED = {"Reference": 8.0, "ResonanceEQ": 3.0, "DrumNet": 4.0}
DOWN_SPEED = 16.0
RESET_EVERY = 4000
HOP = {"Reference": 256, "ResonanceEQ": 256, "DrumNet": 1024}


@pytest.fixture(scope="module")
def rtsan_host() -> Path:
    r = subprocess.run(["bash", "plugin_host/rtsan/build.sh"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, (
        "building the RTSan host failed (needs clang-22 and libclang-rt-22-dev: run scripts/setup.sh)\n"
        + r.stdout + r.stderr
    )
    host = ROOT / r.stdout.strip().splitlines()[-1]
    assert host.is_file()
    return host


def rtsan_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("BANDMATE_DETERMINISTIC", None)  # the realtime path is the one under test
    opts = ["halt_on_error=1", "exitcode=43"]
    if addr2line := shutil.which("addr2line"):  # readable stacks in a report
        opts.append(f"external_symbolizer_path={addr2line}")
    env["RTSAN_OPTIONS"] = ":".join(opts)
    return env


class Host:
    """The rtsan host as a subprocess driven line by line (one JSON answer per command)."""

    def __init__(self, exe: Path, plugin: Path, tmp: Path, *args: str):
        self.stderr_path = tmp / "rtsan_stderr.txt"
        self._err = open(self.stderr_path, "w")  # a file: a pipe could fill up and block the host
        self.proc = subprocess.Popen([str(exe), str(plugin), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._err, text=True, env=rtsan_env())
        self._watchdog = threading.Timer(300, self.proc.kill)
        self._watchdog.start()
        self.header = self._read()

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=30)
            pytest.fail(f"rtsan host exited with {self.proc.returncode}:\n{self.stderr()}")
        return json.loads(line)

    def cmd(self, line: str) -> dict:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self._read()

    def quit(self) -> int:
        self.proc.stdin.write("quit\n")
        self.proc.stdin.close()
        rc = self.proc.wait(timeout=60)
        self._watchdog.cancel()
        return rc

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def close(self) -> None:
        self._watchdog.cancel()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._err.close()


def test_canary_allocation_in_a_gxx_built_library_is_reported(rtsan_host, tmp_path):
    """Negative control: a g++-built .so calling malloc inside the nonblocking scope must be caught."""
    r = subprocess.run([str(rtsan_host), "--canary", str(rtsan_host.parent / "rtsan_canary.so")],
                       capture_output=True, text=True, env=rtsan_env(), timeout=60)
    assert r.returncode == 43, r.stdout + r.stderr
    assert "RealtimeSanitizer" in r.stderr and "malloc" in r.stderr
    assert "not reported" not in r.stdout


@pytest.mark.parametrize("name", ["Reference", "ResonanceEQ", "DrumNet"])
def test_audio_path_has_no_realtime_violations_backend_up_stalled_killed(rtsan_host, runtime_dir, tmp_path, name):
    host = Host(rtsan_host, plugin_path(name, "clap"), tmp_path, "--block", str(BLOCK),
                "--reset-every", str(RESET_EVERY))
    stopped = None
    try:
        assert host.header["deterministic"] == 0
        warm = host.cmd("warmup 60 1")  # the plugin spawns the backend (conftest's BANDMATE_BACKEND_CMD)
        assert warm["connected"] == 1, f"backend never connected: {warm}\n{host.stderr()}"
        hops = BLOCKS * BLOCK // HOP[name]

        up = host.cmd(f"run up {BLOCKS} {UP_SPEED[name]}")
        assert up["blocks"] == BLOCKS and up["connected"] == 1
        assert up["late_blocks"] < 0.8 * hops, f"the reply path must be exercised: {up}"

        stopped = kill_backend(runtime_dir, 0)
        assert stopped is not None, "no backend pid in backend.lock"
        os.kill(stopped, signal.SIGSTOP)
        stalled = host.cmd(f"run stalled {BLOCKS} {DOWN_SPEED}")
        assert stalled["blocks"] == BLOCKS
        assert stalled["late_blocks"] > 0.5 * hops and stalled["connected"] == 0, stalled

        assert kill_backend(runtime_dir, signal.SIGKILL) == stopped
        stopped = None
        killed = host.cmd(f"run killed {BLOCKS} {DOWN_SPEED}")
        assert killed["blocks"] == BLOCKS and killed["late_blocks"] > 0, killed

        for phase in (warm, up, stalled, killed):
            print(name, json.dumps(phase))  # shown with pytest -s
            assert not phase["process_error"] and phase["dropped_out_events"] == 0, phase
        if name == "DrumNet":  # the generator's MIDI output path ran under the sanitizer
            assert killed["midi_out_total"] > 100, killed
        rc = host.quit()
        err = host.stderr()
        assert "RealtimeSanitizer" not in err, err
        assert rc == 0, f"rtsan host exited with {rc}:\n{err}"
    finally:
        if stopped is not None:
            os.kill(stopped, signal.SIGCONT)
        host.close()
