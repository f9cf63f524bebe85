// The shared plugin shell: every Bandmate plugin is this class plus a PluginDecl.
//
// Timeline (all in samples since activation, t):
//   * input is cut into fixed hops of H samples; hop j (input [jH, (j+1)H)) is sent to the
//     backend when complete;
//   * output hop o (output [oH, (o+1)H)) plays the backend's reply for hop j = o - K;
//   * whether hop j's reply is there is decided F samples before output hop o starts, so
//     that a missing reply can be faded out over the last F samples of the previous hop
//     (F = min(5 ms, H)) and stale audio is never played.
// Reported latency L = engine latency + K*H, with K = 1 + ceil((maxBlock + F) / H): enough
// headroom that in realtime a reply has at least one host callback to come back.
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "DistrhoPlugin.hpp"

#include "BackendLink.hpp"
#include "PluginDecl.hpp"
#include "ShellHooks.hpp"

START_NAMESPACE_DISTRHO

class BandmatePlugin : public Plugin, public bandmate::ClapHooks {
public:
    explicit BandmatePlugin(const bandmate::PluginDecl& decl);
    ~BandmatePlugin() override;

    void requestReset() override { resetRequested_.store(true, std::memory_order_release); }
    void enableSidechain() override { sidechainDelivered_ = true; }

protected:
    const char* getLabel() const override { return DISTRHO_PLUGIN_NAME; }
    const char* getDescription() const override { return decl_.description; }
    const char* getMaker() const override { return "Bandmate"; }
    const char* getHomePage() const override { return "https://bandmate.invalid/"; }
    const char* getLicense() const override { return "GPL-2.0-or-later"; }
    uint32_t getVersion() const override { return d_version(0, 1, 0); }
    int64_t getUniqueId() const override { return decl_.uniqueId; }

    void initAudioPort(bool input, uint32_t index, AudioPort& port) override;
    void initPortGroup(uint32_t groupId, PortGroup& portGroup) override;
    void initParameter(uint32_t index, Parameter& parameter) override;
    float getParameterValue(uint32_t index) const override;
    void setParameterValue(uint32_t index, float value) override;
    // String state (spec "strings", e.g. Profile EQ's profile name): main thread only; DPF saves
    // and restores it with the parameters, the I/O thread sends it to the engine.
    void initState(uint32_t index, State& state) override;
    void setState(const char* key, const char* value) override;

    void activate() override;
    void deactivate() override;
    void run(const float** inputs, float** outputs, uint32_t frames) override;

private:
    void startHop(uint32_t pos);  // at t % H == 0; pos: frame in the host block
    void readTransport();
    void emitMidi(uint32_t pos, uint32_t off, uint32_t n);
    void allNotesOff(uint32_t frame);
    void resetProcessing();
    void clearProcessingState();
    bool deterministicNow() const
    {
        return deterministicEnv_ || values_[decl_.deterministicParam].load(std::memory_order_relaxed) >= 0.5f;
    }
    void decideNextHop();      // at t % H == H - F
    void sendInputHop(uint64_t seq);
    void wakeIoIfPending();
    void render(const float** inputs, float** outputs, uint32_t pos, uint32_t n);

    const bandmate::PluginDecl& decl_;
    std::unique_ptr<std::atomic<float>[]> values_;  // every parameter, host index order
    uint8_t identity_[16];
    std::vector<std::string> strings_;  // spec string state, decl order (main thread)
    std::string serializedStrings() const;  // "key\0value\0" pairs for LinkConfig / CONFIGURE

    // Fixed at activation.
    std::unique_ptr<bandmate::BackendLink> link_;
    uint32_t hop_ = 256, fade_ = 240, headroomHops_ = 3, latency_ = 0;
    static constexpr uint32_t channels_ = BANDMATE_MAIN_CHANNELS;  // 1 (mono build) or 2
    // Spec "sidechain": as many sidechain inputs, after the main ones. Their audio goes to the
    // engine after the main channels of each hop; silence unless the wrapper delivers it.
    static constexpr uint32_t sideChannels_ = BANDMATE_SIDECHAIN_CHANNELS;
    bool sidechainDelivered_ = false;  // set by ClapEntry (CLAP only; see ShellHooks.hpp)
    bool readSidechain_ = false;       // fixed at activation
    // Spec "aux_outputs": a second output bus after the main outputs (BassNet's audition). The
    // backend's reply carries it after the main channels; it fades to silence, not to dry.
    static constexpr uint32_t auxChannels_ = BANDMATE_AUX_CHANNELS;
    static constexpr uint32_t kAuxPortGroup = 0;  // DPF: custom group ids count from 0
    bool deterministicEnv_ = false;
    double waitBound_ = 2.0, startupBound_ = 10.0;  // Deterministic mode's waits
    std::vector<float> inHop_, dry_;
    std::vector<float> curWet_, nextWet_;  // (channels_ + auxChannels_) x hop: a reply's audio
    std::vector<float> sideHop_;  // sideChannels_ x hop: the sidechain of the current input hop
    std::vector<float> outValues_;  // wire outputs of the hop being played
    std::vector<uint8_t> sentOk_;   // per seq (mod size): was hop enqueued?
    size_t dryMask_ = 0;

    // Audio-thread state.
    uint64_t t_ = 0;
    bool curIsWet_ = true, nextIsWet_ = true;
    float gain_ = 1.0f, gainStep_ = 0.0f;
    uint32_t rampLeft_ = 0;
    uint32_t gaveUpGeneration_ = ~0u;
    uint32_t epoch_ = 0;  // requests' epoch: renewed by a reset, so older replies are dropped
    std::atomic<bool> resetRequested_{false};
    uint64_t lateBlocks_ = 0;
    bool ioWakePending_ = false;  // hops committed in this run() that the I/O thread has not been told of

    // Generators (fixed size: nothing to allocate): the reply's MIDI block for the hop being
    // played / the next hop; which notes are sounding (to end them on a fallback). Generators and
    // "transport" specs: the transport at this block's start and at the current input hop's start.
    std::array<float, bandmate::kMidiBlockFloats> curMidi_{}, nextMidi_{};
    uint32_t midiCursor_ = 0;
    std::array<float, bandmate::kTransportValues> hopTransport_{};
    bool blockPlaying_ = false, blockRolling_ = false;
    uint64_t blockFrame_ = 0;  // transport frame at this block's start (while rolling)
    double blockBeat_ = 0.0, tempo_ = 120.0, beatsPerBar_ = 4.0;
    uint8_t sounding_[16][128] = {};

    DISTRHO_DECLARE_NON_COPYABLE_WITH_LEAK_DETECTOR(BandmatePlugin)
};

END_NAMESPACE_DISTRHO
