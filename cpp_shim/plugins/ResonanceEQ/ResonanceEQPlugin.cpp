// BandmateResonanceEQ: dynamic resonance suppression / harmonic emphasis. All DSP is in
// the backend's ResonanceEngine (python_backend/bandmate/engines/resonance.py).
#include "BandmatePlugin.hpp"
#include "PluginTable.hpp"

START_NAMESPACE_DISTRHO

Plugin* createPlugin() { return new BandmatePlugin(bandmate::kPluginDecl); }

END_NAMESPACE_DISTRHO
