// BandmateMultibandPhase: the shell with the backend's multiband_phase engine (delay, polarity
// and per-band phase alignment against a Reference instance in the same Link group, or of R
// against L in Stereo mode).
#include "BandmatePlugin.hpp"
#include "PluginTable.hpp"

START_NAMESPACE_DISTRHO

Plugin* createPlugin() { return new BandmatePlugin(bandmate::kPluginDecl); }

END_NAMESPACE_DISTRHO
