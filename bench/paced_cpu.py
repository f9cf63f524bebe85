"""CPU per stereo instance in the paced host: each product as a DAW runs it, realtime mode.

    python bench/paced_cpu.py [--seconds 20] [--plugins XSpecMatch ProfileEQ ...]

For each configuration a fresh backend (spawned by the plugins, inline engines) serves the
instances while plugin_host's paced mode calls process() at wall-clock rate, 48 kHz / 256-frame
blocks, pink-ish noise in. After a warm-up (connection, learning), the backend process's CPU time
(utime + stime) over the measured stretch, divided by the stretch and the instance count, is the
cost of one instance: what the issues' "≤ 5 % of one core per stereo instance in the paced host"
asks for. Baseline in the same run: BandmateReference (gain + a 4-tap FIR), i.e. the bridge's
own per-hop cost. Linked products run as a Reference + Target pair, the figure is per instance.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bandmate.paths import find_plugin  # noqa: E402
from paced_soak import BLOCK, RATE, backend_pid, cpu_seconds, machine_load, setup_env  # noqa: E402

import plugin_host as ph  # noqa: E402


@dataclass
class Config:
    label: str
    plugin: str
    instances: list[dict[str, object]] = field(default_factory=lambda: [{}])
    warmup_s: float = 3.0


CONFIGS = {
    "Reference": Config("Reference (baseline: bridge only)", "Reference"),
    "ResonanceEQ": Config("ResonanceEQ, normal quality", "ResonanceEQ"),
    "XSpecMatch": Config("XSpecMatch, Reference + Target (min phase)", "XSpecMatch",
                         [{"Role": "Reference", "Link group": 3}, {"Role": "Target", "Link group": 3}]),
    "ProfileEQ": Config("ProfileEQ, default profile", "ProfileEQ"),
    "MultibandPhase": Config("MultibandPhase, Reference + Target, learnt", "MultibandPhase",
                             [{"Role": "Reference", "Link group": 4}, {"Role": "Target", "Link group": 4}],
                             warmup_s=9.0),
}


def measure(cfg: Config, seconds: float, runtime: Path, copies: int = 1) -> dict[str, float]:
    path = str(find_plugin("Bandmate" + cfg.plugin, "clap", prefer_build=True))
    plugins = []
    for copy, params in ((c, q) for c in range(copies) for q in cfg.instances):
        if "Link group" in params:  # each copy of a linked pair in a group of its own (1..16)
            params = params | {"Link group": (int(params["Link group"]) - 1 + 5 * copy) % 16 + 1}
        p = ph.ClapPlugin(path)
        for key, value in params.items():
            p.set_param(key, value)
        assert p.activate(RATE, max_block=BLOCK), f"{cfg.plugin} refused {RATE} Hz"
        plugins.append(p)
    ph.paced_run(plugins, cfg.warmup_s, block=BLOCK, rt_priority=True)
    pid = backend_pid(runtime)
    late0 = sum(p.output_params["Late blocks"] for p in plugins)
    cpu0 = cpu_seconds(pid)
    stats = ph.paced_run(plugins, seconds, block=BLOCK, rt_priority=True)  # SCHED_FIFO, as a DAW
    cpu = cpu_seconds(pid) - cpu0
    late = sum(p.output_params["Late blocks"] for p in plugins) - late0
    hops = stats.blocks * len(plugins)
    for p in plugins:
        p.deactivate()
    if pid:
        os.kill(pid, signal.SIGTERM)
        time.sleep(1.0)
    return {"per_instance": 100 * cpu / seconds / len(plugins), "late": late, "hops": hops,
            "p99": stats.p99 / len(plugins), "overruns": stats.overruns}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--plugins", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--copies", type=int, default=1,
                    help="run this many copies of each configuration at once (the figure stays per instance)")
    ap.add_argument("--bridge", nargs="+", default=["auto"],
                    help="bridge core settings to compare (BANDMATE_BRIDGE_CPU: auto, off, a CPU)")
    args = ap.parse_args(argv)
    names = ["Reference"] + [n for n in args.plugins if n != "Reference"]
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for bridge in args.bridge:
            os.environ["BANDMATE_BRIDGE_CPU"] = bridge  # read by the plugins at activation and the backend
            for name in names:
                runtime = Path(tmp) / f"{name}-{bridge}"
                runtime.mkdir()
                setup_env(runtime)
                rows[name, bridge] = measure(CONFIGS[name], args.seconds, runtime, args.copies)
    print(f"machine: {machine_load()}; {args.seconds:.0f} s measured per row, 48 kHz, 256-frame blocks, "
          f"{args.copies} cop{'y' if args.copies == 1 else 'ies'} of each configuration\n")
    print("| configuration | bridge core | backend CPU per instance (% of one core) | / baseline | "
          "process() p99 per instance (fraction of the block) | late hops | overruns |")
    print("|---|---|---|---|---|---|---|")
    for bridge in args.bridge:
        base = rows["Reference", bridge]["per_instance"]
        for name in names:
            r = rows[name, bridge]
            print(f"| {CONFIGS[name].label} | {bridge} | {r['per_instance']:.2f} | {r['per_instance'] / base:.2f} | "
                  f"{r['p99']:.4f} | {r['late']:.0f} / {r['hops']} | {r['overruns']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
