// BandmateProfileEQ: the shell with the backend's profile_eq engine (matching EQ whose
// target is a named profile: a user file or a built-in curve, kept in the plugin state).
#include "BandmatePlugin.hpp"
#include "PluginTable.hpp"

START_NAMESPACE_DISTRHO

Plugin* createPlugin() { return new BandmatePlugin(bandmate::kPluginDecl); }

END_NAMESPACE_DISTRHO
