// rtsan_host: a minimal CLAP host built with clang's RealtimeSanitizer
// (-fsanitize=realtime, see build.sh) that checks a plugin's audio path.
//
// Everything the audio thread does per block — filling the inputs, parameter events (one
// of a foreign namespace too), a playing transport, plugin->process(), collecting out events
// (e.g. a generator's MIDI) into fixed storage, and reset() every --reset-every blocks — runs
// inside process_block(), declared `[[clang::nonblocking]]`, as do start/stop_processing:
// RTSan then reports any allocation, lock, blocking syscall or I/O made inside them,
// including inside the (g++-built) plugin .so, and halts the process with exit code 43
// (RTSan's defaults: halt_on_error=1, exitcode=43).
//
// The host is driven line by line on stdin, so that a driver (tests/test_rtsan.py)
// can stop or kill the backend between phases:
//   warmup TIMEOUT_S SETTLE_S   process paced blocks until the plugin's "Backend
//                               connected" output is 1, then SETTLE_S more seconds
//   run NAME BLOCKS [SPEED]     process BLOCKS blocks paced at SPEED x real time
//   quit                        stop_processing (also checked), deactivate, exit 0
// Each command answers one JSON line on stdout. Deterministic mode is forced off
// (the "Deterministic" parameter is set to 0; BANDMATE_DETERMINISTIC must be unset).
//
// Usage: rtsan_host PLUGIN.clap [--rate 48000] [--block 256] [--reset-every BLOCKS]
//                               [--param NAME=VALUE]...
//        rtsan_host --canary CANARY.so   (negative control: a g++-built .so mallocs
//                                         inside the nonblocking scope; must be reported)
#include <clap/entry.h>
#include <clap/ext/audio-ports.h>
#include <clap/ext/latency.h>
#include <clap/ext/params.h>
#include <clap/ext/thread-check.h>
#include <clap/host.h>
#include <clap/plugin-factory.h>
#include <clap/plugin.h>

#include <dlfcn.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void fail(const std::string& what) {
    std::fprintf(stderr, "rtsan_host: %s\n", what.c_str());
    std::exit(2);
}

// ------------------------------------------------------------------ host side of CLAP

std::atomic<pthread_t> g_main{}, g_audio{};

bool is_main_thread(const clap_host_t*) { return pthread_equal(pthread_self(), g_main.load()) != 0; }
bool is_audio_thread(const clap_host_t*) { return pthread_equal(pthread_self(), g_audio.load()) != 0; }
const clap_host_thread_check_t kThreadCheck{is_main_thread, is_audio_thread};
const clap_host_latency_t kLatency{[](const clap_host_t*) {}};
const clap_host_params_t kParams{[](const clap_host_t*, clap_param_rescan_flags) {},
                                 [](const clap_host_t*, clap_id, clap_param_clear_flags) {},
                                 [](const clap_host_t*) {}};

const void* get_extension(const clap_host_t*, const char* id) {
    if (std::strcmp(id, CLAP_EXT_THREAD_CHECK) == 0) return &kThreadCheck;
    if (std::strcmp(id, CLAP_EXT_LATENCY) == 0) return &kLatency;
    if (std::strcmp(id, CLAP_EXT_PARAMS) == 0) return &kParams;
    return nullptr;
}

// Fixed-capacity event lists: no allocation on the audio thread.
struct InEvents {
    clap_event_param_value_t ev[4];
    uint32_t count = 0;
    clap_input_events_t list{this, [](const clap_input_events_t* l) { return static_cast<const InEvents*>(l->ctx)->count; },
                             [](const clap_input_events_t* l, uint32_t i) -> const clap_event_header_t* {
                                 auto* s = static_cast<const InEvents*>(l->ctx);
                                 return i < s->count ? &s->ev[i].header : nullptr;
                             }};
};
struct OutEvents {
    static constexpr uint32_t kMax = 1024, kBytes = 64 * 1024;
    alignas(8) uint8_t arena[kBytes];
    uint32_t offsets[kMax];
    uint32_t count = 0, used = 0;
    uint64_t dropped = 0, total = 0, midi = 0;  // totals since start
    clap_output_events_t list{this, [](const clap_output_events_t* l, const clap_event_header_t* e) {
                                  auto* s = static_cast<OutEvents*>(l->ctx);
                                  const uint32_t at = (s->used + 7u) & ~7u;
                                  if (e == nullptr || e->size < sizeof(clap_event_header_t) || s->count >= kMax ||
                                      at + e->size > kBytes) {
                                      ++s->dropped;
                                      return false;
                                  }
                                  std::memcpy(s->arena + at, e, e->size);
                                  if (e->type == CLAP_EVENT_MIDI || e->type == CLAP_EVENT_NOTE_ON ||
                                      e->type == CLAP_EVENT_NOTE_OFF || e->type == CLAP_EVENT_MIDI_SYSEX)
                                      ++s->midi;
                                  s->offsets[s->count++] = at;
                                  s->used = at + e->size;
                                  ++s->total;
                                  return true;
                              }};
    void clear() { count = used = 0; }
};

