// A CLAP test host for one plugin instance.
//
// Threads: the thread that constructs a ClapHost is its main thread; every
// [main-thread] plugin call must come from it (std::logic_error otherwise).
// Audio-thread calls (start/stop_processing, process, reset, params.flush while
// active) run on a host-owned std::thread spawned per call (see on_audio_thread);
// while it runs, the caller is blocked and thread-check's is_audio_thread() is true
// only on that thread. Host callbacks arriving on the wrong thread, or at the wrong
// time, are recorded in violations().
#pragma once

#include "clap_module.hpp"
#include "event_lists.hpp"

#include <clap/ext/audio-ports.h>
#include <clap/ext/latency.h>
#include <clap/ext/note-ports.h>
#include <clap/ext/params.h>
#include <clap/ext/state.h>
#include <clap/ext/thread-check.h>
#include <clap/host.h>
#include <clap/plugin.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace bm {

// "clap.log" (CLAP 1.1) is not among DPF 1.6's bundled headers; declared from the spec.
struct clap_host_log_t {
    void (*log)(const clap_host_t* host, int32_t severity, const char* msg);
};
enum { kLogHostMisbehaving = 5, kLogPluginMisbehaving = 6 };

struct HostCall {
    std::string name, thread, phase;
};
struct LogEntry {
    int severity;
    std::string message, thread;
};
struct ParamInfo {
    uint32_t id, flags;
    std::string name, module;
    double min_value, max_value, default_value;
    void* cookie;
};
struct AudioPort {
    uint32_t id, flags, channels, in_place_pair;
    std::string name, type;
};
struct NotePort {
    uint32_t id, supported_dialects, preferred_dialect;
    std::string name;
};
struct MidiMsg {
    int64_t offset;  // absolute sample offset within the process() call
    std::vector<uint8_t> data;
};
struct ParamOut {
    int64_t offset;
    uint32_t id;
    double value;
};
struct Transport {
    bool enabled = false, playing = true;
    double tempo = 120.0, position_beats = 0.0;  // position at the transport anchor
    uint16_t numerator = 4, denominator = 4;
    int64_t samples_since_anchor = 0;
    double current_beats(double sample_rate) const;
};
// Audio for the input ports after the main one (e.g. a sidechain), planar like `input`.
struct AuxInput {
    const float* data = nullptr;
    uint32_t channels = 0;
};

struct ProcessOutput {
    uint32_t channels = 0;
    std::vector<float> audio;  // channels x frames, row-major
    std::vector<uint32_t> aux_channels;   // output ports after the main one
    std::vector<std::vector<float>> aux;  // each aux_channels[k] x frames
    std::vector<MidiMsg> midi;
    std::vector<ParamOut> params;
    std::vector<int32_t> statuses;
};

enum class Phase { Idle, Init, Activate, Active, StartProcessing, Process, StopProcessing, Deactivate,
                   Reset, Flush, StateSave, StateLoad, MainCallback, Destroy };
const char* phase_name(Phase p);

class ClapHost;
// Runs fn on a freshly spawned thread that every host in `hosts` sees as its audio
// thread; rethrows fn's exception on the caller.
void on_audio_thread(const std::vector<ClapHost*>& hosts, const std::function<void()>& fn);

class ClapHost {
public:
    ClapHost(const std::string& path, const std::string& plugin_id, const std::vector<std::string>& extensions);
    ~ClapHost();
    ClapHost(const ClapHost&) = delete;
    ClapHost& operator=(const ClapHost&) = delete;

    // create_plugin() with this id: true if the factory returned an instance (destroyed at once).
    static bool probe_create(const std::string& path, const std::string& plugin_id);

    const PluginDesc& descriptor() const { return desc_; }
    bool has_plugin_extension(const std::string& name) const;

    // params
    std::vector<ParamInfo> params();
    bool get_param(uint32_t id, double* value);
    bool value_to_text(uint32_t id, double value, std::string* text);
    bool text_to_value(uint32_t id, const std::string& text, double* value);
    void queue_param(uint32_t id, double value, int64_t sample_offset, uint16_t space_id);
    size_t pending_events() const { return pending_.size(); }
    void flush_params();
    const std::map<uint32_t, double>& output_params() const { return output_params_; }

    // lifecycle
    bool activate(double sample_rate, uint32_t min_frames, uint32_t max_frames);
    void deactivate();
    void reset();
    bool active() const { return active_; }
    bool processing() const { return processing_; }
    double sample_rate() const { return sample_rate_; }
    uint32_t max_frames() const { return max_frames_; }
    uint32_t min_frames() const { return min_frames_; }
    bool has_latency() const { return latency_ != nullptr; }
    uint32_t latency();
    // Services host requests on the main thread: on_main_thread() after request_callback,
    // and (when restart) deactivate+activate after request_restart. Returns what was done.
    std::vector<std::string> idle(bool restart);

