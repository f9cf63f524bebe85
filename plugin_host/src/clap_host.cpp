// ClapHost: instance lifecycle, host callbacks and extensions, params, state.
// Processing lives in process.cpp, the paced runner in paced.cpp.
#include "clap_host.hpp"

#include <algorithm>
#include <cstring>
#include <exception>
#include <stdexcept>

namespace bm {

const char* phase_name(Phase p) {
    switch (p) {
        case Phase::Idle: return "idle";
        case Phase::Init: return "init";
        case Phase::Activate: return "activate";
        case Phase::Active: return "active";
        case Phase::StartProcessing: return "start_processing";
        case Phase::Process: return "process";
        case Phase::StopProcessing: return "stop_processing";
        case Phase::Deactivate: return "deactivate";
        case Phase::Reset: return "reset";
        case Phase::Flush: return "flush";
        case Phase::StateSave: return "state_save";
        case Phase::StateLoad: return "state_load";
        case Phase::MainCallback: return "on_main_thread";
        case Phase::Destroy: return "destroy";
    }
    return "?";
}

namespace {
ClapHost* self(const clap_host_t* h) { return static_cast<ClapHost*>(h->host_data); }

// Sets the phase for the duration of a plugin call and restores the previous one.
struct PhaseScope {
    std::atomic<Phase>& ref;
    Phase prev;
    PhaseScope(std::atomic<Phase>& r, Phase p) : ref(r), prev(r.exchange(p)) {}
    ~PhaseScope() { ref.store(prev); }
};

const std::map<std::string, std::string> kExtNames = {
    {"latency", CLAP_EXT_LATENCY},         {"params", CLAP_EXT_PARAMS},
    {"state", CLAP_EXT_STATE},             {"thread-check", CLAP_EXT_THREAD_CHECK},
    {"log", "clap.log"},                   {"audio-ports", CLAP_EXT_AUDIO_PORTS},
    {"note-ports", CLAP_EXT_NOTE_PORTS},
};
}  // namespace

// Host extension vtables; each callback records itself and checks its thread rule.
struct HostExt {
    static void latency_changed(const clap_host_t* h) {
        auto* s = self(h);
        s->record("latency.changed");
        s->check_main("latency.changed");
        if (s->active_ && s->phase_.load() != Phase::Activate)
            s->violation("latency.changed while active outside activate(); must request_restart()");
    }
    static void params_rescan(const clap_host_t* h, clap_param_rescan_flags) {
        self(h)->record("params.rescan");
        self(h)->check_main("params.rescan");
    }
    static void params_clear(const clap_host_t* h, clap_id, clap_param_clear_flags) {
        self(h)->record("params.clear");
        self(h)->check_main("params.clear");
    }
    static void params_request_flush(const clap_host_t* h) {
        auto* s = self(h);
        s->record("params.request_flush");
        if (s->thread_name() == "audio")
            s->violation("params.request_flush called on the audio thread");
    }
    static void state_mark_dirty(const clap_host_t* h) {
        self(h)->record("state.mark_dirty");
        self(h)->check_main("state.mark_dirty");
    }
    static bool is_main_thread(const clap_host_t* h) {
        return std::this_thread::get_id() == self(h)->main_tid_;
    }
    static bool is_audio_thread(const clap_host_t* h) {
        return std::this_thread::get_id() == self(h)->audio_tid_.load();
    }
    static void log(const clap_host_t* h, int32_t severity, const char* msg) {
        auto* s = self(h);
        {
            std::lock_guard<std::mutex> lock(s->rec_mutex_);
            s->logs_.push_back({severity, msg ? msg : "", s->thread_name()});
        }
        if (severity == kLogHostMisbehaving)
            s->violation(std::string("plugin says host misbehaves: ") + (msg ? msg : ""));
        if (severity == kLogPluginMisbehaving)
            s->violation(std::string("plugin misbehaving: ") + (msg ? msg : ""));
    }
    static bool audio_ports_flag_supported(const clap_host_t* h, uint32_t) {
        self(h)->check_main("audio_ports.is_rescan_flag_supported");
        return true;
    }
    static void audio_ports_rescan(const clap_host_t* h, uint32_t flags) {
        auto* s = self(h);
        s->record("audio_ports.rescan");
        s->check_main("audio_ports.rescan");
        if (s->active_ && (flags & ~uint32_t(CLAP_AUDIO_PORTS_RESCAN_NAMES)))
            s->violation("audio_ports.rescan with non-name flags while active");
        if (!s->active_)
            s->scan_ports();
    }
    static uint32_t note_dialects(const clap_host_t* h) {
        self(h)->check_main("note_ports.supported_dialects");
        return CLAP_NOTE_DIALECT_CLAP | CLAP_NOTE_DIALECT_MIDI;
    }
    static void note_ports_rescan(const clap_host_t* h, uint32_t) {
        auto* s = self(h);
        s->record("note_ports.rescan");
        s->check_main("note_ports.rescan");
        if (!s->active_)
            s->scan_ports();
    }

