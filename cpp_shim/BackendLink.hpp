// BackendLink: the plugin's connection to the Python backend.
//
// Two rings connect the audio thread to one I/O thread that alone owns the ZeroMQ
// DEALER socket (libzmq allocates, locks and polls, so it never runs on the audio
// thread). The audio thread only touches the rings, a few atomics and `sem_post`.
//
//   audio thread ── requests ring ──▶ I/O thread ── DEALER ──▶ backend (ROUTER)
//   audio thread ◀── replies ring ─── I/O thread ◀───────────
//
// The I/O thread heartbeats the backend (PING/PONG, Paranoid Pirate style), recreates
// the socket with back-off when the backend goes silent, and spawns the backend when
// nothing answers. Replies that do not belong to this activation are dropped here;
// the audio thread drops replies for hops it has already played.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <semaphore.h>
#include <string>
#include <thread>

#include "SpscRing.hpp"

namespace bandmate {

struct LinkConfig {
    std::string endpoint;      // e.g. ipc:///run/user/1000/bandmate/backend.sock
    std::string spawnCommand;  // empty: never spawn
    std::string runtimeDir;    // holds spawn.lock
    std::string engine;
    std::string curveServerKey;  // Z85 public key of a CURVE backend; empty: plain
    int bridgeCpu = -1;        // CPU the I/O thread runs on (chooseBridgeCpu); -1: any
    std::string strings;       // string state, "key\0value\0" pairs (CONFIGURE); empty: none
    uint8_t identity[16];      // stable per plugin instance: the backend's session key
    uint32_t epoch = 0;        // activation id (requests carry their own: see SlotView)
    uint32_t sampleRate = 48000;
    uint16_t channels = 2;     // main channels: replies carry these
    uint16_t sideChannels = 0;  // sidechain channels: requests carry them after the main ones
    uint16_t auxChannels = 0;   // aux output channels: replies carry them after the main ones
    uint16_t hop = 256;
    uint16_t nParams = 0;
    uint16_t nOutputs = 0;
    uint32_t ringSlots = 16;
    uint16_t requestChannels() const { return channels + sideChannels; }
    uint16_t replyChannels() const { return channels + auxChannels; }
    double heartbeatSeconds = 0.5;
    int liveness = 3;          // missed heartbeats before the backend counts as gone
};

// Layout of one ring slot, shared by both directions:
//   uint64 seq | uint32 status | uint32 epoch | nValues float | channels*hop float
// The epoch (activation id, renewed by a reset) is the audio thread's in a request and the
// backend's echo in a reply: the audio thread drops replies of another epoch.
struct SlotView {
    uint8_t* base;
    uint16_t nValues;
    uint16_t channels;
    uint16_t hop;

    uint64_t& seq() const { return *reinterpret_cast<uint64_t*>(base); }
    uint32_t& status() const { return *reinterpret_cast<uint32_t*>(base + 8); }
    uint32_t& epoch() const { return *reinterpret_cast<uint32_t*>(base + 12); }
    float* values() const { return reinterpret_cast<float*>(base + 16); }
    float* channel(int c) const { return values() + nValues + size_t(c) * hop; }
    static size_t bytes(uint16_t nValues, uint16_t channels, uint16_t hop)
    {
        return 16 + sizeof(float) * (size_t(nValues) + size_t(channels) * hop);
    }
};

enum ReplyStatus : uint32_t { kReplyOk = 0, kReplyFailed = 1 };

class BackendLink {
public:
    explicit BackendLink(const LinkConfig& config);  // allocates; starts the I/O thread
    ~BackendLink();                                   // stops and joins it
    BackendLink(const BackendLink&) = delete;
    BackendLink& operator=(const BackendLink&) = delete;

    // ---- audio thread (wait-free)
    // A slot for hop `seq`'s request, or an invalid view (data == nullptr) if the ring is full.
    SlotView beginRequest(uint64_t seq);
    void commitRequest();              // publishes the slot (the I/O thread sees it when woken)
    void wakeIo();                     // wakes the I/O thread (sem_post): once per host block
    SlotView peekReply();              // base == nullptr when empty
    void popReply();
    // Deterministic mode only: block until a reply may be there or the deadline passes.
    bool waitReply(double seconds);

    // ---- main thread: new string state; the I/O thread sends it (CONFIGURE), and again after
    // every reconnect. Never called from the audio thread (it locks).
    void setStrings(const std::string& strings);

    bool connected() const { return connected_.load(std::memory_order_acquire); }
    uint32_t generation() const { return generation_.load(std::memory_order_acquire); }
    uint64_t droppedReplies() const { return droppedReplies_.load(std::memory_order_relaxed); }

private:
    void ioMain();
    struct IoState;

    LinkConfig config_;
    SpscRing requests_;
    SpscRing replies_;
    sem_t requestSem_;
    sem_t replySem_;
    std::atomic<bool> running_{true};
    std::atomic<bool> connected_{false};
    std::atomic<uint32_t> generation_{0};
    std::atomic<uint64_t> droppedReplies_{0};
    std::mutex stringsMutex_;  // main thread <-> I/O thread only
    std::string strings_;
    std::atomic<uint32_t> stringsVersion_{0};
    bool debug_ = false;  // BANDMATE_DEBUG: the I/O thread logs link state changes to stderr
    std::thread thread_;
};

// Where the backend lives and how to start it (env vars, config file, defaults).
struct BackendLocation {
    std::string runtimeDir;
    std::string endpoint;
    std::string spawnCommand;
    std::string curveServerKey;  // BANDMATE_CURVE_SERVER_KEY or `curve_server_key = ` in backend.conf
    int bridgeCpu = -1;          // BANDMATE_BRIDGE_CPU or `bridge_cpu = ` (default auto): chooseBridgeCpu
};
BackendLocation locateBackend();

}  // namespace bandmate
