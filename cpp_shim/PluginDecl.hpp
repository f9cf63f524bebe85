// A plugin's declaration as the shell sees it. The tables are generated from the one
// spec file per plugin (python_backend/bandmate/specs/<name>.json) by tools/gen_plugin.py,
// so the C++ shell and the Python engine share a single source of truth.
#pragma once

#include <cstdint>

namespace bandmate {

// Generators and specs with "transport": true (PluginDecl::transport) append the host
// transport at each hop's start to their requests; generators receive MIDI after the meters in
// their replies (PROTOCOL.md):
//   request:  ... params | playing, bar, beat (quarters into the bar), tempo, beats per bar,
//                          frame hi, frame lo (transport frame = hi * 2^24 + lo; hi = -1: stopped)
//   reply:    ... meters | event count | kMidiSlots x (sample offset, status, data1, data2)
// gen_plugin.py checks these against python_backend/bandmate/specs.
constexpr uint16_t kTransportValues = 7;
constexpr double kFrameSplit = 16777216.0;  // 2^24: float32 holds integers exactly up to here
constexpr uint16_t kMidiSlots = 64;
constexpr uint16_t kMidiEventFloats = 4;
constexpr uint16_t kMidiBlockFloats = 1 + kMidiSlots * kMidiEventFloats;

enum class ParamType : uint8_t { Float, Bool, Int, Choice };

struct ParamDecl {
    const char* symbol;  // stable string ID, never changes once shipped
    const char* name;
    const char* unit;
    float min, max, def;
    ParamType type;
    bool output;
    // Inputs: position in a request's value list. Outputs: position in a reply's value
    // list, or -1 for outputs the shell computes itself (late_blocks, backend_connected).
    int16_t wireIndex;
    const char* const* choices;  // type Choice: max-min+1 labels
};

// A string saved with the plugin state (spec "strings"), e.g. Profile EQ's profile name. It
// reaches the backend engine through the I/O thread (CONFIGURE, PROTOCOL.md), never the audio thread.
struct StringDecl {
    const char* key;
    const char* name;
    const char* def;
};

struct ModeDecl {
    int value;  // value of the mode parameter
    uint32_t hopAt48k;
    uint32_t engineLatencyAt48k;
};

struct PluginDecl {
    const char* name;    // "Reference" -> plugin "BandmateReference"
    const char* engine;  // backend engine name
    const char* description;
    bool generator;      // MIDI generator: transport in, MIDI out (audio passes through)
    uint32_t hopAt48k;
    uint32_t engineLatencyAt48k;
    int modeParam;       // index of the parameter that picks a mode at activation, or -1
    const ModeDecl* modes;
    uint32_t modeCount;
    const ParamDecl* params;  // host index order (frozen by specs/ids.lock.json)
    uint32_t paramCount;
    uint16_t wireInputs;
    uint16_t wireOutputs;
    int deterministicParam;
    int lateBlocksParam;
    int connectedParam;
    int64_t uniqueId;
    const StringDecl* strings;
    uint32_t stringCount;
    bool transport;      // requests carry the host transport (generators; spec "transport": true)
};

}  // namespace bandmate