    static constexpr clap_host_latency_t latency{latency_changed};
    static constexpr clap_host_params_t params{params_rescan, params_clear, params_request_flush};
    static constexpr clap_host_state_t state{state_mark_dirty};
    static constexpr clap_host_thread_check_t thread_check{is_main_thread, is_audio_thread};
    static constexpr clap_host_log_t log_ext{log};
    static constexpr clap_host_audio_ports_t audio_ports{audio_ports_flag_supported, audio_ports_rescan};
    static constexpr clap_host_note_ports_t note_ports{note_dialects, note_ports_rescan};
};

const void* ClapHost::cb_get_extension(const clap_host_t* h, const char* id) {
    auto* s = self(h);
    const std::string ext = id ? id : "";
    {
        std::lock_guard<std::mutex> lock(s->rec_mutex_);
        s->ext_queries_.push_back(ext);
    }
    if (!s->enabled_.count(ext))
        return nullptr;
    if (ext == CLAP_EXT_LATENCY) return &HostExt::latency;
    if (ext == CLAP_EXT_PARAMS) return &HostExt::params;
    if (ext == CLAP_EXT_STATE) return &HostExt::state;
    if (ext == CLAP_EXT_THREAD_CHECK) return &HostExt::thread_check;
    if (ext == "clap.log") return &HostExt::log_ext;
    if (ext == CLAP_EXT_AUDIO_PORTS) return &HostExt::audio_ports;
    if (ext == CLAP_EXT_NOTE_PORTS) return &HostExt::note_ports;
    return nullptr;
}
void ClapHost::cb_request_restart(const clap_host_t* h) {
    self(h)->record("request_restart");
    self(h)->restart_requested_ = true;
}
void ClapHost::cb_request_process(const clap_host_t* h) { self(h)->record("request_process"); }
void ClapHost::cb_request_callback(const clap_host_t* h) {
    self(h)->record("request_callback");
    self(h)->callback_requested_ = true;
}

// ---------------------------------------------------------------- recording

std::string ClapHost::thread_name() const {
    const auto me = std::this_thread::get_id();
    if (me == main_tid_) return "main";
    if (me == audio_tid_.load()) return "audio";
    return "other";
}
void ClapHost::record(const char* name) {
    std::lock_guard<std::mutex> lock(rec_mutex_);
    calls_.push_back({name, thread_name(), phase_name(phase_.load())});
}
void ClapHost::violation(const std::string& what) {
    const std::string msg = what + " [thread=" + thread_name() + ", phase=" + phase_name(phase_.load()) + "]";
    std::lock_guard<std::mutex> lock(rec_mutex_);
    violations_.push_back(msg);
}
void ClapHost::check_main(const char* name) {
    if (std::this_thread::get_id() != main_tid_)
        violation(std::string(name) + " must be called on the main thread");
}
void ClapHost::require_main(const char* what) const {
    if (std::this_thread::get_id() != main_tid_)
        throw std::logic_error(std::string(what) + ": must be called from the plugin's main thread "
                               "(the thread that created it)");
}
std::vector<HostCall> ClapHost::calls() const {
    std::lock_guard<std::mutex> lock(rec_mutex_);
    return calls_;
}
std::vector<std::string> ClapHost::violations() const {
    std::lock_guard<std::mutex> lock(rec_mutex_);
    return violations_;
}
std::vector<LogEntry> ClapHost::logs() const {
    std::lock_guard<std::mutex> lock(rec_mutex_);
    return logs_;
}
std::vector<std::string> ClapHost::extension_queries() const {
    std::lock_guard<std::mutex> lock(rec_mutex_);
    return ext_queries_;
}

// ---------------------------------------------------------------- lifecycle

void on_audio_thread(const std::vector<ClapHost*>& hosts, const std::function<void()>& fn) {
    std::exception_ptr err;
    std::thread t([&] {
        for (auto* h : hosts) h->set_audio_thread(std::this_thread::get_id());
        try {
            fn();
        } catch (...) {
            err = std::current_exception();
        }
        for (auto* h : hosts) h->set_audio_thread(std::thread::id());
    });
    t.join();
    if (err) std::rethrow_exception(err);
}


ClapHost::ClapHost(const std::string& path, const std::string& plugin_id, const std::vector<std::string>& extensions)
    : main_tid_(std::this_thread::get_id()) {
    for (const auto& e : extensions) {
        auto it = kExtNames.find(e);
        if (it == kExtNames.end()) throw std::invalid_argument("unknown host extension: " + e);
        enabled_.insert(it->second);
    }
    host_.clap_version = CLAP_VERSION;
    host_.host_data = this;
    host_.name = "bandmate-plugin-host";
    host_.vendor = "Bandmate";
    host_.url = "";
    host_.version = "0.1";
    host_.get_extension = cb_get_extension;
    host_.request_restart = cb_request_restart;
    host_.request_process = cb_request_process;
    host_.request_callback = cb_request_callback;

    module_ = ClapModule::open(path);
    const auto* d = module_->find(plugin_id);
    if (!d) throw std::invalid_argument("no plugin with id '" + plugin_id + "' in " + path);
    desc_ = describe(d);
    plugin_ = module_->factory()->create_plugin(module_->factory(), &host_, d->id);
    if (!plugin_) throw std::runtime_error("create_plugin returned null for " + desc_.id);
    bool ok;
    {
        PhaseScope ps(phase_, Phase::Init);
        ok = plugin_->init(plugin_);
    }
    if (!ok) {
        plugin_->destroy(plugin_);
        throw std::runtime_error("plugin init() failed for " + desc_.id);
    }
    auto ext = [this](const char* id) { return plugin_->get_extension(plugin_, id); };
    params_ = static_cast<const clap_plugin_params_t*>(ext(CLAP_EXT_PARAMS));
    latency_ = static_cast<const clap_plugin_latency_t*>(ext(CLAP_EXT_LATENCY));
    state_ = static_cast<const clap_plugin_state_t*>(ext(CLAP_EXT_STATE));
    audio_ports_ = static_cast<const clap_plugin_audio_ports_t*>(ext(CLAP_EXT_AUDIO_PORTS));
    note_ports_ = static_cast<const clap_plugin_note_ports_t*>(ext(CLAP_EXT_NOTE_PORTS));
    scan_ports();
    params();  // caches cookies
}

ClapHost::~ClapHost() {
    try {
        if (active_) deactivate();
    } catch (...) {
    }
    PhaseScope ps(phase_, Phase::Destroy);
    plugin_->destroy(plugin_);
}

bool ClapHost::probe_create(const std::string& path, const std::string& plugin_id) {
    auto mod = ClapModule::open(path);
    clap_host_t h{};
    h.clap_version = CLAP_VERSION;
    h.name = "bandmate-probe";
    h.vendor = h.url = h.version = "";
    h.get_extension = [](const clap_host_t*, const char*) -> const void* { return nullptr; };
    h.request_restart = h.request_process = h.request_callback = [](const clap_host_t*) {};
    const auto* p = mod->factory()->create_plugin(mod->factory(), &h, plugin_id.c_str());
    if (!p) return false;
    p->destroy(p);
    return true;
}

bool ClapHost::has_plugin_extension(const std::string& name) const {
    auto it = kExtNames.find(name);
    const std::string id = it == kExtNames.end() ? name : it->second;
    return plugin_->get_extension(plugin_, id.c_str()) != nullptr;
}

void ClapHost::scan_ports() {
    audio_in_.clear(); audio_out_.clear(); note_in_.clear(); note_out_.clear();
    for (bool input : {true, false}) {
        if (audio_ports_) {
            const uint32_t n = audio_ports_->count(plugin_, input);
            for (uint32_t i = 0; i < n; ++i) {
                clap_audio_port_info_t info{};
                if (!audio_ports_->get(plugin_, i, input, &info)) continue;
                (input ? audio_in_ : audio_out_).push_back({info.id, info.flags, info.channel_count,
                    info.in_place_pair, info.name, info.port_type ? info.port_type : ""});
            }
        }
        if (note_ports_) {
            const uint32_t n = note_ports_->count(plugin_, input);
            for (uint32_t i = 0; i < n; ++i) {
                clap_note_port_info_t info{};
                if (!note_ports_->get(plugin_, i, input, &info)) continue;
                (input ? note_in_ : note_out_).push_back({info.id, info.supported_dialects,
                                                          info.preferred_dialect, info.name});
            }
        }
    }
}
std::vector<AudioPort> ClapHost::audio_ports(bool input) const { return input ? audio_in_ : audio_out_; }
std::vector<NotePort> ClapHost::note_ports(bool input) const { return input ? note_in_ : note_out_; }

bool ClapHost::activate(double sample_rate, uint32_t min_frames, uint32_t max_frames) {
    require_main("activate");
    if (active_) throw std::logic_error("activate: plugin is already active");
    if (min_frames < 1 || max_frames < min_frames) throw std::invalid_argument("activate: bad frame bounds");
    scan_ports();  // ports may only change while inactive
    bool ok;
    {
        PhaseScope ps(phase_, Phase::Activate);
        active_ = true;  // so callbacks made from inside activate() see an activating plugin
        ok = plugin_->activate(plugin_, sample_rate, min_frames, max_frames);
        active_ = ok;
    }
    if (!ok) return false;
    phase_ = Phase::Active;
    sample_rate_ = sample_rate;
    min_frames_ = min_frames;
    max_frames_ = max_frames;
    steady_time_ = 0;
    return true;
}

void ClapHost::deactivate() {
    require_main("deactivate");
    if (!active_) return;
    if (processing_) {
        run_audio([this] {
            PhaseScope ps(phase_, Phase::StopProcessing);
            plugin_->stop_processing(plugin_);
        });
        processing_ = false;
    }
    {
        PhaseScope ps(phase_, Phase::Deactivate);
        plugin_->deactivate(plugin_);
    }
    active_ = false;
    phase_ = Phase::Idle;
}

void ClapHost::reset() {
    require_main("reset");
    if (!active_) throw std::logic_error("reset: plugin is not active");
    run_audio([this] {
        PhaseScope ps(phase_, Phase::Reset);
        plugin_->reset(plugin_);
    });
}

uint32_t ClapHost::latency() {
    require_main("latency");
    return latency_ ? latency_->get(plugin_) : 0;
}

std::vector<std::string> ClapHost::idle(bool restart) {
    require_main("idle");
    std::vector<std::string> done;
    if (callback_requested_.exchange(false)) {
        PhaseScope ps(phase_, Phase::MainCallback);
        plugin_->on_main_thread(plugin_);
        done.emplace_back("on_main_thread");
    }
    if (restart && restart_requested_.exchange(false) && active_) {
        const double sr = sample_rate_;
        const uint32_t lo = min_frames_, hi = max_frames_;
        deactivate();
        if (!activate(sr, lo, hi)) throw std::runtime_error("re-activation after request_restart failed");
        done.emplace_back("restart");
    }
    return done;
}

// ---------------------------------------------------------------- params

std::vector<ParamInfo> ClapHost::params() {
    require_main("params");
    std::vector<ParamInfo> out;
    if (!params_) return out;
    const uint32_t n = params_->count(plugin_);
    cookies_.clear();
    for (uint32_t i = 0; i < n; ++i) {
        clap_param_info_t info{};
        if (!params_->get_info(plugin_, i, &info)) continue;
        out.push_back({info.id, info.flags, info.name, info.module, info.min_value, info.max_value,
                       info.default_value, info.cookie});
        cookies_[info.id] = info.cookie;
    }
    return out;
}

bool ClapHost::get_param(uint32_t id, double* value) {
    require_main("get_param");
    return params_ && params_->get_value(plugin_, id, value);
}

bool ClapHost::value_to_text(uint32_t id, double value, std::string* text) {
    require_main("value_to_text");
    char buf[CLAP_NAME_SIZE] = {0};
    if (!params_ || !params_->value_to_text(plugin_, id, value, buf, sizeof(buf))) return false;
    buf[sizeof(buf) - 1] = 0;
    *text = buf;
    return true;
}

bool ClapHost::text_to_value(uint32_t id, const std::string& text, double* value) {
    require_main("text_to_value");
    return params_ && params_->text_to_value(plugin_, id, text.c_str(), value);
}

void ClapHost::queue_param(uint32_t id, double value, int64_t sample_offset, uint16_t space_id) {
    require_main("set_param");
    if (sample_offset < 0) throw std::invalid_argument("sample_offset must be >= 0");
    clap_event_param_value_t ev{};
    ev.header = {sizeof(ev), 0, space_id, CLAP_EVENT_PARAM_VALUE, 0};
    ev.param_id = id;
    auto it = cookies_.find(id);
    ev.cookie = it == cookies_.end() ? nullptr : it->second;
    ev.note_id = -1;
    ev.port_index = ev.channel = ev.key = -1;
    ev.value = value;
    PendingEvent p{sample_offset, std::vector<uint8_t>(sizeof(ev)), {}};
    std::memcpy(p.bytes.data(), &ev, sizeof(ev));
    pending_.push_back(std::move(p));
}

void ClapHost::flush_params() {
    require_main("flush_params");
    if (!params_) return;
    EventList in, out;
    out.on_push = [this](const clap_event_header_t* ev) { return on_out_event(ev); };
    std::stable_sort(pending_.begin(), pending_.end(),
                     [](const PendingEvent& a, const PendingEvent& b) { return a.time < b.time; });
    std::vector<PendingEvent> keep;  // only parameter events go through flush; notes wait for process()
    for (auto& p : pending_) {
        auto* h = reinterpret_cast<clap_event_header_t*>(p.bytes.data());
        if (h->type != CLAP_EVENT_PARAM_VALUE && h->type != CLAP_EVENT_PARAM_MOD) {
            keep.push_back(std::move(p));
            continue;
        }
        h->time = 0;
        in.push(h);
    }
    pending_ = std::move(keep);
    auto call = [&] {
        PhaseScope ps(phase_, Phase::Flush);
        block_frames_ = 1;
        last_out_time_ = 0;
        params_->flush(plugin_, in.input(), out.output());
    };
    if (active_) run_audio(call);  // [active ? audio-thread : main-thread]
    else call();
    collect_out_events(out, 0, nullptr);
}

// ---------------------------------------------------------------- state

namespace {
struct OStream {
    clap_ostream_t s;
    std::vector<uint8_t>* buf;
    size_t chunk;
    static int64_t write(const clap_ostream_t* st, const void* data, uint64_t size) {
        auto* o = static_cast<OStream*>(st->ctx);
        const uint64_t n = o->chunk ? std::min<uint64_t>(size, o->chunk) : size;
        const auto* p = static_cast<const uint8_t*>(data);
        o->buf->insert(o->buf->end(), p, p + n);
        return static_cast<int64_t>(n);
    }
};
struct IStream {
    clap_istream_t s;
    const std::vector<uint8_t>* buf;
    size_t pos, chunk;
    static int64_t read(const clap_istream_t* st, void* data, uint64_t size) {
        auto* i = static_cast<IStream*>(st->ctx);
        uint64_t n = std::min<uint64_t>(size, i->buf->size() - i->pos);
        if (i->chunk) n = std::min<uint64_t>(n, i->chunk);
        if (n) std::memcpy(data, i->buf->data() + i->pos, n);
        i->pos += n;
        return static_cast<int64_t>(n);
    }
};
}  // namespace

bool ClapHost::save_state(size_t chunk, std::vector<uint8_t>* out) {
    require_main("save_state");
    if (!state_) throw std::logic_error("plugin has no clap.state extension");
    out->clear();
    OStream o{{nullptr, OStream::write}, out, chunk};
    o.s.ctx = &o;
    PhaseScope ps(phase_, Phase::StateSave);
    return state_->save(plugin_, &o.s);
}

bool ClapHost::load_state(const std::vector<uint8_t>& data, size_t chunk) {
    require_main("load_state");
    if (!state_) throw std::logic_error("plugin has no clap.state extension");
    IStream i{{nullptr, IStream::read}, &data, 0, chunk};
    i.s.ctx = &i;
    PhaseScope ps(phase_, Phase::StateLoad);
    return state_->load(plugin_, &i.s);
}

}  // namespace bm
