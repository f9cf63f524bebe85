#include "BandmatePlugin.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>

START_NAMESPACE_DISTRHO

using namespace bandmate;

namespace {

constexpr double kMinRate = 44100.0, kMaxRate = 192000.0;

uint32_t rateFactor(double sampleRate)
{
    uint32_t f = 1;
    while (sampleRate >= 88200.0 * f)
        f *= 2;
    return f;
}

size_t nextPow2(size_t n)
{
    size_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

uint32_t newEpoch()
{
    static std::atomic<uint32_t> counter{0};
    const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
    return static_cast<uint32_t>(now) ^ (counter.fetch_add(1) * 2654435761u);
}

BandmatePlugin* gLastCreated = nullptr;  // main thread only (see ShellHooks.hpp)

}  // namespace

BandmatePlugin::BandmatePlugin(const PluginDecl& decl)
    : Plugin(decl.paramCount, 0, decl.stringCount), decl_(decl), values_(new std::atomic<float>[decl.paramCount])
{
    for (uint32_t i = 0; i < decl.stringCount; ++i)
        strings_.emplace_back(decl.strings[i].def);
    for (uint32_t i = 0; i < decl.paramCount; ++i)
        values_[i].store(decl.params[i].def, std::memory_order_relaxed);
    std::random_device rd;
    for (auto& b : identity_)
        b = static_cast<uint8_t>(rd());
    identity_[0] |= 0x80;  // ROUTER identities must not start with a zero byte
    gLastCreated = this;
}

BandmatePlugin::~BandmatePlugin()
{
    if (gLastCreated == this)
        gLastCreated = nullptr;
    link_.reset();
}

void BandmatePlugin::initAudioPort(bool input, uint32_t index, AudioPort& port)
{
    if (input && index >= channels_) {  // spec "sidechain": a separate (non-main) input bus
        port.hints = kAudioPortIsSidechain;
        const uint32_t c = index - channels_;
        port.name = c == 0 ? "Sidechain" : "Sidechain R";  // a bus is named after its first port
        port.symbol = c == 0 ? "sidechain_1" : "sidechain_2";
        return;
    }
    Plugin::initAudioPort(input, index, port);
    if (!input && index >= channels_)  // spec "aux_outputs": its own bus, not more main channels
        port.groupId = kAuxPortGroup;
}

void BandmatePlugin::initPortGroup(uint32_t groupId, PortGroup& portGroup)
{
    if (groupId == kAuxPortGroup) {
        portGroup.name = "Audition";
        portGroup.symbol = "audition";
    }
}

void BandmatePlugin::initParameter(uint32_t index, Parameter& p)
{
    const ParamDecl& d = decl_.params[index];
    p.symbol = d.symbol;
    p.name = d.name;
    p.unit = d.unit;
    p.ranges.min = d.min;
    p.ranges.max = d.max;
    p.ranges.def = d.def;
    p.hints = d.output ? kParameterIsOutput : kParameterIsAutomatable;
    if (d.type == ParamType::Bool)
        p.hints |= kParameterIsBoolean | kParameterIsInteger;
    else if (d.type == ParamType::Int || d.type == ParamType::Choice)
        p.hints |= kParameterIsInteger;
    if (d.type == ParamType::Choice && d.choices != nullptr) {
        const int count = static_cast<int>(d.max - d.min) + 1;
        ParameterEnumerationValue* values = new ParameterEnumerationValue[count];
        for (int i = 0; i < count; ++i) {
            values[i].value = d.min + i;
            values[i].label = d.choices[i];
        }
        p.enumValues.count = count;
        p.enumValues.restrictedMode = true;
        p.enumValues.values = values;
    }
}

float BandmatePlugin::getParameterValue(uint32_t index) const
{
    return values_[index].load(std::memory_order_relaxed);
}

void BandmatePlugin::setParameterValue(uint32_t index, float value)
{
    const ParamDecl& d = decl_.params[index];
    if (d.output || !std::isfinite(value))
        return;
    value = std::min(std::max(value, d.min), d.max);
    if (d.type != ParamType::Float)
        value = std::round(value);
    values_[index].store(value, std::memory_order_relaxed);
}

void BandmatePlugin::initState(uint32_t index, State& state)
{
    const StringDecl& d = decl_.strings[index];
    state.key = d.key;
    state.label = d.name;
    state.defaultValue = d.def;
    state.hints = kStateIsOnlyForDSP;
}

void BandmatePlugin::setState(const char* key, const char* value)
{
    for (uint32_t i = 0; i < decl_.stringCount; ++i)
        if (std::strcmp(decl_.strings[i].key, key) == 0)
            strings_[i] = value != nullptr ? value : "";
    if (link_)
        link_->setStrings(serializedStrings());
}

std::string BandmatePlugin::serializedStrings() const
{
    std::string out;
    for (uint32_t i = 0; i < decl_.stringCount; ++i) {
        out.append(decl_.strings[i].key);
        out.push_back('\0');
        out.append(strings_[i]);
        out.push_back('\0');
    }
    return out;
}

// ---------------------------------------------------------------------------------------
// activation: everything that allocates happens here, never in run()

void BandmatePlugin::activate()
{
    const double sr = getSampleRate();
    const uint32_t maxBlock = std::max<uint32_t>(1, getBufferSize());
    const uint32_t factor = rateFactor(sr);
    uint32_t hop48 = decl_.hopAt48k, lat48 = decl_.engineLatencyAt48k;
    if (decl_.modeParam >= 0) {
        const int mode = static_cast<int>(std::lround(values_[decl_.modeParam].load()));
        for (uint32_t i = 0; i < decl_.modeCount; ++i)
            if (decl_.modes[i].value == mode) {
                hop48 = decl_.modes[i].hopAt48k;
                lat48 = decl_.modes[i].engineLatencyAt48k;
            }
    }
    hop_ = hop48 * factor;
    fade_ = std::max<uint32_t>(1, std::min<uint32_t>(hop_, static_cast<uint32_t>(std::lround(0.005 * sr))));
    headroomHops_ = 1 + (maxBlock + fade_ + hop_ - 1) / hop_;
    latency_ = lat48 * factor + headroomHops_ * hop_;
    setLatency(latency_);

    const char* det = std::getenv("BANDMATE_DETERMINISTIC");
    deterministicEnv_ = det != nullptr && std::strcmp(det, "1") == 0;
    waitBound_ = 2.0;
    startupBound_ = 10.0;  // a backend being spawned imports numpy, onnxruntime, models...
    if (const char* bound = std::getenv("BANDMATE_WAIT_BOUND_S"))
        waitBound_ = startupBound_ = std::max(0.0, std::atof(bound));

    inHop_.assign(size_t(channels_) * hop_, 0.0f);
    sideHop_.assign(size_t(sideChannels_) * hop_, 0.0f);
    readSidechain_ = sideChannels_ > 0 && sidechainDelivered_;
    curWet_.assign(size_t(channels_ + auxChannels_) * hop_, 0.0f);
    nextWet_.assign(size_t(channels_ + auxChannels_) * hop_, 0.0f);
    const size_t drySize = nextPow2(size_t(latency_) + maxBlock + hop_ + 1);
    dry_.assign(size_t(channels_) * drySize, 0.0f);
    dryMask_ = drySize - 1;
    outValues_.assign(decl_.wireOutputs, 0.0f);
    sentOk_.assign(nextPow2(headroomHops_ + 8), 0);
    clearProcessingState();

    link_.reset();
    if (sr < kMinRate || sr > kMaxRate)
        return;  // unsupported rate: latency-aligned dry (CLAP hosts are refused earlier)
    const BackendLocation where = locateBackend();
    LinkConfig cfg;
    cfg.endpoint = where.endpoint;
    cfg.spawnCommand = where.spawnCommand;
    cfg.curveServerKey = where.curveServerKey;
    cfg.bridgeCpu = where.bridgeCpu;
    cfg.strings = serializedStrings();
    cfg.runtimeDir = where.runtimeDir;
    cfg.engine = decl_.engine;
    std::memcpy(cfg.identity, identity_, sizeof(identity_));
    cfg.epoch = epoch_ = newEpoch();
    resetRequested_.store(false, std::memory_order_relaxed);
    cfg.sampleRate = static_cast<uint32_t>(std::lround(sr));
    cfg.channels = static_cast<uint16_t>(channels_);
    cfg.sideChannels = static_cast<uint16_t>(sideChannels_);
    cfg.auxChannels = static_cast<uint16_t>(auxChannels_);
    cfg.hop = static_cast<uint16_t>(hop_);
    cfg.nParams = decl_.wireInputs + (decl_.transport ? kTransportValues : 0);
    cfg.nOutputs = decl_.wireOutputs + (decl_.generator ? kMidiBlockFloats : 0);
    cfg.ringSlots = static_cast<uint32_t>(nextPow2(2 * headroomHops_ + 8));
    link_.reset(new BackendLink(cfg));
}

void BandmatePlugin::deactivate() { link_.reset(); }

// ---------------------------------------------------------------------------------------
// audio thread: no allocation, locks, logging or libzmq below this line

void BandmatePlugin::run(const float** inputs, float** outputs, uint32_t frames)
{
    if (resetRequested_.exchange(false, std::memory_order_acq_rel))
        resetProcessing();
    if (decl_.transport)
        readTransport();
    uint32_t pos = 0;
    while (pos < frames) {
        const uint32_t off = static_cast<uint32_t>(t_ % hop_);
        if (off == 0)
            startHop(pos);
        if (off == hop_ - fade_)
            decideNextHop();
        // Segment ends at the next hop start or decision point, whichever comes first.
        uint32_t end = hop_;
        if (off < hop_ - fade_)
            end = hop_ - fade_;
        const uint32_t n = std::min(frames - pos, end - off);
        render(inputs, outputs, pos, n);
        if (decl_.generator)
            emitMidi(pos, off, n);
        pos += n;
        t_ += n;
        if (t_ % hop_ == 0)
            sendInputHop(t_ / hop_ - 1);
    }
    wakeIoIfPending();
    const float connected = (link_ && link_->connected()) ? 1.0f : 0.0f;
    values_[decl_.connectedParam].store(connected, std::memory_order_relaxed);
    values_[decl_.lateBlocksParam].store(static_cast<float>(lateBlocks_), std::memory_order_relaxed);
}

void BandmatePlugin::render(const float** inputs, float** outputs, uint32_t pos, uint32_t n)
{
    const uint32_t off = static_cast<uint32_t>(t_ % hop_);
    const size_t drySize = dryMask_ + 1;
    for (uint32_t c = 0; c < channels_; ++c) {
        const float* in = inputs[c] + pos;
        float* hopBuf = inHop_.data() + size_t(c) * hop_ + off;
        float* dry = dry_.data() + size_t(c) * drySize;
        for (uint32_t i = 0; i < n; ++i) {
            hopBuf[i] = in[i];
            dry[(t_ + i) & dryMask_] = in[i];
        }
    }
    if (readSidechain_)
        for (uint32_t c = 0; c < sideChannels_; ++c)
            std::memcpy(sideHop_.data() + size_t(c) * hop_ + off, inputs[channels_ + c] + pos, sizeof(float) * n);
    // Inputs are fully read above, so in-place hosts (inputs == outputs) are fine.
    for (uint32_t c = 0; c < channels_ + auxChannels_; ++c) {
        const bool aux = c >= channels_;  // aux outputs fade to silence: they have no dry signal
        const float* wet = curWet_.data() + size_t(c) * hop_ + off;
        const float* dry = dry_.data() + size_t(aux ? 0 : c) * drySize;
        float* out = outputs[c] + pos;
        float g = gain_;
        uint32_t ramp = rampLeft_;
        for (uint32_t i = 0; i < n; ++i) {
            if (ramp > 0) {
                g += gainStep_;
                if (--ramp == 0)
                    g = std::round(g);  // land exactly on 0 or 1
            }
            const float d = aux ? 0.0f : dry[(t_ + i - latency_) & dryMask_];
            out[i] = g == 1.0f ? wet[i] : (g == 0.0f ? d : g * wet[i] + (1.0f - g) * d);
        }
        if (c + 1 == channels_ + auxChannels_) {
            gain_ = g;
            rampLeft_ = ramp;
        }
    }
}

void BandmatePlugin::startHop(uint32_t pos)
{
    std::swap(curWet_, nextWet_);  // O(1): swaps the vectors' buffers, no allocation
    const bool wasWet = curIsWet_;
    curIsWet_ = nextIsWet_;
    if (decl_.generator) {
        curMidi_ = nextMidi_;  // fixed-size copy
        midiCursor_ = 0;
        if (!curIsWet_)
            allNotesOff(pos);  // the backend's note-offs for this hop are lost: end every note now
    }
    if (decl_.transport) {
        // The transport at this input hop's first sample goes with the hop's request; the frame
        // exactly, split in two floats (hi = -1: not rolling, the engine counts samples itself).
        const double beat = blockBeat_ + double(pos) * tempo_ / (60.0 * getSampleRate());
        const double bar = std::floor(beat / beatsPerBar_ + 1e-9);
        const uint64_t frame = blockFrame_ + pos;
        const double hi = blockRolling_ ? std::floor(double(frame) / kFrameSplit) : -1.0;
        const double lo = blockRolling_ ? double(frame) - hi * kFrameSplit : 0.0;
        hopTransport_ = {blockPlaying_ ? 1.0f : 0.0f, static_cast<float>(bar),
                         static_cast<float>(beat - bar * beatsPerBar_), static_cast<float>(tempo_),
                         static_cast<float>(beatsPerBar_), static_cast<float>(hi), static_cast<float>(lo)};
    }
    if (curIsWet_ && !wasWet) {  // fade the processed signal back in over F samples
        rampLeft_ = fade_;
        gainStep_ = (1.0f - gain_) / static_cast<float>(fade_);
    }
    const float* values = outValues_.data();
    for (uint32_t i = 0; i < decl_.paramCount; ++i) {
        const ParamDecl& d = decl_.params[i];
        if (d.output && d.wireIndex >= 0 && curIsWet_)
            values_[i].store(values[d.wireIndex], std::memory_order_relaxed);
    }
}

void BandmatePlugin::decideNextHop()
{
    // Output hop o = t/H + 1 starts in F samples and plays the reply for input hop j.
    const int64_t j = static_cast<int64_t>(t_ / hop_) + 1 - static_cast<int64_t>(headroomHops_);
    bool wet = false;
    if (j < 0) {
        std::fill(nextWet_.begin(), nextWet_.end(), 0.0f);  // before any input: silence
        wet = true;
    } else if (link_) {
        const bool deterministic = deterministicNow();
        const bool wasSent = sentOk_[size_t(j) & (sentOk_.size() - 1)] != 0;
        for (;;) {
            SlotView reply = link_->peekReply();
            if (reply.base == nullptr) {
                // Deterministic (offline) renders wait, bounded; after one timeout we stop
                // waiting until the link reconnects, so a dead backend cannot stall a render.
                // The generation is read before waiting, so a reconnect during the wait re-arms
                // waiting; until the link first connects the bound allows for backend start-up.
                const uint32_t generation = link_->generation();
                if (deterministic && wasSent && gaveUpGeneration_ != generation) {
                    wakeIoIfPending();
                    if (link_->waitReply(generation == 0 ? startupBound_ : waitBound_))
                        continue;
                    gaveUpGeneration_ = generation;
                }
                break;
            }
            if (reply.epoch() != epoch_ || reply.seq() < static_cast<uint64_t>(j)) {  // stale
                link_->popReply();
                continue;
            }
            if (reply.seq() == static_cast<uint64_t>(j) && reply.status() == kReplyOk) {
                bool finite = true;
                const size_t count = size_t(channels_ + auxChannels_) * hop_;
                const float* src = reply.channel(0);
                for (size_t i = 0; i < count; ++i) {
                    float v = src[i];
                    if (!std::isfinite(v))
                        finite = false;
                    nextWet_[i] = std::fabs(v) < 1e-30f ? 0.0f : v;  // no denormals downstream
                }
                if (finite) {
                    std::memcpy(outValues_.data(), reply.values(), sizeof(float) * decl_.wireOutputs);
                    if (decl_.generator)
                        std::memcpy(nextMidi_.data(), reply.values() + decl_.wireOutputs, sizeof(nextMidi_));
                    wet = true;
                }
            }
            if (reply.seq() == static_cast<uint64_t>(j))
                link_->popReply();
            break;  // a later hop's reply stays queued for its turn
        }
        if (!wet)
            ++lateBlocks_;
    }
    nextIsWet_ = wet;
    if (!wet)
        nextMidi_[0] = 0.0f;  // no events; startHop ends the sounding notes
    if (curIsWet_ && !wet) {  // fade the processed signal out before the gap
        rampLeft_ = fade_;
        gainStep_ = -gain_ / static_cast<float>(fade_);
    }
}

void BandmatePlugin::sendInputHop(uint64_t seq)
{
    uint8_t& sent = sentOk_[size_t(seq) & (sentOk_.size() - 1)];
    sent = 0;
    if (!link_)
        return;
    SlotView slot = link_->beginRequest(seq);
    if (slot.base == nullptr)
        return;  // ring full (backend far behind): this hop will play the fallback
    slot.epoch() = epoch_;
    // Drop horizon (PROTOCOL.md): in realtime the backend may skip this hop once hop
    // seq + K - 1 has arrived, because by then it is played as fallback anyway.
    slot.status() = deterministicNow() ? 0u : static_cast<uint32_t>(headroomHops_);
    float* values = slot.values();
    for (uint32_t i = 0; i < decl_.paramCount; ++i) {
        const ParamDecl& d = decl_.params[i];
        if (!d.output)
            values[d.wireIndex] = values_[i].load(std::memory_order_relaxed);
    }
    if (decl_.transport)
        std::memcpy(values + decl_.wireInputs, hopTransport_.data(), sizeof(hopTransport_));
    std::memcpy(slot.channel(0), inHop_.data(), sizeof(float) * channels_ * hop_);
    if (sideChannels_ > 0)  // zeros where the wrapper delivers no sidechain (VST3)
        std::memcpy(slot.channel(channels_), sideHop_.data(), sizeof(float) * sideChannels_ * hop_);
    link_->commitRequest();
    ioWakePending_ = true;
    sent = 1;
}

// One wake-up per host block, not per hop: the I/O thread then sends every hop of the block
// back to back and the backend answers them in one wake-up (fewer context switches per hop
// when the host block holds several hops).
void BandmatePlugin::wakeIoIfPending()
{
    if (ioWakePending_ && link_)
        link_->wakeIo();
    ioWakePending_ = false;
}

// clap_plugin.reset(): audio thread, no allocation. Back to the state right after
// activate() with a new epoch, so the backend starts a fresh engine and any reply still
// in flight is dropped.
void BandmatePlugin::resetProcessing()
{
    if (decl_.generator)
        allNotesOff(0);
    clearProcessingState();
    epoch_ = epoch_ * 2654435761u + 0x9E3779B9u;  // new, without a clock call
    if (link_)
        while (link_->peekReply().base != nullptr)
            link_->popReply();
}

// The state right after activation; buffers keep their size (no allocation).
void BandmatePlugin::clearProcessingState()
{
    std::fill(inHop_.begin(), inHop_.end(), 0.0f);
    std::fill(curWet_.begin(), curWet_.end(), 0.0f);
    std::fill(nextWet_.begin(), nextWet_.end(), 0.0f);
    std::fill(dry_.begin(), dry_.end(), 0.0f);
    std::fill(outValues_.begin(), outValues_.end(), 0.0f);
    std::fill(sentOk_.begin(), sentOk_.end(), uint8_t(0));
    curMidi_.fill(0.0f);
    nextMidi_.fill(0.0f);
    midiCursor_ = 0;
    hopTransport_.fill(0.0f);
    std::memset(sounding_, 0, sizeof(sounding_));
    t_ = 0;
    curIsWet_ = nextIsWet_ = true;  // before the first reply is due, both paths are silence
    gain_ = 1.0f;
    gainStep_ = 0.0f;
    rampLeft_ = 0;
    gaveUpGeneration_ = ~0u;
}

// ---------------------------------------------------------------------------------------
// host transport in (generators, "transport" specs), MIDI out (generators)

void BandmatePlugin::readTransport()
{
#if DISTRHO_PLUGIN_WANT_TIMEPOS
    const TimePosition& tp = getTimePosition();
    const auto& bbt = tp.bbt;
    blockPlaying_ = tp.playing && bbt.valid && bbt.beatsPerMinute > 0.0 && bbt.beatsPerBar > 0.0f;
    blockRolling_ = tp.playing;  // DPF 1.6: frame = VST3 project time; CLAP steady_time
    blockFrame_ = tp.frame;
    if (blockPlaying_) {
        tempo_ = bbt.beatsPerMinute;
        beatsPerBar_ = bbt.beatsPerBar;
        blockBeat_ = (bbt.bar - 1) * beatsPerBar_ + (bbt.beat - 1) + bbt.tick / bbt.ticksPerBeat;
    }
#else
    blockPlaying_ = blockRolling_ = false;
#endif
}

void BandmatePlugin::emitMidi(uint32_t pos, uint32_t off, uint32_t n)
{
#if DISTRHO_PLUGIN_WANT_MIDI_OUTPUT
    const uint32_t count = std::min<uint32_t>(kMidiSlots, static_cast<uint32_t>(std::max(0.0f, curMidi_[0])));
    for (; midiCursor_ < count; ++midiCursor_) {
        const float* e = curMidi_.data() + 1 + size_t(midiCursor_) * kMidiEventFloats;
        const uint32_t at = static_cast<uint32_t>(std::max(0.0f, e[0]));
        if (at >= off + n)
            break;  // events are sorted by offset: the rest belong to later segments
        const uint8_t status = static_cast<uint8_t>(e[1]);
        const uint8_t d1 = static_cast<uint8_t>(e[2]) & 0x7F, d2 = static_cast<uint8_t>(e[3]) & 0x7F;
        const uint8_t kind = status & 0xF0, ch = status & 0x0F;
        if (kind != 0x80 && kind != 0x90)
            continue;  // generators send notes only
        const bool on = kind == 0x90 && d2 > 0;
        if (!on && !sounding_[ch][d1])
            continue;  // never a note-off without its note-on
        MidiEvent ev;
        ev.frame = pos + (at > off ? at - off : 0);
        ev.size = 3;
        ev.data[0] = status;
        ev.data[1] = d1;
        ev.data[2] = d2;
        ev.dataExt = nullptr;
        if (writeMidiEvent(ev))
            sounding_[ch][d1] = on ? 1 : 0;
    }
#else
    (void)pos; (void)off; (void)n;
#endif
}

void BandmatePlugin::allNotesOff(uint32_t frame)
{
#if DISTRHO_PLUGIN_WANT_MIDI_OUTPUT
    for (uint8_t ch = 0; ch < 16; ++ch)
        for (uint8_t note = 0; note < 128; ++note) {
            if (!sounding_[ch][note])
                continue;
            MidiEvent ev;
            ev.frame = frame;
            ev.size = 3;
            ev.data[0] = static_cast<uint8_t>(0x80 | ch);
            ev.data[1] = note;
            ev.data[2] = 0;
            ev.dataExt = nullptr;
            if (writeMidiEvent(ev))
                sounding_[ch][note] = 0;
        }
#else
    (void)frame;
#endif
}

END_NAMESPACE_DISTRHO

bandmate::ClapHooks* bandmate::takeLastCreatedPlugin()
{
    DISTRHO_NAMESPACE::BandmatePlugin* p = DISTRHO_NAMESPACE::gLastCreated;
    DISTRHO_NAMESPACE::gLastCreated = nullptr;
    return p;
}