struct Block {
    const clap_plugin_t* plugin = nullptr;
    uint32_t frames = 0;
    double rate = 48000;
    std::vector<float> input;  // 2 x input_len, looped; input channel c reads row c % 2
    uint32_t input_len = 0, input_pos = 0;
    // Audio ports as the plugin declares them; every channel has `frames` of storage.
    std::vector<std::vector<float>> in_store, out_store;
    std::vector<std::vector<float*>> in_ptrs, out_ptrs;
    std::vector<clap_audio_buffer_t> ins, outs;
    InEvents in_events;
    OutEvents out_events;
    clap_event_transport_t transport{};  // playing, 120 bpm, 4/4, advanced every block
    int64_t steady = 0;
    uint64_t n = 0;
    uint64_t reset_every = 0;  // plugin->reset() every that many blocks (0: never)
    clap_id poke_param = CLAP_INVALID_ID;  // an input param re-sent at its current value now and then
    double poke_value = 0;
    clap_process_status last_status = CLAP_PROCESS_CONTINUE;
};

// The whole per-block audio-thread work. RTSan checks everything reached from here.
void process_block(Block& b) [[clang::nonblocking]] {
    for (auto& port : b.in_ptrs)
        for (size_t c = 0; c < port.size(); ++c) {
            uint32_t pos = b.input_pos, done = 0;
            const float* row = b.input.data() + (c % 2) * b.input_len;
            while (done < b.frames) {
                const uint32_t n = std::min(b.frames - done, b.input_len - pos);
                std::memcpy(port[c] + done, row + pos, n * sizeof(float));
                done += n;
                pos = (pos + n) % b.input_len;
            }
        }
    b.input_pos = uint32_t((b.input_pos + b.frames) % b.input_len);
    if (b.reset_every != 0 && b.n % b.reset_every == b.reset_every - 1)
        b.plugin->reset(b.plugin);  // [audio-thread]: must be realtime-safe as well
    b.in_events.count = 0;
    if (b.poke_param != CLAP_INVALID_ID && b.n % 97 == 0) {  // parameter events in process()
        for (uint16_t space : {uint16_t(CLAP_CORE_EVENT_SPACE_ID), uint16_t(7)}) {  // and a foreign one
            clap_event_param_value_t& e = b.in_events.ev[b.in_events.count++];
            e = clap_event_param_value_t{};
            e.header = {sizeof(e), b.frames / 2, space, CLAP_EVENT_PARAM_VALUE, 0};
            e.param_id = b.poke_param;
            e.note_id = -1;
            e.port_index = e.channel = e.key = -1;
            e.value = b.poke_value;
        }
    }
    b.out_events.clear();
    // Transport: 120 bpm, 4/4, playing from the start (generators follow it).
    const double seconds = double(b.steady) / b.rate, beats = seconds * 2.0;
    auto& t = b.transport;
    t.header = {sizeof(t), 0, CLAP_CORE_EVENT_SPACE_ID, CLAP_EVENT_TRANSPORT, 0};
    t.flags = CLAP_TRANSPORT_HAS_TEMPO | CLAP_TRANSPORT_HAS_BEATS_TIMELINE | CLAP_TRANSPORT_HAS_SECONDS_TIMELINE |
              CLAP_TRANSPORT_HAS_TIME_SIGNATURE | CLAP_TRANSPORT_IS_PLAYING;
    t.song_pos_beats = std::llround(beats * double(CLAP_BEATTIME_FACTOR));
    t.song_pos_seconds = std::llround(seconds * double(CLAP_SECTIME_FACTOR));
    t.tempo = 120.0;
    t.tsig_num = t.tsig_denom = 4;
    t.bar_number = int32_t(beats / 4.0);
    t.bar_start = std::llround(double(t.bar_number) * 4.0 * double(CLAP_BEATTIME_FACTOR));
    clap_process_t proc{};
    proc.steady_time = b.steady;
    proc.frames_count = b.frames;
    proc.transport = &b.transport;
    proc.audio_inputs = b.ins.data();
    proc.audio_outputs = b.outs.data();
    proc.audio_inputs_count = uint32_t(b.ins.size());
    proc.audio_outputs_count = uint32_t(b.outs.size());
    proc.in_events = &b.in_events.list;
    proc.out_events = &b.out_events.list;
    b.last_status = b.plugin->process(b.plugin, &proc);
    b.steady += b.frames;
    ++b.n;
}

