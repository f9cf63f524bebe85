// Finding and starting the backend. Called from the I/O thread and at activation only.
#pragma once

#include <string>

namespace bandmate {

// Starts `command` detached (through /bin/sh, in its own session) with
// BANDMATE_ENDPOINT set, unless another instance spawned one moments ago (a lock file in
// `runtimeDir` serialises instances). Returns true if it started a process.
bool spawnBackend(const std::string& command, const std::string& endpoint, const std::string& runtimeDir);

}  // namespace bandmate
