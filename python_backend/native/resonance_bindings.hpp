// bandmate._dsp.ResonanceAnalyzer and the 1-D helpers behind it (exposed for tests).
#pragma once

#include <pybind11/pybind11.h>

namespace bm {

void bind_resonance(pybind11::module_& m);

}  // namespace bm
