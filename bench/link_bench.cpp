// Round trip of one hop through BackendLink as the audio thread sees it:
// request ring -> I/O thread -> ZeroMQ -> backend engine -> reply ring.
// Usage: bandmate_link_bench ENDPOINT SAMPLE_RATE HOP N  (prints one line of microseconds per hop)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <pthread.h>
#include <sched.h>
#include <thread>
#include <vector>

#include "BackendLink.hpp"

int main(int argc, char** argv)
{
    if (argc != 5) {
        std::fprintf(stderr, "usage: %s ENDPOINT RATE HOP N\n", argv[0]);
        return 2;
    }
    bandmate::LinkConfig cfg;
    cfg.endpoint = argv[1];
    cfg.engine = "reference";
    cfg.sampleRate = static_cast<uint32_t>(std::atoi(argv[2]));
    cfg.hop = static_cast<uint16_t>(std::atoi(argv[3]));
    cfg.channels = 2;
    cfg.nParams = 5;
    cfg.nOutputs = 1;
    cfg.epoch = 7;
    cfg.bridgeCpu = bandmate::locateBackend().bridgeCpu;  // as a plugin would (BANDMATE_BRIDGE_CPU)
    std::memset(cfg.identity, 0x81, sizeof(cfg.identity));
    const int n = std::atoi(argv[4]);
    // This thread plays the audio thread: a DAW runs it on a core of its own, so it goes on
    // the lowest CPU that is not the bridge core (spinning next to the threads being measured
    // would take their core on a small machine).
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0 && CPU_COUNT(&allowed) > 1) {
        for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
            if (CPU_ISSET(cpu, &allowed) && cpu != cfg.bridgeCpu) {
                cpu_set_t one;
                CPU_ZERO(&one);
                CPU_SET(cpu, &one);
                pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
                break;
            }
        }
    }
    bandmate::BackendLink link(cfg);
    const float params[5] = {0.f, 0.f, 1.f, 1.f, 1.f};
    for (int i = 0; i < 200 && !link.connected(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    for (int i = -20; i < n; ++i) {  // 20 warm-up hops
        auto slot = link.beginRequest(static_cast<uint64_t>(i + 20));
        std::memcpy(slot.values(), params, sizeof(params));
        for (int k = 0; k < 2 * cfg.hop; ++k)
            slot.channel(0)[k] = 0.001f * (k % 97);
        const auto t0 = std::chrono::steady_clock::now();
        link.commitRequest();
        link.wakeIo();
        // Spin like an audio thread polling its ring, on its own core (see above).
        while (link.peekReply().base == nullptr) {
            if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(2)) {
                std::fprintf(stderr, "timeout\n");
                return 1;
            }
        }
        const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
        link.popReply();
        if (i >= 0)
            std::printf("%.1f\n", us);
        std::this_thread::sleep_for(std::chrono::microseconds(500));  // like a hop period, roughly
    }
    return 0;
}
