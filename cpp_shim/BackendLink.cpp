#include "BackendLink.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <mutex>
#include <pthread.h>
#include <vector>

#include <zmq.hpp>

#include "BackendSpawner.hpp"
#include "WireFormat.hpp"

namespace bandmate {

namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// One ZeroMQ context per process, shared by every instance's I/O thread (a context
// per instance would add one libzmq I/O thread per plugin).
// Its libzmq I/O thread (started with the first socket) runs on the bridge core.
std::shared_ptr<zmq::context_t> sharedContext(int bridgeCpu)
{
    static std::mutex mutex;
    static std::weak_ptr<zmq::context_t> weak;
    std::lock_guard<std::mutex> lock(mutex);
    auto ctx = weak.lock();
    if (!ctx) {
        ctx = std::make_shared<zmq::context_t>(1);
        if (bridgeCpu >= 0)
            ctx->set(zmq::ctxopt::thread_affinity_cpu_add, bridgeCpu);
        weak = ctx;
    }
    return ctx;
}

// Only the first few instances' I/O threads of a process go on the bridge core: with dozens of
// instances their combined work would crowd the backend off that core (64 Reference instances:
// 99 % late hops when all were pinned, none with the bridge core off), and at that load the
// backend is kept busy anyway, which is what pinning buys for a few instances.
constexpr int kMaxPinnedLinks = 8;
std::atomic<int> pinnedLinks{0};

// Pins the calling thread to `cpu` (-1: leaves it); false if the kernel refused.
bool pinThread(int cpu)
{
    if (cpu < 0)
        return false;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    return pthread_setaffinity_np(pthread_self(), sizeof(one), &one) == 0;
}

timespec deadlineIn(double seconds)
{
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    const long long ns = ts.tv_nsec + static_cast<long long>(seconds * 1e9);
    ts.tv_sec += static_cast<time_t>(ns / 1000000000LL);
    ts.tv_nsec = static_cast<long>(ns % 1000000000LL);
    return ts;
}

}  // namespace

BackendLink::BackendLink(const LinkConfig& config) : config_(config), strings_(config.strings)
{
    const size_t requestBytes = SlotView::bytes(config.nParams, config.requestChannels(), config.hop);
    const size_t replyBytes = SlotView::bytes(config.nOutputs, config.replyChannels(), config.hop);
    requests_.reset(config.ringSlots, requestBytes);
    replies_.reset(config.ringSlots, replyBytes);
    sem_init(&requestSem_, 0, 0);
    sem_init(&replySem_, 0, 0);
    thread_ = std::thread([this] { ioMain(); });
}

BackendLink::~BackendLink()
{
    running_.store(false, std::memory_order_release);
    sem_post(&requestSem_);
    if (thread_.joinable())
        thread_.join();
    sem_destroy(&requestSem_);
    sem_destroy(&replySem_);
}

SlotView BackendLink::beginRequest(uint64_t seq)
{
    SlotView v{requests_.writeSlot(), config_.nParams, config_.requestChannels(), config_.hop};
    if (v.base != nullptr) {
        v.seq() = seq;
        v.status() = kReplyOk;
    }
    return v;
}

void BackendLink::commitRequest() { requests_.commitWrite(); }

void BackendLink::wakeIo() { sem_post(&requestSem_); }

SlotView BackendLink::peekReply()
{
    return SlotView{replies_.readSlot(), config_.nOutputs, config_.replyChannels(), config_.hop};
}

void BackendLink::popReply() { replies_.commitRead(); }

void BackendLink::setStrings(const std::string& strings)
{
    std::lock_guard<std::mutex> lock(stringsMutex_);
    strings_ = strings;
    stringsVersion_.fetch_add(1, std::memory_order_release);
}

bool BackendLink::waitReply(double seconds)
{
    if (replies_.readSlot() != nullptr)
        return true;
    const timespec deadline = deadlineIn(seconds);
    while (sem_timedwait(&replySem_, &deadline) != 0) {
        if (errno == ETIMEDOUT)
            return replies_.readSlot() != nullptr;
    }
    return true;
}

