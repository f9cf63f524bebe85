#pragma once

#include "clap_host.hpp"

#include <cstdint>
#include <vector>

namespace bm {

struct PacedResult {
    double period = 0;          // seconds per block
    uint64_t blocks = 0, overruns = 0, out_events = 0;
    bool rt_priority = false;   // SCHED_FIFO obtained for the audio thread
    std::vector<double> durations;         // blocks x plugins, seconds per process() call
    std::vector<double> period_durations;  // seconds of work per period (all plugins)
    std::vector<double> wake_late;         // seconds between period start and wake-up
};

// Processes `hosts` (all active, same sample rate) in sequence once per period of
// `block` frames for `seconds` of audio, paced at wall-clock rate on one audio thread.
// Main inputs get deterministic white noise of amplitude `noise_level`; out events are
// counted and dropped. Must be called on the hosts' main thread.
PacedResult paced_run(const std::vector<ClapHost*>& hosts, double seconds, uint32_t block, bool rt_priority,
                      float noise_level);

}  // namespace bm
