// Finding and starting the backend. Called from the I/O thread and at activation only.
#pragma once

#include <sched.h>
#include <string>

namespace bandmate {

// The bridge core: the one CPU that the I/O threads, their libzmq I/O thread and the
// backend's routing thread share (ARCHITECTURE.md, "Bridge core"). A hop's round trip is
// strictly sequential, so nothing runs in parallel that could; on one core each hand-over
// is a local context switch instead of a wake-up of another (possibly idle, or on a VM
// descheduled) CPU, which measured 3-6x cheaper in both latency and CPU (bench/RESULTS.md).
// `setting`: "auto" (default: the highest CPU this thread may use, if it may use more
// than one), "off", or a CPU number. Returns -1 for none. The backend computes the same
// (bandmate/bridge_cpu.py).
int chooseBridgeCpu(const std::string& setting, const cpu_set_t& allowed);

// Starts `command` detached (through /bin/sh, in its own session) with
// BANDMATE_ENDPOINT set, unless another instance spawned one moments ago (a lock file in
// `runtimeDir` serialises instances). Returns true if it started a process.
bool spawnBackend(const std::string& command, const std::string& endpoint, const std::string& runtimeDir);

}  // namespace bandmate