// ---------------------------------------------------------------------------------------
// I/O thread

struct BackendLink::IoState {
    std::shared_ptr<zmq::context_t> context;
    std::unique_ptr<zmq::socket_t> socket;
    std::vector<uint8_t> message;  // reused send buffer
    Clock::time_point lastHeard;
    Clock::time_point lastPing;
    Clock::time_point socketSince;
    Clock::time_point lastSpawn;
    double backoff = 0.1;
    int outstanding = 0;
};

void BackendLink::ioMain()
{
    IoState io;
    debug_ = std::getenv("BANDMATE_DEBUG") != nullptr;
    // Bridge core: pin this thread (the mask it had is restored around spawning, so a
    // backend we start may use every CPU: it picks its own bridge core, the same one).
    pthread_setname_np(pthread_self(), "bandmate-io");  // for ps/top and the bridge core tests
    cpu_set_t ownMask;
    const bool haveMask = pthread_getaffinity_np(pthread_self(), sizeof(ownMask), &ownMask) == 0;
    bool pinned = false;
    if (haveMask && config_.bridgeCpu >= 0) {
        if (pinnedLinks.fetch_add(1) < kMaxPinnedLinks && pinThread(config_.bridgeCpu))
            pinned = true;
        else
            pinnedLinks.fetch_sub(1);
    }
    io.context = sharedContext(config_.bridgeCpu);
    const wire::Header baseHeader = wire::makeHeader(wire::kProcess, 0, config_.epoch, config_.engine.c_str());
    const size_t audioFloats = size_t(config_.replyChannels()) * config_.hop;  // a reply's audio
    const size_t requestAudioFloats = size_t(config_.requestChannels()) * config_.hop;
    io.message.resize(wire::kHeaderBytes + sizeof(float) * (config_.nParams + requestAudioFloats));

    // CURVE: one client key pair per link, made on this thread (never the audio thread).
    char curvePublic[41] = {}, curveSecret[41] = {};
    const bool curve = !config_.curveServerKey.empty() && zmq_curve_keypair(curvePublic, curveSecret) == 0;
    if (!config_.curveServerKey.empty() && !curve && debug_)
        std::fprintf(stderr, "[link] CURVE requested but libzmq has no CURVE support\n");

    auto openSocket = [&] {
        io.socket = std::make_unique<zmq::socket_t>(*io.context, zmq::socket_type::dealer);
        if (curve) {
            io.socket->set(zmq::sockopt::curve_serverkey, config_.curveServerKey);
            io.socket->set(zmq::sockopt::curve_publickey, std::string(curvePublic));
            io.socket->set(zmq::sockopt::curve_secretkey, std::string(curveSecret));
        }
        io.socket->set(zmq::sockopt::linger, 0);
        io.socket->set(zmq::sockopt::routing_id, zmq::const_buffer(config_.identity, sizeof(config_.identity)));
        const int hwm = static_cast<int>(config_.ringSlots) * 2;
        io.socket->set(zmq::sockopt::sndhwm, hwm);
        io.socket->set(zmq::sockopt::rcvhwm, hwm);
        io.socket->set(zmq::sockopt::reconnect_ivl, 50);
        io.socket->connect(config_.endpoint);
        io.socketSince = Clock::now();
        io.outstanding = 0;
    };

    // Tell the audio thread that a hop will never be answered, so deterministic mode
    // stops waiting for it (the audio thread plays the fallback).
    uint32_t sentEpoch = config_.epoch;  // epoch of the latest request sent
    auto failHop = [&](uint64_t seq, uint32_t epoch) {
        uint8_t* slot = replies_.writeSlot();
        if (slot == nullptr) {
            droppedReplies_.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        SlotView v{slot, config_.nOutputs, config_.replyChannels(), config_.hop};
        v.seq() = seq;
        v.status() = kReplyFailed;
        v.epoch() = epoch;
        replies_.commitWrite();
        sem_post(&replySem_);
    };

    // The string state (CONFIGURE, PROTOCOL.md) goes out with every heartbeat (so before any
    // request on a new socket, and again to a backend that restarted: ~20 bytes per 0.5 s) and
    // whenever the main thread changes it. Epoch 0: an old backend's error reply is dropped as stale.
    uint32_t sentStringsVersion = 0;
    std::vector<uint8_t> configure;
    auto sendStrings = [&] {
        std::string payload;
        {
            std::lock_guard<std::mutex> lock(stringsMutex_);
            payload = strings_;
            sentStringsVersion = stringsVersion_.load(std::memory_order_acquire);
        }
        if (payload.empty())
            return;
        wire::Header h = baseHeader;
        h.type = wire::kConfigure;
        h.epoch = 0;
        configure.resize(sizeof(h) + payload.size());
        std::memcpy(configure.data(), &h, sizeof(h));
        std::memcpy(configure.data() + sizeof(h), payload.data(), payload.size());
        io.socket->send(zmq::const_buffer(configure.data(), configure.size()), zmq::send_flags::dontwait);
    };

    auto sendPing = [&] {
        wire::Header h = baseHeader;
        h.type = wire::kPing;
        io.socket->send(zmq::const_buffer(&h, sizeof(h)), zmq::send_flags::dontwait);
        io.lastPing = Clock::now();
        sendStrings();
    };

    auto sendRequests = [&] {
        while (uint8_t* slot = requests_.readSlot()) {
            SlotView v{slot, config_.nParams, config_.requestChannels(), config_.hop};
            wire::Header h = baseHeader;
            h.seq = v.seq();
            h.epoch = sentEpoch = v.epoch();
            h.sampleRate = config_.sampleRate;
            h.channels = config_.requestChannels();
            h.frames = config_.hop;
            h.nValues = config_.nParams;
            h.status = static_cast<uint16_t>(v.status());  // drop horizon, 0 = deterministic
            std::memcpy(io.message.data(), &h, sizeof(h));
            std::memcpy(io.message.data() + sizeof(h), v.values(),
                        sizeof(float) * (config_.nParams + requestAudioFloats));
            const uint64_t seq = v.seq();
            const uint32_t epoch = v.epoch();
            requests_.commitRead();
            auto sent = io.socket->send(zmq::const_buffer(io.message.data(), io.message.size()),
                                        zmq::send_flags::dontwait);
            if (sent)
                ++io.outstanding;
            else
                failHop(seq, epoch);
        }
    };

    auto handleMessage = [&](const zmq::message_t& msg) {
        if (msg.size() < wire::kHeaderBytes)
            return;
        wire::Header h;
        std::memcpy(&h, msg.data(), sizeof(h));
        if (h.magic != wire::kMagic || h.version != wire::kVersion)
            return;
        io.lastHeard = Clock::now();
        if (!connected_.load(std::memory_order_relaxed)) {
            connected_.store(true, std::memory_order_release);
            generation_.fetch_add(1, std::memory_order_acq_rel);
            if (debug_) std::fprintf(stderr, "[link] connected\n");
            io.backoff = 0.1;  // next spawn attempt may come right away
        }
        if (h.type == wire::kPong)
            return;
        if (h.epoch != sentEpoch)
            return;  // a reply from before the latest activation or reset: stale
        io.outstanding = std::max(0, io.outstanding - 1);
        const size_t expected = wire::kHeaderBytes + sizeof(float) * (size_t(config_.nOutputs) + audioFloats);
        const bool ok = h.type == wire::kReply && h.channels == config_.replyChannels() && h.frames == config_.hop &&
                        h.nValues == config_.nOutputs && msg.size() == expected;
        if (!ok) {
            failHop(h.seq, h.epoch);
            return;
        }
        uint8_t* slot = replies_.writeSlot();
        if (slot == nullptr) {  // the audio thread is not consuming (e.g. host stopped calling run)
            droppedReplies_.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        SlotView v{slot, config_.nOutputs, config_.replyChannels(), config_.hop};
        v.seq() = h.seq;
        v.status() = kReplyOk;
        v.epoch() = h.epoch;
        std::memcpy(v.values(), static_cast<const uint8_t*>(msg.data()) + wire::kHeaderBytes,
                    sizeof(float) * (size_t(config_.nOutputs) + audioFloats));
        replies_.commitWrite();
        sem_post(&replySem_);
    };

    openSocket();
    io.lastHeard = Clock::now() - std::chrono::hours(1);
    io.lastSpawn = Clock::now() - std::chrono::hours(1);
    sendPing();

    const double hb = config_.heartbeatSeconds;
    while (running_.load(std::memory_order_acquire)) {
        if (io.outstanding == 0 && requests_.readSlot() == nullptr) {
            // Idle: sleep until a hop is posted or the next heartbeat is due.
            const double untilPing = std::max(0.001, hb - secondsSince(io.lastPing));
            const timespec deadline = deadlineIn(std::min(untilPing, 0.05));
            sem_timedwait(&requestSem_, &deadline);
        } else {
            while (sem_trywait(&requestSem_) == 0) {
            }
        }
        if (!running_.load(std::memory_order_acquire))
            break;
        if (stringsVersion_.load(std::memory_order_acquire) != sentStringsVersion)
            sendStrings();
        sendRequests();

        // Wait briefly for replies while requests are in flight: this is what makes the
        // round trip short. New hops posted meanwhile wait at most this long.
        zmq::pollitem_t item{static_cast<void*>(*io.socket), 0, ZMQ_POLLIN, 0};
        zmq::poll(&item, 1, std::chrono::milliseconds(io.outstanding > 0 ? 1 : 0));
        zmq::message_t msg;
        while (io.socket->recv(msg, zmq::recv_flags::dontwait))
            handleMessage(msg);

        if (secondsSince(io.lastPing) >= hb)
            sendPing();

        // Liveness: silent for `liveness` heartbeats -> gone. Recreate the socket (drops
        // whatever was queued for the dead peer) with doubling back-off, and spawn a
        // backend if none answers.
        const double silent = secondsSince(io.lastHeard);
        if (connected_.load(std::memory_order_relaxed) && silent > hb * config_.liveness) {
            connected_.store(false, std::memory_order_release);
            if (debug_) std::fprintf(stderr, "[link] lost after %.2fs silence\n", silent);
            openSocket();
            sendPing();
        } else if (!connected_.load(std::memory_order_relaxed)) {
            // Nothing answers: spawn a backend (lock-guarded, so one instance of many
            // does it), retrying with doubling back-off. libzmq keeps reconnecting the
            // socket by itself; hops queued meanwhile reach the new backend.
            if (!config_.spawnCommand.empty() && secondsSince(io.socketSince) > std::min(0.2, hb) &&
                secondsSince(io.lastSpawn) > io.backoff) {
                if (pinned)
                    pthread_setaffinity_np(pthread_self(), sizeof(ownMask), &ownMask);
                const bool spawned = spawnBackend(config_.spawnCommand, config_.endpoint, config_.runtimeDir);
                if (pinned)
                    pinThread(config_.bridgeCpu);
                if (debug_) std::fprintf(stderr, "[link] spawn -> %d\n", int(spawned));
                if (spawned) {
                    io.lastSpawn = Clock::now();
                    io.backoff = std::min(std::max(io.backoff * 2.0, 2.0), 16.0);
                }
            }
        }
        if (io.outstanding > 0 && silent > hb * config_.liveness)
            io.outstanding = 0;  // whatever was in flight is lost
    }
    io.socket.reset();
    if (pinned)
        pinnedLinks.fetch_sub(1);
}

}  // namespace bandmate
