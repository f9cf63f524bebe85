// BandmateBassNet: the shell as a MIDI generator (transport in, bass MIDI out, audio
// passed through); the backend's bassnet engine writes the bars.
#include "BandmatePlugin.hpp"
#include "PluginTable.hpp"

START_NAMESPACE_DISTRHO

Plugin* createPlugin() { return new BandmatePlugin(bandmate::kPluginDecl); }

END_NAMESPACE_DISTRHO
