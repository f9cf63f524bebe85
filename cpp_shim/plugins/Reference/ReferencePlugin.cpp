// BandmateReference: the shell with the backend's reference engine (gain, polarity, a
// known FIR). Used by the tests to prove the bridge is sample-exact end to end.
#include "BandmatePlugin.hpp"
#include "PluginTable.hpp"

START_NAMESPACE_DISTRHO

Plugin* createPlugin() { return new BandmatePlugin(bandmate::kPluginDecl); }

END_NAMESPACE_DISTRHO
