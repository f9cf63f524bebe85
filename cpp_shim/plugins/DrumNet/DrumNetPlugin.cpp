// BandmateDrumNet: the shell as a MIDI generator (transport in, drum MIDI out on channel
// 10, audio passed through); the backend's drumnet engine writes the bars.
#include "BandmatePlugin.hpp"
#include "PluginTable.hpp"

START_NAMESPACE_DISTRHO

Plugin* createPlugin() { return new BandmatePlugin(bandmate::kPluginDecl); }

END_NAMESPACE_DISTRHO
