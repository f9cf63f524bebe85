// Bandmate wire protocol v2 (see PROTOCOL.md): a 48-byte little-endian header followed
// by `n_values` float32 (parameters in a request, output parameters in a reply) and
// `channels * frames` float32 audio, planar (channel-major).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace bandmate {
namespace wire {

constexpr uint32_t kMagic = 0x45544D42u;  // "BMTE" little-endian
constexpr uint16_t kVersion = 2;
constexpr size_t kHeaderBytes = 48;
constexpr size_t kEngineNameBytes = 16;

enum Type : uint16_t {
    kProcess = 1,
    kPing = 2,
    kConfigure = 3,  // the plugin's string state: UTF-8 key NUL value NUL pairs; answered with PONG
    kReply = 0x81,
    kPong = 0x82,
    kError = 0xFF,
};

#pragma pack(push, 1)
struct Header {
    uint32_t magic;
    uint16_t version;
    uint16_t type;
    uint64_t seq;
    uint32_t epoch;       // activation id: replies from an older activation are stale
    uint32_t sampleRate;
    uint16_t channels;
    uint16_t frames;
    uint16_t nValues;
    uint16_t status;      // PROCESS: drop horizon K (0 = never drop); kError: error code
    char engine[kEngineNameBytes];
};
#pragma pack(pop)
static_assert(sizeof(Header) == kHeaderBytes, "wire header must be 48 bytes");

inline Header makeHeader(Type type, uint64_t seq, uint32_t epoch, const char* engine)
{
    Header h;
    std::memset(&h, 0, sizeof(h));
    h.magic = kMagic;
    h.version = kVersion;
    h.type = type;
    h.seq = seq;
    h.epoch = epoch;
    std::memcpy(h.engine, engine, std::min(std::strlen(engine), kEngineNameBytes));
    return h;
}

}  // namespace wire
}  // namespace bandmate