bool start_processing(const clap_plugin_t* p) [[clang::nonblocking]] { return p->start_processing(p); }
void stop_processing(const clap_plugin_t* p) [[clang::nonblocking]] { p->stop_processing(p); }

// ------------------------------------------------------------------ the audio thread

struct Phase {
    uint64_t max_blocks = 0;  // 0: until stop
    double speed = 1.0;
    // results
    uint64_t blocks = 0;
    double max_process_s = 0, seconds = 0;
    uint64_t behind = 0;      // blocks started after their paced start time had passed
    bool error = false;       // a process() call returned CLAP_PROCESS_ERROR
};

class AudioThread {
public:
    explicit AudioThread(Block& b) : b_(b), thread_([this] { main(); }) {}
    ~AudioThread() {
        {
            std::lock_guard<std::mutex> l(m_);
            quit_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }
    void start(const Phase& p) {
        std::lock_guard<std::mutex> l(m_);
        phase_ = p;
        stop_ = false;
        busy_ = true;
        cv_.notify_all();
    }
    void stop() { stop_.store(true); }
    Phase wait() {
        std::unique_lock<std::mutex> l(m_);
        cv_.wait(l, [this] { return !busy_; });
        return phase_;
    }
    bool started_ok() {
        std::unique_lock<std::mutex> l(m_);
        cv_.wait(l, [this] { return ready_; });
        return start_ok_;
    }

private:
    void main() {
        g_audio.store(pthread_self());
        const bool ok = start_processing(b_.plugin);
        {
            std::lock_guard<std::mutex> l(m_);
            ready_ = true;
            start_ok_ = ok;
        }
        cv_.notify_all();
        for (;;) {
            Phase p;
            {
                std::unique_lock<std::mutex> l(m_);
                cv_.wait(l, [this] { return busy_ || quit_; });
                if (quit_ && !busy_) break;
                p = phase_;
            }
            run(p);
            {
                std::lock_guard<std::mutex> l(m_);
                phase_ = p;
                busy_ = false;
            }
            cv_.notify_all();
        }
        if (ok) stop_processing(b_.plugin);
        g_audio.store(pthread_t{});
    }
    void run(Phase& p) {
        const auto period = std::chrono::duration_cast<Clock::duration>(
            std::chrono::duration<double>(double(b_.frames) / b_.rate / p.speed));
        const auto t0 = Clock::now();
        auto next = t0;
        while ((p.max_blocks == 0 || p.blocks < p.max_blocks) && !stop_.load()) {
            const auto start = Clock::now();
            if (start > next + period) ++p.behind;
            process_block(b_);
            const double d = std::chrono::duration<double>(Clock::now() - start).count();
            p.max_process_s = std::max(p.max_process_s, d);
            if (b_.last_status == CLAP_PROCESS_ERROR) p.error = true;
            ++p.blocks;
            next += period;
            std::this_thread::sleep_until(next);  // pacing: outside the realtime scope
        }
        p.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    }

    Block& b_;
    std::mutex m_;
    std::condition_variable cv_;
    Phase phase_;
    bool busy_ = false, quit_ = false, ready_ = false, start_ok_ = false;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

// ------------------------------------------------------------------ negative control

void call_canary(void (*fn)()) [[clang::nonblocking]] { fn(); }

int run_canary(const char* path) {
    void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) fail(std::string("dlopen: ") + dlerror());
    auto fn = reinterpret_cast<void (*)()>(dlsym(h, "bm_rtsan_canary"));
    if (!fn) fail("no bm_rtsan_canary in canary library");
    call_canary(fn);  // RTSan must halt here
    std::printf("{\"canary\": \"not reported\"}\n");
    return 0;
}

// ------------------------------------------------------------------ main

struct Plugin {
    void* lib = nullptr;
    const clap_plugin_entry_t* entry = nullptr;
    const clap_plugin_t* plugin = nullptr;
    const clap_plugin_params_t* params = nullptr;
    std::vector<std::pair<std::string, clap_param_info_t>> infos;

