// CLAP entry point: DPF 1.6's CLAP wrapper, wrapped once more to fix its known bugs.
//
// DistrhoPluginMain.cpp is compiled with -Dclap_entry=dpf_inner_clap_entry, so DPF's
// entry becomes an internal symbol and this file exports the real `clap_entry`:
//   * create_plugin returns null for any plugin ID but ours (DPF ignores the ID);
//   * parameter (and all other) events from a foreign namespace are filtered out of
//     process() and params.flush() (DPF applies them);
//   * DPF gets a proxy host whose latency extension always exists: DPF calls it without
//     checking (a crash in hosts without it) and at the wrong time (deactivate, or via
//     request_restart after the first process). We report latency ourselves, once,
//     inside activate — the only place CLAP allows it to change;
//   * state is wrapped in a checksummed envelope, written and read in loops that handle
//     partial writes/reads; empty, truncated or corrupt state is rejected (DPF's save
//     loop does not advance on partial writes and its load accepts empty state);
//   * activation at an unsupported sample rate is refused cleanly;
//   * reset() reaches the shell (DPF's does nothing), which restarts its processing
//     state and the backend engine's (ShellHooks.hpp).
#include <cstdint>
#include <cstring>
#include <new>
#include <string>

#include "DistrhoPluginInfo.h"
#include "ShellHooks.hpp"
#include "clap/entry.h"
#include "clap/ext/latency.h"
#include "clap/ext/params.h"
#include "clap/ext/state.h"
#include "clap/ext/thread-check.h"
#include "clap/plugin-factory.h"

extern "C" const clap_plugin_entry_t dpf_inner_clap_entry;

