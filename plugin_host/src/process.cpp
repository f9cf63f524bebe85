// ClapHost processing: block splitting, sample-accurate in_events, transport,
// out_events collection (MIDI, note and param events).
#include "clap_host.hpp"

#include <clap/fixedpoint.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

namespace bm {

double Transport::current_beats(double sample_rate) const {
    if (!playing || sample_rate <= 0) return position_beats;
    return position_beats + double(samples_since_anchor) / sample_rate * tempo / 60.0;
}

namespace {
size_t midi_length(uint8_t status) {
    if (status >= 0xF0) {
        switch (status) {
            case 0xF1: case 0xF3: return 2;
            case 0xF2: return 3;
            default: return 1;
        }
    }
    const uint8_t hi = status & 0xF0;
    return (hi == 0xC0 || hi == 0xD0) ? 2 : 3;
}
}  // namespace

void ClapHost::make_block_io(BlockIO& io, uint32_t capacity) {
    auto setup = [capacity](const std::vector<AudioPort>& ports, std::vector<std::vector<float>>& data,
                            std::vector<std::vector<float*>>& ptrs, std::vector<clap_audio_buffer_t>& bufs) {
        data.assign(ports.size(), {});
        ptrs.assign(ports.size(), {});
        bufs.assign(ports.size(), clap_audio_buffer_t{});
        for (size_t p = 0; p < ports.size(); ++p) {
            const uint32_t ch = ports[p].channels;
            data[p].assign(size_t(ch) * capacity, 0.f);
            for (uint32_t c = 0; c < ch; ++c) ptrs[p].push_back(data[p].data() + size_t(c) * capacity);
            bufs[p].data32 = ptrs[p].data();
            bufs[p].channel_count = ch;
        }
    };
    setup(audio_in_, io.in_data, io.in_ptrs, io.ins);
    setup(audio_out_, io.out_data, io.out_ptrs, io.outs);
    io.in_events.reserve(1 << 16, 1024);
    io.out_events.reserve(1 << 16, 1024);
    io.out_events.on_push = [this](const clap_event_header_t* ev) { return on_out_event(ev); };
}

void ClapHost::ensure_processing() {
    if (processing_) return;
    bool ok;
    {
        phase_ = Phase::StartProcessing;
        ok = plugin_->start_processing(plugin_);
        phase_ = Phase::Active;
    }
    if (!ok) throw std::runtime_error("plugin start_processing() returned false");
    processing_ = true;
}

bool ClapHost::on_out_event(const clap_event_header_t* ev) {
    if (ev->time >= block_frames_) {
        violation("out event time " + std::to_string(ev->time) + " >= frames_count " + std::to_string(block_frames_));
        return false;
    }
    if (ev->time < last_out_time_) violation("out events not sorted by time");
    last_out_time_ = ev->time;
    return true;
}

int32_t ClapHost::run_block(uint32_t frames, BlockIO& io) {
    const clap_event_transport_t* tp = nullptr;
    if (transport_.enabled) {
        auto& t = transport_event_;
        t = clap_event_transport_t{};
        t.header = {sizeof(t), 0, CLAP_CORE_EVENT_SPACE_ID, CLAP_EVENT_TRANSPORT, 0};
        t.flags = CLAP_TRANSPORT_HAS_TEMPO | CLAP_TRANSPORT_HAS_BEATS_TIMELINE | CLAP_TRANSPORT_HAS_SECONDS_TIMELINE |
                  CLAP_TRANSPORT_HAS_TIME_SIGNATURE | (transport_.playing ? CLAP_TRANSPORT_IS_PLAYING : 0);
        const double beats = transport_.current_beats(sample_rate_);
        const double seconds = transport_.position_beats * 60.0 / transport_.tempo +
                               (transport_.playing ? double(transport_.samples_since_anchor) / sample_rate_ : 0.0);
        t.song_pos_beats = std::llround(beats * double(CLAP_BEATTIME_FACTOR));
        t.song_pos_seconds = std::llround(seconds * double(CLAP_SECTIME_FACTOR));
        t.tempo = transport_.tempo;
        t.tsig_num = transport_.numerator;
        t.tsig_denom = transport_.denominator;
        const double bar_len = transport_.numerator * 4.0 / transport_.denominator;
        const double bar = std::floor(beats / bar_len + 1e-9);
        t.bar_number = int32_t(bar);
        t.bar_start = std::llround(bar * bar_len * double(CLAP_BEATTIME_FACTOR));
        tp = &t;
    }
    clap_process_t proc{};
    proc.steady_time = steady_time_;
    proc.frames_count = frames;
    proc.transport = tp;
    proc.audio_inputs = io.ins.data();
    proc.audio_outputs = io.outs.data();
    proc.audio_inputs_count = uint32_t(io.ins.size());
    proc.audio_outputs_count = uint32_t(io.outs.size());
    proc.in_events = io.in_events.input();
    proc.out_events = io.out_events.output();
    block_frames_ = frames;
    last_out_time_ = 0;
    phase_ = Phase::Process;
    const int32_t status = plugin_->process(plugin_, &proc);
    phase_ = Phase::Active;
    steady_time_ += frames;
    if (transport_.enabled && transport_.playing) transport_.samples_since_anchor += frames;
    return status;
}

void ClapHost::collect_out_events(const EventList& out, int64_t block_start, ProcessOutput* result) {
    for (uint32_t i = 0; i < out.size(); ++i) {
        const auto* h = out.get(i);
        if (h->space_id != CLAP_CORE_EVENT_SPACE_ID) continue;
        const int64_t t = block_start + h->time;
        switch (h->type) {
            case CLAP_EVENT_PARAM_VALUE: {
                const auto* e = reinterpret_cast<const clap_event_param_value_t*>(h);
                output_params_[e->param_id] = e->value;
                if (result) result->params.push_back({t, e->param_id, e->value});
                break;
            }
            case CLAP_EVENT_MIDI: {
                const auto* e = reinterpret_cast<const clap_event_midi_t*>(h);
                if (result) result->midi.push_back({t, {e->data, e->data + midi_length(e->data[0])}});
                break;
            }
            case CLAP_EVENT_MIDI_SYSEX: {
                const auto* e = reinterpret_cast<const clap_event_midi_sysex_t*>(h);
                if (result && e->buffer) result->midi.push_back({t, {e->buffer, e->buffer + e->size}});
                break;
            }
            case CLAP_EVENT_NOTE_ON:
            case CLAP_EVENT_NOTE_OFF: {
                const auto* e = reinterpret_cast<const clap_event_note_t*>(h);
                const uint8_t ch = uint8_t(std::clamp<int>(e->channel, 0, 15));
                int vel = int(std::lround(std::clamp(e->velocity, 0.0, 1.0) * 127.0));
                const bool on = h->type == CLAP_EVENT_NOTE_ON;
                if (on) vel = std::max(vel, 1);  // velocity 0 would read as note-off
                const uint8_t status = uint8_t((on ? 0x90 : 0x80) | ch);
                if (result) result->midi.push_back({t, {status, uint8_t(e->key & 0x7F), uint8_t(vel)}});
                break;
            }
            default:
                break;
        }
    }
}

// Converts a MIDI message into the dialect the first note input port prefers.
void ClapHost::add_midi_in(const MidiMsg& m) {
    if (note_in_.empty()) throw std::invalid_argument("midi_in given but the plugin has no note input port");
    if (m.data.empty() || m.offset < 0) throw std::invalid_argument("bad MIDI event");
    const auto& port = note_in_[0];
    const bool midi_ok = port.supported_dialects & CLAP_NOTE_DIALECT_MIDI;
    const bool prefer_clap = (port.supported_dialects & CLAP_NOTE_DIALECT_CLAP) &&
                             (!midi_ok || port.preferred_dialect == CLAP_NOTE_DIALECT_CLAP);
    const uint8_t st = m.data[0] & 0xF0;
    PendingEvent p{m.offset, {}, {}};
    if (prefer_clap && (st == 0x90 || st == 0x80) && m.data.size() >= 3) {
        clap_event_note_t ev{};
        const bool on = st == 0x90 && m.data[2] > 0;
        ev.header = {sizeof(ev), 0, CLAP_CORE_EVENT_SPACE_ID, uint16_t(on ? CLAP_EVENT_NOTE_ON : CLAP_EVENT_NOTE_OFF), 0};
        ev.note_id = -1;
        ev.port_index = 0;
        ev.channel = m.data[0] & 0x0F;
        ev.key = m.data[1];
        ev.velocity = m.data[2] / 127.0;
        p.bytes.resize(sizeof(ev));
        std::memcpy(p.bytes.data(), &ev, sizeof(ev));
    } else if (!midi_ok) {
        return;  // a CLAP-dialect-only port cannot take this message
    } else if (m.data[0] == 0xF0) {
        clap_event_midi_sysex_t ev{};
        ev.header = {sizeof(ev), 0, CLAP_CORE_EVENT_SPACE_ID, CLAP_EVENT_MIDI_SYSEX, 0};
        ev.port_index = 0;
        ev.size = uint32_t(m.data.size());
        p.sysex = m.data;
        p.bytes.resize(sizeof(ev));
        std::memcpy(p.bytes.data(), &ev, sizeof(ev));
    } else {
        clap_event_midi_t ev{};
        ev.header = {sizeof(ev), 0, CLAP_CORE_EVENT_SPACE_ID, CLAP_EVENT_MIDI, 0};
        ev.port_index = 0;
        std::copy_n(m.data.begin(), std::min<size_t>(3, m.data.size()), ev.data);
        p.bytes.resize(sizeof(ev));
        std::memcpy(p.bytes.data(), &ev, sizeof(ev));
    }
    pending_.push_back(std::move(p));
}

ProcessOutput ClapHost::process(const float* input, uint32_t in_channels, uint32_t frames,
                                const std::vector<uint32_t>& blocks, const std::vector<MidiMsg>& midi_in,
                                const std::vector<AuxInput>& aux_in) {
    require_main("process");
    if (!active_) throw std::logic_error("process: plugin is not active (call activate first)");
    uint64_t total = 0;
    for (uint32_t b : blocks) {
        if (b == 0 || b > max_frames_) throw std::invalid_argument("block size out of [1, max_frames]");
        total += b;
    }
    if (total != frames) throw std::invalid_argument("block sizes must sum to the number of frames");
    if (input && !audio_in_.empty()) {
        const uint32_t want = audio_in_[0].channels;
        if (in_channels != want && !(in_channels == 1 && want == 2))
            throw std::invalid_argument("input has " + std::to_string(in_channels) + " channels, main input port has " +
                                        std::to_string(want));
    }
    if (aux_in.size() + 1 > std::max<size_t>(audio_in_.size(), 1))
        throw std::invalid_argument("audio for " + std::to_string(aux_in.size()) + " aux input port(s), the plugin has " +
                                    std::to_string(audio_in_.empty() ? 0 : audio_in_.size() - 1));
    for (size_t k = 0; k < aux_in.size(); ++k)
        if (aux_in[k].data && aux_in[k].channels != audio_in_[k + 1].channels)
            throw std::invalid_argument("aux input " + std::to_string(k) + " has " + std::to_string(aux_in[k].channels) +
                                        " channels, the port has " + std::to_string(audio_in_[k + 1].channels));
    for (const auto& m : midi_in) add_midi_in(m);

    // Split pending events into this call (time < frames) and later calls.
    std::stable_sort(pending_.begin(), pending_.end(),
                     [](const PendingEvent& a, const PendingEvent& b) { return a.time < b.time; });
    std::vector<PendingEvent> now, later;
    for (auto& p : pending_) {
        if (p.time < int64_t(frames)) {
            now.push_back(std::move(p));
        } else {
            p.time -= frames;
            later.push_back(std::move(p));
        }
    }
    pending_ = std::move(later);
    for (auto& p : now) {  // point sysex events at their payload (stable: `now` no longer changes)
        auto* h = reinterpret_cast<clap_event_header_t*>(p.bytes.data());
        if (h->type == CLAP_EVENT_MIDI_SYSEX)
            reinterpret_cast<clap_event_midi_sysex_t*>(h)->buffer = p.sysex.data();
    }

    ProcessOutput result;
    result.channels = audio_out_.empty() ? 0 : audio_out_[0].channels;
    result.audio.assign(size_t(result.channels) * frames, 0.f);
    for (size_t p = 1; p < audio_out_.size(); ++p) {
        result.aux_channels.push_back(audio_out_[p].channels);
        result.aux.emplace_back(size_t(audio_out_[p].channels) * frames, 0.f);
    }
    BlockIO io;
    make_block_io(io, max_frames_);

    run_audio([&] {
        ensure_processing();
        size_t next = 0;
        uint32_t start = 0;
        for (uint32_t len : blocks) {
            // audio in: main port from `input`, port p > 0 from aux_in[p - 1], the rest silent
            for (size_t p = 0; p < io.in_ptrs.size(); ++p)
                for (size_t c = 0; c < io.in_ptrs[p].size(); ++c) {
                    float* dst = io.in_ptrs[p][c];
                    if (p == 0 && input) {
                        const uint32_t src_c = std::min<uint32_t>(uint32_t(c), in_channels - 1);
                        std::memcpy(dst, input + size_t(src_c) * frames + start, len * sizeof(float));
                    } else if (p > 0 && p - 1 < aux_in.size() && aux_in[p - 1].data) {
                        std::memcpy(dst, aux_in[p - 1].data + c * frames + start, len * sizeof(float));
                    } else {
                        std::fill(dst, dst + len, 0.f);
                    }
                }
            for (auto& d : io.out_data) std::fill(d.begin(), d.end(), 0.f);
            io.in_events.clear();
            io.out_events.clear();
            while (next < now.size() && now[next].time < int64_t(start + len)) {
                auto* h = reinterpret_cast<clap_event_header_t*>(now[next].bytes.data());
                h->time = uint32_t(now[next].time - start);
                io.in_events.push(h);
                ++next;
            }
            const int32_t st = run_block(len, io);
            result.statuses.push_back(st);
            if (st == CLAP_PROCESS_ERROR) violation("process returned CLAP_PROCESS_ERROR");
            if (result.channels)
                for (uint32_t c = 0; c < result.channels; ++c)
                    std::memcpy(result.audio.data() + size_t(c) * frames + start, io.out_ptrs[0][c], len * sizeof(float));
            for (size_t p = 1; p < io.out_ptrs.size(); ++p)
                for (uint32_t c = 0; c < result.aux_channels[p - 1]; ++c)
                    std::memcpy(result.aux[p - 1].data() + size_t(c) * frames + start, io.out_ptrs[p][c],
                                len * sizeof(float));
            collect_out_events(io.out_events, start, &result);
            start += len;
        }
    });
    return result;
}

}  // namespace bm
