"""Bridge benchmark: link round trip and run() cost with the backend fast, stalled and dead.

    python bench/bridge_bench.py [--seconds 5]

Prints a table; numbers go into bench/RESULTS.md. Baseline measured in the same run: a bare
ZeroMQ PING/PONG round trip from Python to the same backend (no audio, no engine).
Goals (issue 2): round trip p50 <= 150 us, p99 <= 1 ms; run() p99 <= 5 %, max <= 25 % of the
block's duration in every case.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import zmq

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "python_backend"), str(ROOT)]

from bandmate.protocol import Header, MsgType  # noqa: E402


def start_backend(runtime: Path, workers: int, bridge: str = "auto", inline: int | None = None) -> subprocess.Popen:
    env = dict(os.environ, BANDMATE_RUNTIME_DIR=str(runtime), XDG_STATE_HOME=str(runtime), BANDMATE_BRIDGE_CPU=bridge)
    extra = [] if inline is None else ["--inline-sessions", str(inline)]
    proc = subprocess.Popen([sys.executable, "-m", "bandmate", "backend", "--workers", str(workers), *extra], env=env)
    sock = runtime / "backend.sock"
    for _ in range(300):
        if sock.exists():
            break
        time.sleep(0.02)
    time.sleep(0.3 + workers * 1.0)  # workers import numpy/scipy
    return proc


def ping_round_trip(endpoint: str, n: int) -> np.ndarray:
    ctx = zmq.Context()
    s = ctx.socket(zmq.DEALER)
    s.linger = 0
    s.connect(endpoint)
    ping = Header(MsgType.PING, 0, 0).pack()
    out = []
    for i in range(n + 20):
        t0 = time.perf_counter()
        s.send(ping)
        s.recv()
        if i >= 20:
            out.append((time.perf_counter() - t0) * 1e6)
        time.sleep(0.0005)
    ctx.destroy(0)
    return np.array(out)


def link_round_trip(endpoint: str, n: int, bridge: str) -> np.ndarray:
    exe = ROOT / "build" / "bin" / "bandmate_link_bench"
    # 96 kHz: the reference engine's hop is 512 frames there (the 512-frame stereo block)
    out = subprocess.run([str(exe), endpoint, "96000", "512", str(n)], capture_output=True, text=True, check=True,
                         env=dict(os.environ, BANDMATE_BRIDGE_CPU=bridge))
    return np.array([float(v) for v in out.stdout.split()])


def run_cost(runtime: Path, backend: subprocess.Popen, seconds: float) -> dict[str, dict]:
    import plugin_host as ph

    os.environ["BANDMATE_RUNTIME_DIR"] = str(runtime)
    os.environ["BANDMATE_NO_SPAWN"] = "1"  # "dead" must stay dead
    p = ph.ClapPlugin(str(ROOT / "build" / "bin" / "BandmateReference.clap"))
    assert p.activate(48000, max_block=512)
    ph.paced_run([p], 1.0, block=512)  # connect + warm up
    results = {}
    for case in ("fast", "stalled", "dead"):
        if case == "stalled":
            backend.send_signal(signal.SIGSTOP)
        if case == "dead":
            backend.send_signal(signal.SIGCONT)
            backend.kill()
            backend.wait()
        late0 = p.output_params.get("Late blocks", 0.0)
        # SCHED_FIFO when allowed, as DAWs run their audio threads: a normal-priority thread
        # would be preempted by the I/O thread it wakes and bill that time to run()
        st = ph.paced_run([p], seconds, block=512, rt_priority=True)
        late = p.output_params.get("Late blocks", 0.0) - late0
        results[case] = {"p50": st.p50, "p99": st.p99, "max": st.max, "overruns": st.overruns,
                         "blocks": st.blocks, "late": late, "rt": st.rt_priority}
    p.deactivate()
    return results


def pct(a: np.ndarray, q: float) -> float:
    return float(np.percentile(a, q))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("-n", type=int, default=2000)
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    # Baselines, same run: a bare Python PING/PONG client, and the link with the bridge core off.
    print("\n| backend | bridge core | path | p50 µs | p99 µs | p50 / PING | p50 / bridge off |")
    print("|---|---|---|---|---|---|---|")
    # with workers, the first instances still run in the main process (InstanceRouter) unless
    # --inline-sessions 0 sends every instance to a worker
    setups = {"inline": (0, None), "2 workers (default)": (2, None), "2 workers, none inline": (2, 0)}
    for label, (workers, inline) in setups.items():
        off = None
        for bridge in ("off", "auto"):
            with tempfile.TemporaryDirectory() as d:
                runtime = Path(d)
                backend = start_backend(runtime, workers, bridge, inline)
                endpoint = f"ipc://{runtime}/backend.sock"
                try:
                    base = ping_round_trip(endpoint, args.n)
                    link = link_round_trip(endpoint, args.n, bridge)
                finally:
                    backend.terminate()
                    backend.wait()
            off = pct(link, 50) if off is None else off
            print(f"| {label} | {bridge} | baseline: Python PING/PONG (client unpinned) | {pct(base, 50):.0f} "
                  f"| {pct(base, 99):.0f} | 1.00 | |")
            print(f"| {label} | {bridge} | BackendLink, 512-frame stereo hop | {pct(link, 50):.0f} | "
                  f"{pct(link, 99):.0f} | {pct(link, 50) / pct(base, 50):.2f} | {pct(link, 50) / off:.2f} |")
    with tempfile.TemporaryDirectory() as d:
        runtime = Path(d)
        backend = start_backend(runtime, 0)
        try:
            cost = run_cost(runtime, backend, args.seconds)
        finally:
            if backend.poll() is None:
                backend.send_signal(signal.SIGCONT)
                backend.kill()
    rt = "SCHED_FIFO" if all(r["rt"] for r in cost.values()) else "normal priority (SCHED_FIFO refused)"
    print(f"\nrun() cost, paced at 48 kHz / 512 frames, audio thread {rt} (fraction of the block's duration):\n")
    print("| backend | p50 | p99 | max | overruns | late hops / host blocks |")
    print("|---|---|---|---|---|---|")
    for case, r in cost.items():
        print(f"| {case} | {r['p50']:.4f} | {r['p99']:.4f} | {r['max']:.4f} | {r['overruns']} | "
              f"{r['late']:.0f} / {r['blocks']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
