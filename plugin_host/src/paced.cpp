// Paced (wall-clock) processing: behaves like a DAW audio callback. Every period of
// `block` frames, the audio thread wakes at the period start and processes each
// plugin in turn (N tracks); a period whose work ends after the period's end is an
// overrun (xrun). After an overrun the schedule is re-anchored at the end of the
// late period, as a driver restarting after an xrun would.
#include "paced.hpp"

#include <pthread.h>
#include <sched.h>

#include <chrono>
#include <cmath>
#include <stdexcept>

namespace bm {

PacedResult paced_run(const std::vector<ClapHost*>& hosts, double seconds, uint32_t block, bool rt_priority,
                      float noise_level) {
    if (hosts.empty()) throw std::invalid_argument("paced_run: no plugins");
    if (block == 0 || seconds <= 0) throw std::invalid_argument("paced_run: bad block or duration");
    const double sr = hosts[0]->sample_rate();
    for (auto* h : hosts) {
        h->require_main("paced_run");
        if (!h->active()) throw std::logic_error("paced_run: every plugin must be active");
        if (h->sample_rate() != sr) throw std::invalid_argument("paced_run: plugins differ in sample rate");
        if (block > h->max_frames() || block < h->min_frames())
            throw std::invalid_argument("paced_run: block outside a plugin's [min_frames, max_frames]");
    }
    PacedResult r;
    r.period = block / sr;
    r.blocks = uint64_t(std::ceil(seconds * sr / block));
    r.durations.assign(r.blocks * hosts.size(), 0.0);
    r.period_durations.assign(r.blocks, 0.0);
    r.wake_late.assign(r.blocks, 0.0);

    std::vector<ClapHost::BlockIO> io(hosts.size());
    for (size_t i = 0; i < hosts.size(); ++i) hosts[i]->make_block_io(io[i], block);
    // deterministic white noise for the main inputs
    std::vector<float> noise(block);
    uint32_t lcg = 12345;
    for (auto& x : noise) {
        lcg = lcg * 1664525u + 1013904223u;
        x = noise_level * (float(lcg >> 8) / float(1u << 24) * 2.f - 1.f);
    }

    on_audio_thread(hosts, [&] {
        if (rt_priority) {
            sched_param sp{};
            sp.sched_priority = 70;
            r.rt_priority = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) == 0;
        }
        for (auto* h : hosts) h->ensure_processing();
        using clock = std::chrono::steady_clock;
        const auto period = std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(r.period));
        auto anchor = clock::now() + period;
        uint64_t k0 = 0;  // block index at the anchor
        for (uint64_t k = 0; k < r.blocks; ++k) {
            const auto start = anchor + int64_t(k - k0) * period;
            std::this_thread::sleep_until(start);
            const auto woke = clock::now();
            r.wake_late[k] = std::chrono::duration<double>(woke - start).count();
            auto t = woke;
            for (size_t i = 0; i < hosts.size(); ++i) {
                auto& b = io[i];
                for (auto& port : b.in_ptrs)
                    for (float* ch : port) std::copy(noise.begin(), noise.end(), ch);
                b.in_events.clear();
                b.out_events.clear();
                hosts[i]->run_block(block, b);
                r.out_events += b.out_events.size();
                const auto t2 = clock::now();
                r.durations[k * hosts.size() + i] = std::chrono::duration<double>(t2 - t).count();
                t = t2;
            }
            r.period_durations[k] = std::chrono::duration<double>(t - woke).count();
            if (t > start + period) {
                ++r.overruns;
                anchor = t;  // next period starts now
                k0 = k + 1;
            }
        }
    });
    return r;
}

}  // namespace bm
