// What ClapEntry.cpp needs from the shell: DPF 1.6's clap_plugin.reset() does nothing, so
// our CLAP wrapper forwards it to the shell instance DPF's create_plugin just constructed.
#pragma once

namespace bandmate {

struct Resettable {
    // Any thread: the next run() starts from a clean processing state (clap_plugin.reset()).
    virtual void requestReset() = 0;

protected:
    ~Resettable() = default;
};

// The shell instance constructed most recently on this process's main thread (plugins are
// only created there), or nullptr; clears it. Called right after DPF's create_plugin.
Resettable* takeLastCreatedPlugin();

}  // namespace bandmate
