#pragma once

#include "clap_host.hpp"

#include <cstdint>
#include <vector>

namespace bm {

struct PacedResult {
    double period = 0;          // seconds per block
    uint64_t blocks = 0, overruns = 0, out_events = 0;
    uint64_t process_errors = 0;  // process() calls that returned CLAP_PROCESS_ERROR
    bool rt_priority = false;   // SCHED_FIFO obtained for the audio thread
    std::vector<double> durations;         // blocks x plugins, seconds per process() call
    std::vector<double> period_durations;  // seconds of work per period (all plugins)
    std::vector<double> wake_late;         // seconds between period start and wake-up
    std::vector<double> block_times;       // wake-up of each period, steady clock (CLOCK_MONOTONIC) seconds
    std::vector<double> period_cpu;        // CPU time of the audio thread per period's work (excludes
                                           // preemption; includes stolen vCPU time on some VM guests)
    std::vector<double> period_sys;        // ... of which in the kernel (getrusage RUSAGE_THREAD)
    std::vector<uint32_t> period_faults;   // page faults (minor + major) of the audio thread per period
    // Main output of each plugin in `record` (same order): channels x (blocks * block), row-major.
    std::vector<std::vector<float>> recorded;
    std::vector<uint32_t> recorded_channels;
};

// Input signal for every plugin's audio inputs: `channels` x `frames` row-major, looped;
// input channel c reads row c % channels. Empty (data == nullptr): white noise.
struct PacedInput {
    const float* data = nullptr;
    uint32_t channels = 0;
    uint64_t frames = 0;
};

// Processes `hosts` (all active, same sample rate) in sequence once per period of
// `block` frames for `seconds` of audio, paced at wall-clock rate on one audio thread.
// Inputs get `input` or else deterministic white noise of amplitude `noise_level`; out
// events are counted and dropped. The main outputs of the plugins whose indices are in
// `record` are kept (outside the timed work). Must be called on the hosts' main thread.
PacedResult paced_run(const std::vector<ClapHost*>& hosts, double seconds, uint32_t block, bool rt_priority,
                      float noise_level, const PacedInput& input = {}, const std::vector<size_t>& record = {});

}  // namespace bm