namespace {

constexpr double kMinRate = 44100.0, kMaxRate = 192000.0;
constexpr uint32_t kStateMagic = 0x54534D42u;  // "BMST"
constexpr uint32_t kStateVersion = 1;
constexpr size_t kStateHeader = 16;              // magic, version, payload size, crc32
constexpr size_t kMaxState = 1u << 20;
constexpr uint32_t kFilterCapacity = 4096;

uint32_t crc32(const uint8_t* data, size_t size)
{
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < size; ++i) {
        crc ^= data[i];
        for (int k = 0; k < 8; ++k)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

// ---- events from foreign namespaces never reach DPF

struct EventFilter {
    clap_input_events_t view;
    const clap_input_events_t* source = nullptr;
    uint32_t accepted = 0;
    uint32_t index[kFilterCapacity];  // source index of each accepted event (no allocation)

    static bool accept(const clap_event_header_t* e) { return e != nullptr && e->space_id == CLAP_CORE_EVENT_SPACE_ID; }

    const clap_input_events_t* wrap(const clap_input_events_t* src)
    {
        if (src == nullptr)
            return nullptr;
        source = src;
        accepted = 0;
        const uint32_t n = src->size(src);
        for (uint32_t i = 0; i < n; ++i)
            if (accept(src->get(src, i))) {
                if (accepted < kFilterCapacity)
                    index[accepted] = i;
                ++accepted;
            }
        view.ctx = this;
        view.size = [](const clap_input_events_t* l) { return static_cast<EventFilter*>(l->ctx)->accepted; };
        view.get = [](const clap_input_events_t* l, uint32_t i) -> const clap_event_header_t* {
            auto* f = static_cast<EventFilter*>(l->ctx);
            if (i >= f->accepted)
                return nullptr;
            if (i < kFilterCapacity)
                return f->source->get(f->source, f->index[i]);
            // Beyond the index (more than 4096 events in one block): scan on.
            uint32_t seen = kFilterCapacity - 1;
            for (uint32_t k = f->index[kFilterCapacity - 1] + 1;; ++k) {
                const clap_event_header_t* e = f->source->get(f->source, k);
                if (e == nullptr)
                    return nullptr;
                if (accept(e) && ++seen == i)
                    return e;
            }
        };
        return &view;
    }
};

// ---- the host DPF sees

struct HostProxy {
    clap_host_t host;
    const clap_host_t* real = nullptr;
    const clap_host_params_t* realParams = nullptr;
    const clap_host_thread_check_t* realThreadCheck = nullptr;
    clap_host_latency_t latency;
    clap_host_params_t params;
    clap_host_thread_check_t threadCheck;

    static HostProxy* of(const clap_host_t* h) { return static_cast<HostProxy*>(h->host_data); }

    void init(const clap_host_t* r)
    {
        real = r;
        host = *r;
        host.host_data = this;
        realParams = static_cast<const clap_host_params_t*>(r->get_extension(r, CLAP_EXT_PARAMS));
        realThreadCheck = static_cast<const clap_host_thread_check_t*>(r->get_extension(r, CLAP_EXT_THREAD_CHECK));
        host.get_extension = [](const clap_host_t* h, const char* id) -> const void* {
            HostProxy* p = of(h);
            if (std::strcmp(id, CLAP_EXT_LATENCY) == 0)
                return &p->latency;
            if (std::strcmp(id, CLAP_EXT_PARAMS) == 0)
                return p->realParams ? &p->params : nullptr;
            if (std::strcmp(id, CLAP_EXT_THREAD_CHECK) == 0)
                return p->realThreadCheck ? &p->threadCheck : nullptr;
            return nullptr;  // DPF (no UI) uses nothing else
        };
        // DPF only restarts for latency changes, which we report from activate instead.
        host.request_restart = [](const clap_host_t*) {};
        host.request_process = [](const clap_host_t* h) { of(h)->real->request_process(of(h)->real); };
        host.request_callback = [](const clap_host_t* h) { of(h)->real->request_callback(of(h)->real); };
        latency.changed = [](const clap_host_t*) {};
        params.rescan = [](const clap_host_t* h, clap_param_rescan_flags f) {
            of(h)->realParams->rescan(of(h)->real, f);
        };
        params.clear = [](const clap_host_t* h, clap_id id, clap_param_clear_flags f) {
            of(h)->realParams->clear(of(h)->real, id, f);
        };
        params.request_flush = [](const clap_host_t* h) { of(h)->realParams->request_flush(of(h)->real); };
        threadCheck.is_main_thread = [](const clap_host_t* h) {
            return of(h)->realThreadCheck->is_main_thread(of(h)->real);
        };
        threadCheck.is_audio_thread = [](const clap_host_t* h) {
            return of(h)->realThreadCheck->is_audio_thread(of(h)->real);
        };
    }
};

// ---- the plugin the host sees

struct Wrapper {
    clap_plugin_t plugin;  // first member: the host's pointer is a Wrapper*
    const clap_plugin_t* inner = nullptr;
    HostProxy proxy;
    const clap_plugin_params_t* innerParams = nullptr;
    const clap_plugin_state_t* innerState = nullptr;
    const clap_plugin_latency_t* innerLatency = nullptr;
    clap_plugin_params_t params;
    clap_plugin_state_t state;
    EventFilter filter;
    uint32_t reportedLatency = 0;
    bandmate::ClapHooks* shell = nullptr;  // our BandmatePlugin inside DPF's instance

    static Wrapper* of(const clap_plugin_t* p) { return reinterpret_cast<Wrapper*>(const_cast<clap_plugin_t*>(p)); }
};

bool writeAll(const clap_ostream_t* stream, const uint8_t* data, size_t size)
{
    int zeroWrites = 0;
    while (size > 0) {
        const int64_t n = stream->write(stream, data, size);
        if (n < 0 || (n == 0 && ++zeroWrites > 16))
            return false;
        data += n;
        size -= static_cast<size_t>(n);
    }
    return true;
}

bool stateSave(const clap_plugin_t* p, const clap_ostream_t* stream)
{
    Wrapper* w = Wrapper::of(p);
    std::string payload;
    clap_ostream_t mem{&payload, [](const clap_ostream_t* s, const void* buf, uint64_t size) -> int64_t {
                           static_cast<std::string*>(s->ctx)->append(static_cast<const char*>(buf), size);
                           return static_cast<int64_t>(size);
                       }};
    if (!w->innerState->save(p, &mem) || payload.empty())
        return false;
    uint32_t header[4] = {kStateMagic, kStateVersion, static_cast<uint32_t>(payload.size()),
                          crc32(reinterpret_cast<const uint8_t*>(payload.data()), payload.size())};
    return writeAll(stream, reinterpret_cast<const uint8_t*>(header), sizeof(header)) &&
           writeAll(stream, reinterpret_cast<const uint8_t*>(payload.data()), payload.size());
}

bool stateLoad(const clap_plugin_t* p, const clap_istream_t* stream)
{
    Wrapper* w = Wrapper::of(p);
    std::string data;
    uint8_t buf[4096];
    for (;;) {  // read to the end, however the host splits the stream
        const int64_t n = stream->read(stream, buf, sizeof(buf));
        if (n < 0)
            return false;
        if (n == 0)
            break;
        data.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
        if (data.size() > kMaxState)
            return false;
    }
    if (data.size() <= kStateHeader)
        return false;  // empty or truncated
    uint32_t header[4];
    std::memcpy(header, data.data(), sizeof(header));
    const uint8_t* payload = reinterpret_cast<const uint8_t*>(data.data()) + kStateHeader;
    const size_t size = data.size() - kStateHeader;
    if (header[0] != kStateMagic || header[1] != kStateVersion || header[2] != size ||
        header[3] != crc32(payload, size) || payload[size - 1] != 0 || payload[size - 2] != 0xFE)
        return false;
    struct Cursor {
        const uint8_t* data;
        size_t left;
    } cursor{payload, size};
    clap_istream_t mem{&cursor, [](const clap_istream_t* s, void* out, uint64_t want) -> int64_t {
                           auto* c = static_cast<Cursor*>(s->ctx);
                           const size_t n = want < c->left ? static_cast<size_t>(want) : c->left;
                           std::memcpy(out, c->data, n);
                           c->data += n;
                           c->left -= n;
                           return static_cast<int64_t>(n);
                       }};
    return w->innerState->load(p, &mem);
}

const clap_plugin_t* createPlugin(const clap_plugin_factory_t* factory, const clap_host_t* host, const char* id)
{
    if (host == nullptr || id == nullptr || std::strcmp(id, DISTRHO_PLUGIN_CLAP_ID) != 0)
        return nullptr;
    Wrapper* w = new (std::nothrow) Wrapper();
    if (w == nullptr)
        return nullptr;
    w->proxy.init(host);
    w->inner = factory->create_plugin(factory, &w->proxy.host, id);
    if (w->inner == nullptr) {
        delete w;
        return nullptr;
    }
    w->shell = bandmate::takeLastCreatedPlugin();  // constructed inside create_plugin above
    if (w->shell != nullptr)
        w->shell->enableSidechain();  // DPF's CLAP wrapper delivers sidechain ports (ShellHooks.hpp)
    w->plugin = *w->inner;  // same descriptor and plugin_data: DPF's extensions work on us
    w->plugin.reset = [](const clap_plugin_t* p) {  // DPF 1.6's reset does nothing
        Wrapper* self = Wrapper::of(p);
        if (self->shell != nullptr)
            self->shell->requestReset();
        self->inner->reset(self->inner);
    };
    w->plugin.destroy = [](const clap_plugin_t* p) {
        Wrapper* self = Wrapper::of(p);
        self->inner->destroy(self->inner);
        delete self;
    };
    w->plugin.init = [](const clap_plugin_t* p) {
        Wrapper* self = Wrapper::of(p);
        if (!self->inner->init(self->inner))
            return false;
        auto ext = [&](const char* e) { return self->inner->get_extension(self->inner, e); };
        self->innerParams = static_cast<const clap_plugin_params_t*>(ext(CLAP_EXT_PARAMS));
        self->innerState = static_cast<const clap_plugin_state_t*>(ext(CLAP_EXT_STATE));
        self->innerLatency = static_cast<const clap_plugin_latency_t*>(ext(CLAP_EXT_LATENCY));
        if (self->innerParams != nullptr) {
            self->params = *self->innerParams;
            self->params.flush = [](const clap_plugin_t* p, const clap_input_events_t* in,
                                    const clap_output_events_t* out) {
                Wrapper* s = Wrapper::of(p);
                s->innerParams->flush(p, s->filter.wrap(in), out);
            };
        }
        self->state.save = stateSave;
        self->state.load = stateLoad;
        return true;
    };
    w->plugin.activate = [](const clap_plugin_t* p, double rate, uint32_t minFrames, uint32_t maxFrames) {
        Wrapper* self = Wrapper::of(p);
        if (!(rate >= kMinRate && rate <= kMaxRate) || maxFrames == 0 || minFrames > maxFrames)
            return false;
        if (!self->inner->activate(self->inner, rate, minFrames, maxFrames))
            return false;
        const uint32_t latency = self->innerLatency ? self->innerLatency->get(p) : 0;
        if (latency != self->reportedLatency) {
            self->reportedLatency = latency;
            const auto* hostLatency = static_cast<const clap_host_latency_t*>(
                self->proxy.real->get_extension(self->proxy.real, CLAP_EXT_LATENCY));
            if (hostLatency != nullptr)
                hostLatency->changed(self->proxy.real);
        }
        return true;
    };
    w->plugin.process = [](const clap_plugin_t* p, const clap_process_t* process) {
        Wrapper* self = Wrapper::of(p);
        clap_process_t filtered = *process;
        filtered.in_events = self->filter.wrap(process->in_events);
        return self->inner->process(self->inner, &filtered);
    };
    w->plugin.get_extension = [](const clap_plugin_t* p, const char* id) -> const void* {
        Wrapper* self = Wrapper::of(p);
        if (std::strcmp(id, CLAP_EXT_PARAMS) == 0)
            return self->innerParams ? &self->params : nullptr;
        if (std::strcmp(id, CLAP_EXT_STATE) == 0)
            return self->innerState ? &self->state : nullptr;
        return self->inner->get_extension(self->inner, id);
    };
    return &w->plugin;
}

const clap_plugin_factory_t* innerFactory()
{
    return static_cast<const clap_plugin_factory_t*>(dpf_inner_clap_entry.get_factory(CLAP_PLUGIN_FACTORY_ID));
}

const clap_plugin_factory_t kFactory = {
    [](const clap_plugin_factory_t*) -> uint32_t { return innerFactory()->get_plugin_count(innerFactory()); },
    [](const clap_plugin_factory_t*, uint32_t i) { return innerFactory()->get_plugin_descriptor(innerFactory(), i); },
    [](const clap_plugin_factory_t*, const clap_host_t* host, const char* id) {
        return createPlugin(innerFactory(), host, id);
    },
};

}  // namespace

extern "C" CLAP_EXPORT const clap_plugin_entry_t clap_entry = {
    CLAP_VERSION,
    [](const char* path) { return dpf_inner_clap_entry.init(path); },
    [] { dpf_inner_clap_entry.deinit(); },
    [](const char* id) -> const void* {
        return std::strcmp(id, CLAP_PLUGIN_FACTORY_ID) == 0 ? &kFactory : nullptr;
    },
};
