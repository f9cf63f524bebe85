// Event lists handed to a CLAP plugin (in_events / out_events).
//
// Events of any type are stored back to back in one byte arena (8-byte aligned)
// plus an index vector, so that reserve() up front keeps process() free of
// allocations for the usual event counts.
#pragma once

#include <clap/events.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <vector>

namespace bm {

class EventList {
public:
    EventList() {
        in_.ctx = this;
        in_.size = &EventList::in_size;
        in_.get = &EventList::in_get;
        out_.ctx = this;
        out_.try_push = &EventList::out_try_push;
    }
    EventList(const EventList&) = delete;
    EventList& operator=(const EventList&) = delete;

    void reserve(size_t bytes, size_t count) {
        bytes_.reserve(bytes);
        offsets_.reserve(count);
    }
    void clear() {
        bytes_.clear();
        offsets_.clear();
    }

    // Copies the event (header->size bytes). Returns false for a malformed header.
    bool push(const clap_event_header_t* ev) {
        if (!ev || ev->size < sizeof(clap_event_header_t))
            return false;
        const size_t pos = (bytes_.size() + 7u) & ~size_t(7);
        bytes_.resize(pos + ev->size);
        std::memcpy(bytes_.data() + pos, ev, ev->size);
        offsets_.push_back(pos);
        return true;
    }

    uint32_t size() const { return static_cast<uint32_t>(offsets_.size()); }
    const clap_event_header_t* get(uint32_t i) const {
        if (i >= offsets_.size())
            return nullptr;
        return reinterpret_cast<const clap_event_header_t*>(bytes_.data() + offsets_[i]);
    }

    // Stable sort by header.time: the CLAP spec requires in_events sorted by time.
    void sort_by_time() {
        std::stable_sort(offsets_.begin(), offsets_.end(), [this](size_t a, size_t b) {
            return header_at(a)->time < header_at(b)->time;
        });
    }

    const clap_input_events_t* input() const { return &in_; }
    const clap_output_events_t* output() const { return &out_; }

    // Called for every event the plugin pushes (output list only); lets the host
    // validate it. Return false to refuse the event.
    std::function<bool(const clap_event_header_t*)> on_push;

private:
    const clap_event_header_t* header_at(size_t off) const {
        return reinterpret_cast<const clap_event_header_t*>(bytes_.data() + off);
    }
    static uint32_t in_size(const clap_input_events_t* l) {
        return static_cast<const EventList*>(l->ctx)->size();
    }
    static const clap_event_header_t* in_get(const clap_input_events_t* l, uint32_t i) {
        return static_cast<const EventList*>(l->ctx)->get(i);
    }
    static bool out_try_push(const clap_output_events_t* l, const clap_event_header_t* ev) {
        auto* self = static_cast<EventList*>(l->ctx);
        if (self->on_push && !self->on_push(ev))
            return false;
        return self->push(ev);
    }

    std::vector<uint8_t> bytes_;
    std::vector<size_t> offsets_;
    clap_input_events_t in_{};
    clap_output_events_t out_{};
};

}  // namespace bm