    // state
    bool save_state(size_t chunk, std::vector<uint8_t>* out);
    bool load_state(const std::vector<uint8_t>& data, size_t chunk);

    // ports
    std::vector<AudioPort> audio_ports(bool input) const;
    std::vector<NotePort> note_ports(bool input) const;

    // processing: input is in_channels x frames row-major (may be null for no audio);
    // blocks must sum to frames.
    ProcessOutput process(const float* input, uint32_t in_channels, uint32_t frames,
                          const std::vector<uint32_t>& blocks, const std::vector<MidiMsg>& midi_in,
                          const std::vector<AuxInput>& aux_in = {});
    void set_transport(const Transport& t) { transport_ = t; }
    const Transport& transport() const { return transport_; }

    // recording
    std::vector<HostCall> calls() const;
    std::vector<std::string> violations() const;
    std::vector<LogEntry> logs() const;
    std::vector<std::string> extension_queries() const;
    bool restart_requested() const { return restart_requested_; }
    bool callback_requested() const { return callback_requested_; }

    // --- used by the paced runner (paced.cpp) ---
    struct BlockIO {
        std::vector<std::vector<float>> in_data, out_data;     // per port, channels x max block
        std::vector<std::vector<float*>> in_ptrs, out_ptrs;   // per port, channel pointers
        std::vector<clap_audio_buffer_t> ins, outs;
        EventList in_events, out_events;
    };
    // Buffers for block-by-block processing with fixed per-port storage of `capacity` frames.
    void make_block_io(BlockIO& io, uint32_t capacity);
    // One plugin->process() call on the audio thread (transport, steady time, out-event checks).
    int32_t run_block(uint32_t frames, BlockIO& io);
    void ensure_processing();  // start_processing if needed (audio thread)
    void set_audio_thread(std::thread::id id) { audio_tid_.store(id); }
    void require_main(const char* what) const;

private:
    struct PendingEvent {
        int64_t time;
        std::vector<uint8_t> bytes;  // a complete clap event
        std::vector<uint8_t> sysex;  // payload for CLAP_EVENT_MIDI_SYSEX
    };
    std::string thread_name() const;
    void record(const char* name);
    void violation(const std::string& what);
    void check_main(const char* name);
    bool on_out_event(const clap_event_header_t* ev);
    void collect_out_events(const EventList& out, int64_t block_start, ProcessOutput* result);
    void add_midi_in(const MidiMsg& m);
    void scan_ports();
    void run_audio(const std::function<void()>& fn) { on_audio_thread({this}, fn); }

    // host callbacks
    static const void* cb_get_extension(const clap_host_t*, const char*);
    static void cb_request_restart(const clap_host_t*);
    static void cb_request_process(const clap_host_t*);
    static void cb_request_callback(const clap_host_t*);

    std::shared_ptr<ClapModule> module_;
    clap_host_t host_{};
    const clap_plugin_t* plugin_ = nullptr;
    PluginDesc desc_;
    std::set<std::string> enabled_;  // host extension ids we expose
    const clap_plugin_params_t* params_ = nullptr;
    const clap_plugin_latency_t* latency_ = nullptr;
    const clap_plugin_state_t* state_ = nullptr;
    const clap_plugin_audio_ports_t* audio_ports_ = nullptr;
    const clap_plugin_note_ports_t* note_ports_ = nullptr;
    std::map<uint32_t, void*> cookies_;
    std::vector<AudioPort> audio_in_, audio_out_;
    std::vector<NotePort> note_in_, note_out_;

    std::thread::id main_tid_;
    std::atomic<std::thread::id> audio_tid_{};
    std::atomic<Phase> phase_{Phase::Idle};
    bool active_ = false, processing_ = false;
    double sample_rate_ = 0;
    uint32_t min_frames_ = 1, max_frames_ = 0;
    int64_t steady_time_ = 0;
    Transport transport_;
    clap_event_transport_t transport_event_{};

    std::vector<PendingEvent> pending_;
    std::map<uint32_t, double> output_params_;
    uint32_t block_frames_ = 0;  // frames of the block being processed (out-event checks)
    uint32_t last_out_time_ = 0;

    std::atomic<bool> restart_requested_{false}, callback_requested_{false};
    mutable std::mutex rec_mutex_;
    std::vector<HostCall> calls_;
    std::vector<std::string> violations_;
    std::vector<LogEntry> logs_;
    std::vector<std::string> ext_queries_;

    friend struct HostExt;
};


}  // namespace bm
