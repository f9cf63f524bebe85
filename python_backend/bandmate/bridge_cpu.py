"""The bridge core (ARCHITECTURE.md): one CPU shared by the plugins' I/O threads and the
backend's routing thread, chosen by the same rule on both sides (cpp_shim/BackendSpawner.cpp).

A hop's round trip is strictly sequential: on one core every hand-over between threads is a
local context switch instead of waking another CPU, which measured 3-6x cheaper in latency
and in the backend's CPU time per hop (bench/RESULTS.md).
"""

from __future__ import annotations

import os

from bandmate.paths import backend_setting


def bridge_cpu_setting() -> str:
    """``$BANDMATE_BRIDGE_CPU``, else ``bridge_cpu = `` in backend.conf, else ``auto``."""
    return os.environ.get("BANDMATE_BRIDGE_CPU") or backend_setting("bridge_cpu") or "auto"


def choose_bridge_cpu(setting: str, allowed: set[int]) -> int | None:
    """``auto``: the highest allowed CPU when there are at least two; ``off``/``none``: no
    pinning; a number: that CPU if allowed (else none). ``None`` means "do not pin"."""
    setting = setting.strip().lower()
    if setting in ("off", "none") or len(allowed) < 2:
        return None
    if setting in ("auto", ""):
        return max(allowed)
    try:
        cpu = int(setting)
    except ValueError:
        return None
    return cpu if cpu in allowed else None