    clap_id find(const std::string& name) const {
        for (const auto& [n, info] : infos)
            if (n == name) return info.id;
        fail("plugin has no parameter named '" + name + "'");
    }
    double get(clap_id id) const {
        double v = 0;
        if (!params->get_value(plugin, id, &v)) fail("params.get_value failed");
        return v;
    }
    void set_inactive(clap_id id, double value) const {  // params.flush while inactive (main thread)
        InEvents in;
        in.ev[0] = clap_event_param_value_t{};
        in.ev[0].header = {sizeof(clap_event_param_value_t), 0, CLAP_CORE_EVENT_SPACE_ID, CLAP_EVENT_PARAM_VALUE, 0};
        in.ev[0].param_id = id;
        in.ev[0].note_id = -1;
        in.ev[0].port_index = in.ev[0].channel = in.ev[0].key = -1;
        in.ev[0].value = value;
        in.count = 1;
        OutEvents* out = new OutEvents;
        params->flush(plugin, &in.list, &out->list);
        delete out;
    }
};

std::string json_phase(const std::string& name, const Phase& p, uint32_t frames, double late_total, double late_delta,
                       double connected, const Block& b) {
    std::ostringstream o;
    o << "{\"phase\": \"" << name << "\", \"blocks\": " << p.blocks << ", \"frames\": " << p.blocks * frames
      << ", \"late_blocks\": " << late_delta << ", \"late_total\": " << late_total << ", \"connected\": " << connected
      << ", \"max_process_us\": " << p.max_process_s * 1e6 << ", \"seconds\": " << p.seconds
      << ", \"behind\": " << p.behind << ", \"process_error\": " << (p.error ? "true" : "false")
      << ", \"out_events_total\": " << b.out_events.total << ", \"midi_out_total\": " << b.out_events.midi
      << ", \"dropped_out_events\": " << b.out_events.dropped << "}";
    return o.str();
}

}  // namespace

