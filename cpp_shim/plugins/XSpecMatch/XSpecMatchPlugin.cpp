// BandmateXSpecMatch: the shell with the backend's xspecmatch engine (matching EQ whose
// target comes from a Reference instance in the same Link group, through the backend).
#include "BandmatePlugin.hpp"
#include "PluginTable.hpp"

START_NAMESPACE_DISTRHO

Plugin* createPlugin() { return new BandmatePlugin(bandmate::kPluginDecl); }

END_NAMESPACE_DISTRHO
