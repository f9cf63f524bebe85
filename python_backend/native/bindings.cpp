// pybind11 bindings: bandmate._dsp. Argument checks (shapes, dtypes, finiteness) live here;
// the DSP in partitioned_convolver.cpp (ResonanceAnalyzer: resonance_bindings.cpp).
// std::invalid_argument surfaces as ValueError.
#include "binding_util.hpp"
#include "partitioned_convolver.hpp"
#include "resonance_bindings.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

namespace py = pybind11;
using bm::PartitionedConvolver;

namespace {

using Doubles = py::array_t<double, py::array::forcecast>;  // any strides; other real dtypes converted
using bm::py_util::as_real_array;
using bm::py_util::shape_str;

void set_filter(PartitionedConvolver& self, const py::object& h_obj, bool ms, long fade) {
    if (h_obj.is_none()) {
        self.set_filter(nullptr, 1, false, fade);
        return;
    }
    py::array a = as_real_array(h_obj, "h");
    if (a.ndim() != 2 || a.shape(1) != self.n_fir() || (a.shape(0) != 1 && a.shape(0) != self.channels()))
        throw std::invalid_argument("h must have shape (1, " + std::to_string(self.n_fir()) + ")" +
                                    (self.channels() == 2 ? " or (2, " + std::to_string(self.n_fir()) + ")" : "") +
                                    ", got " + shape_str(a));
    auto h = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(a);
    const double* p = h.data();
    for (py::ssize_t i = 0; i < h.size(); ++i)
        if (!std::isfinite(p[i])) throw std::invalid_argument("h has non-finite values (NaN or inf)");
    self.set_filter(p, static_cast<int>(a.shape(0)), ms, fade);
}

py::array_t<double> process(PartitionedConvolver& self, const py::object& x_obj) {
    py::array a = as_real_array(x_obj, "x");
    if (a.ndim() != 2 || a.shape(0) != self.channels() || a.shape(1) != self.hop())
        throw std::invalid_argument("x must have shape (" + std::to_string(self.channels()) + ", " +
                                    std::to_string(self.hop()) + "), got " + shape_str(a));
    Doubles x = Doubles::ensure(a);  // no copy for float64 of any layout
    py::array_t<double> y({self.channels(), self.hop()});
    const auto item = static_cast<py::ssize_t>(sizeof(double));
    self.process(x.data(), x.strides(0) / item, x.strides(1) / item, y.mutable_data());
    return y;
}

}  // namespace

PYBIND11_MODULE(_dsp, m) {
    m.doc() = "Native DSP for the Bandmate engines (C++, kissfft).";
    py::class_<PartitionedConvolver>(m, "PartitionedConvolver", R"doc(
Uniformly partitioned overlap-save FIR convolution, partitions of one hop, with a linear
crossfade on filter changes. Exact linear convolution of the input stream, no added latency:
output sample t = sum_k h[k] x[t - k].

PartitionedConvolver(channels, hop, n_fir, identity_delay=0): channels 1 or 2, any hop >= 1,
n_fir % hop == 0. The identity filter (None) outputs the input delayed by identity_delay samples.
)doc")
        .def(py::init<int, int, int, int>(), py::arg("channels"), py::arg("hop"), py::arg("n_fir"),
             py::arg("identity_delay") = 0)
        .def("set_filter", &set_filter, py::arg("h"), py::arg("ms") = false, py::arg("fade") = 1, R"doc(
Install a filter: h (rows, n_fir) float64, rows 1 (every channel) or channels; None = identity
(the input delayed by identity_delay).
ms (2 channels, 2 rows): the rows filter mid and side. The change crossfades linearly from the
old filter's output over `fade` >= 1 samples (ramp (j + 1) / fade), starting with the next
process(). Called again before that fade produced a sample, only its target is replaced;
called during a fade, the new fade starts from that fade's target.)doc")
        .def("process", &process, py::arg("x"),
             "Filter one hop: x (channels, hop) -> (channels, hop) float64. The delay line is always fed.")
        .def(
            "delayed_input",
            [](const PartitionedConvolver& self) {
                py::array_t<double> y({self.channels(), self.hop()});
                self.delayed_input(y.mutable_data());
                return y;
            },
            "(channels, hop) float64: the input identity_delay samples before the hop process() last "
            "filtered (what the identity filter outputs): a dry path aligned with the filtered one.")
        .def("reset", &PartitionedConvolver::reset, "Zero history, identity filter, no fade.")
        .def_property_readonly("channels", &PartitionedConvolver::channels)
        .def_property_readonly("hop", &PartitionedConvolver::hop)
        .def_property_readonly("n_fir", &PartitionedConvolver::n_fir)
        .def_property_readonly("partitions", &PartitionedConvolver::partitions)
        .def_property_readonly("identity_delay", &PartitionedConvolver::identity_delay);
    bm::bind_resonance(m);
}