int main(int argc, char** argv) {
    g_main.store(pthread_self());
    if (argc >= 3 && std::strcmp(argv[1], "--canary") == 0) return run_canary(argv[2]);
    if (argc < 2) fail("usage: rtsan_host PLUGIN.clap [--rate R] [--block N] [--param NAME=VALUE]...");
    const std::string path = argv[1];
    double rate = 48000;
    uint32_t frames = 256;
    uint64_t reset_every = 0;
    std::vector<std::pair<std::string, double>> sets;
    for (int i = 2; i < argc; ++i) {
        const std::string a = argv[i];
        if (i + 1 >= argc) fail("missing value after " + a);
        const std::string v = argv[++i];
        if (a == "--rate") rate = std::atof(v.c_str());
        else if (a == "--block") frames = uint32_t(std::atoi(v.c_str()));
        else if (a == "--reset-every") reset_every = uint64_t(std::atoll(v.c_str()));
        else if (a == "--param") {
            const auto eq = v.find('=');
            if (eq == std::string::npos) fail("--param wants NAME=VALUE");
            sets.emplace_back(v.substr(0, eq), std::atof(v.c_str() + eq + 1));
        } else fail("unknown option " + a);
    }
    if (std::getenv("BANDMATE_DETERMINISTIC") != nullptr)
        fail("BANDMATE_DETERMINISTIC is set: this host checks the realtime (non-deterministic) path");

    Plugin P;
    P.lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!P.lib) fail(std::string("dlopen: ") + dlerror());
    P.entry = static_cast<const clap_plugin_entry_t*>(dlsym(P.lib, "clap_entry"));
    if (!P.entry || !P.entry->init(path.c_str())) fail("no clap_entry or init failed");
    auto* factory = static_cast<const clap_plugin_factory_t*>(P.entry->get_factory(CLAP_PLUGIN_FACTORY_ID));
    if (!factory || factory->get_plugin_count(factory) < 1) fail("no plugin factory");
    const clap_plugin_descriptor_t* desc = factory->get_plugin_descriptor(factory, 0);

    clap_host_t host{};
    host.clap_version = CLAP_VERSION;
    host.name = "bandmate-rtsan-host";
    host.vendor = "Bandmate";
    host.url = "";
    host.version = "0.1";
    host.get_extension = get_extension;
    host.request_restart = host.request_process = host.request_callback = [](const clap_host_t*) {};
    P.plugin = factory->create_plugin(factory, &host, desc->id);
    if (!P.plugin || !P.plugin->init(P.plugin)) fail("create_plugin/init failed");
    P.params = static_cast<const clap_plugin_params_t*>(P.plugin->get_extension(P.plugin, CLAP_EXT_PARAMS));
    if (!P.params) fail("plugin has no params extension");
    for (uint32_t i = 0, n = P.params->count(P.plugin); i < n; ++i) {
        clap_param_info_t info{};
        if (P.params->get_info(P.plugin, i, &info)) P.infos.emplace_back(info.name, info);
    }
    const clap_id deterministic = P.find("Deterministic");
    const clap_id late = P.find("Late blocks");
    const clap_id connected = P.find("Backend connected");
    P.set_inactive(deterministic, 0.0);
    for (const auto& [name, value] : sets) P.set_inactive(P.find(name), value);
    if (P.get(deterministic) != 0.0) fail("could not switch Deterministic off");

    Block b;
    b.plugin = P.plugin;
    b.frames = frames;
    for (const auto& [name, info] : P.infos)  // first automatable input parameter
        if (!(info.flags & CLAP_PARAM_IS_READONLY) && info.id != deterministic) {
            b.poke_param = info.id;
            b.poke_value = P.get(info.id);
            break;
        }
    b.input_len = uint32_t(rate);  // 1 s of deterministic noise, looped
    b.input.resize(size_t(2) * b.input_len);
    uint32_t lcg = 12345;
    for (auto& x : b.input) {
        lcg = lcg * 1664525u + 1013904223u;
        x = 0.1f * (float(lcg >> 8) / float(1u << 24) * 2.f - 1.f);
    }
    b.rate = rate;
    b.reset_every = reset_every;
    auto* ports = static_cast<const clap_plugin_audio_ports_t*>(P.plugin->get_extension(P.plugin, CLAP_EXT_AUDIO_PORTS));
    for (bool input : {true, false}) {
        auto& store = input ? b.in_store : b.out_store;
        auto& ptrs = input ? b.in_ptrs : b.out_ptrs;
        auto& bufs = input ? b.ins : b.outs;
        const uint32_t count = ports ? ports->count(P.plugin, input) : 0;
        store.resize(count);
        ptrs.resize(count);
        bufs.assign(count, clap_audio_buffer_t{});
        for (uint32_t i = 0; i < count; ++i) {
            clap_audio_port_info_t info{};
            if (!ports->get(P.plugin, i, input, &info)) fail("audio_ports.get failed");
            store[i].assign(size_t(info.channel_count) * frames, 0.f);
            for (uint32_t c = 0; c < info.channel_count; ++c) ptrs[i].push_back(store[i].data() + size_t(c) * frames);
            bufs[i].data32 = ptrs[i].data();
            bufs[i].channel_count = info.channel_count;
        }
    }

    if (!P.plugin->activate(P.plugin, rate, 1, frames)) fail("activate failed");
    std::printf("{\"plugin\": \"%s\", \"rate\": %g, \"block\": %u, \"deterministic\": %g, \"audio_inputs\": %zu, "
                "\"audio_outputs\": %zu}\n", desc->id, rate, frames, P.get(deterministic), b.ins.size(), b.outs.size());
    std::fflush(stdout);

    int rc = 0;
    {
        AudioThread audio(b);
        if (!audio.started_ok()) fail("start_processing returned false");
        double late_seen = P.get(late);
        std::string line;
        while (std::getline(std::cin, line)) {
            std::istringstream in(line);
            std::string cmd;
            in >> cmd;
            if (cmd.empty()) continue;
            if (cmd == "quit") break;
            Phase p;
            std::string name = cmd;
            if (cmd == "warmup") {
                double timeout = 30, settle = 1;
                in >> timeout >> settle;
                audio.start(p);
                const auto t0 = Clock::now();
                auto since = Clock::time_point::max();
                for (;;) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(10));
                    const auto now = Clock::now();
                    if (since == Clock::time_point::max() && P.get(connected) >= 0.5) since = now;
                    if (since != Clock::time_point::max() && now - since >= std::chrono::duration<double>(settle)) break;
                    if (now - t0 >= std::chrono::duration<double>(timeout)) break;
                }
                audio.stop();
            } else if (cmd == "run") {
                in >> name >> p.max_blocks;
                if (!(in >> p.speed)) p.speed = 1.0;
                if (p.max_blocks == 0 || p.speed <= 0) fail("run wants NAME BLOCKS [SPEED>0]");
                audio.start(p);
            } else {
                fail("unknown command: " + line);
            }
            p = audio.wait();
            const double total = P.get(late);
            std::printf("%s\n", json_phase(name, p, frames, total, total - late_seen, P.get(connected), b).c_str());
            std::fflush(stdout);
            late_seen = total;
            if (p.error) rc = 1;
        }
    }  // audio thread: stop_processing (checked), joined
    P.plugin->deactivate(P.plugin);
    P.plugin->destroy(P.plugin);
    P.entry->deinit();
    dlclose(P.lib);
    return rc;
}
