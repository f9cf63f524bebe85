// Paced (wall-clock) processing: behaves like a DAW audio callback. Every period of
// `block` frames, the audio thread wakes at the period start and processes each
// plugin in turn (N tracks); a period whose work ends after the period's end is an
// overrun (xrun). After an overrun the schedule is re-anchored at the end of the
// late period, as a driver restarting after an xrun would. The inputs get white noise or a
// given signal; chosen outputs can be recorded (outside the timed work) for checks.
#include "paced.hpp"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <time.h>

#include <chrono>
#include <cmath>
#include <stdexcept>

namespace bm {

PacedResult paced_run(const std::vector<ClapHost*>& hosts, double seconds, uint32_t block, bool rt_priority,
                      float noise_level, const PacedInput& input, const std::vector<size_t>& record) {
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
    if (input.data != nullptr && (input.channels == 0 || input.frames == 0))
        throw std::invalid_argument("paced_run: empty input signal");
    for (size_t i : record)
        if (i >= hosts.size()) throw std::invalid_argument("paced_run: record index out of range");
    PacedResult r;
    r.period = block / sr;
    r.blocks = uint64_t(std::ceil(seconds * sr / block));
    r.durations.assign(r.blocks * hosts.size(), 0.0);
    r.period_durations.assign(r.blocks, 0.0);
    r.wake_late.assign(r.blocks, 0.0);
    r.block_times.assign(r.blocks, 0.0);
    r.period_cpu.assign(r.blocks, 0.0);
    r.period_sys.assign(r.blocks, 0.0);
    r.period_faults.assign(r.blocks, 0);
    auto usage = [] {
        rusage u{};
        getrusage(RUSAGE_THREAD, &u);
        return u;
    };
    auto thread_cpu = [] {
        timespec ts{};
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
    };

    std::vector<ClapHost::BlockIO> io(hosts.size());
    for (size_t i = 0; i < hosts.size(); ++i) hosts[i]->make_block_io(io[i], block);
    for (size_t i : record) {
        const uint32_t ch = io[i].out_ptrs.empty() ? 0 : uint32_t(io[i].out_ptrs[0].size());
        r.recorded_channels.push_back(ch);
        r.recorded.emplace_back(size_t(ch) * r.blocks * block, 0.f);
    }
    // One block of input per channel row: the given signal (looped), else deterministic white noise.
    const uint32_t rows = input.data ? input.channels : 1;
    std::vector<float> in_block(size_t(rows) * block);
    uint64_t in_pos = 0;
    auto next_input = [&] {
        if (!input.data) return;
        for (uint32_t c = 0; c < rows; ++c)
            for (uint32_t n = 0; n < block; ++n)
                in_block[size_t(c) * block + n] = input.data[size_t(c) * input.frames + (in_pos + n) % input.frames];
        in_pos = (in_pos + block) % input.frames;
    };
    if (!input.data) {
        uint32_t lcg = 12345;
        for (auto& x : in_block) {
            lcg = lcg * 1664525u + 1013904223u;
            x = noise_level * (float(lcg >> 8) / float(1u << 24) * 2.f - 1.f);
        }
    }
    next_input();

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
            r.block_times[k] = std::chrono::duration<double>(woke.time_since_epoch()).count();
            const double cpu0 = thread_cpu();
            const rusage u0 = usage();
            auto t = woke;
            for (size_t i = 0; i < hosts.size(); ++i) {
                auto& b = io[i];
                for (auto& port : b.in_ptrs)
                    for (size_t c = 0; c < port.size(); ++c) {
                        const float* src = in_block.data() + (c % rows) * block;
                        std::copy(src, src + block, port[c]);
                    }
                b.in_events.clear();
                b.out_events.clear();
                if (hosts[i]->run_block(block, b) == CLAP_PROCESS_ERROR) ++r.process_errors;
                r.out_events += b.out_events.size();
                const auto t2 = clock::now();
                r.durations[k * hosts.size() + i] = std::chrono::duration<double>(t2 - t).count();
                t = t2;
            }
            r.period_durations[k] = std::chrono::duration<double>(t - woke).count();
            r.period_cpu[k] = thread_cpu() - cpu0;
            const rusage u1 = usage();
            r.period_sys[k] = double(u1.ru_stime.tv_sec - u0.ru_stime.tv_sec) +
                              double(u1.ru_stime.tv_usec - u0.ru_stime.tv_usec) * 1e-6;
            r.period_faults[k] = uint32_t((u1.ru_minflt - u0.ru_minflt) + (u1.ru_majflt - u0.ru_majflt));
            if (t > start + period) {
                ++r.overruns;
                anchor = t;  // next period starts now
                k0 = k + 1;
            }
            // Untimed: keep the recorded outputs and prepare the next input block.
            for (size_t j = 0; j < record.size(); ++j) {
                const auto& outs = io[record[j]].out_ptrs[0];
                const size_t total = size_t(r.blocks) * block;
                for (size_t c = 0; c < outs.size(); ++c)
                    std::copy(outs[c], outs[c] + block, r.recorded[j].data() + c * total + size_t(k) * block);
            }
            next_input();
        }
    });
    return r;
}

}  // namespace bm
