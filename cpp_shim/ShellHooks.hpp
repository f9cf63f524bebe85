// What ClapEntry.cpp needs from the shell: DPF 1.6's clap_plugin.reset() does nothing, so
// our CLAP wrapper forwards it to the shell instance DPF's create_plugin just constructed; and
// only DPF's CLAP wrapper delivers sidechain audio (its VST3 wrapper reads the first input bus
// only, leaving sidechain ports on a shared dummy buffer), so the shell reads its sidechain
// ports only once ClapEntry has said it runs under CLAP.
#pragma once

namespace bandmate {

struct ClapHooks {
    // Any thread: the next run() starts from a clean processing state (clap_plugin.reset()).
    virtual void requestReset() = 0;
    // Main thread, before activation: sidechain input ports carry real audio.
    virtual void enableSidechain() = 0;

protected:
    ~ClapHooks() = default;
};

// The shell instance constructed most recently on this process's main thread (plugins are
// only created there), or nullptr; clears it. Called right after DPF's create_plugin.
ClapHooks* takeLastCreatedPlugin();

}  // namespace bandmate
