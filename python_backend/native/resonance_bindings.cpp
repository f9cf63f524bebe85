// pybind11 bindings of ResonanceAnalyzer (resonance_analyzer.hpp) and of filters1d.hpp's
// helpers. Argument checks live here; per-update arrays are used in place, never copied.
#include "resonance_bindings.hpp"

#include <array>
#include <string>
#include <utility>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "binding_util.hpp"
#include "filters1d.hpp"
#include "resonance_analyzer.hpp"

namespace py = pybind11;

namespace bm {

namespace {

using py_util::as_real_array;
using py_util::shape_str;
using Contiguous = py::array_t<double, py::array::c_style | py::array::forcecast>;

Contiguous vector_of(const py::object& obj, const char* what, py::ssize_t n = -1) {
    py::array a = as_real_array(obj, what);
    if (a.ndim() != 1 || (n >= 0 && a.shape(0) != n))
        throw std::invalid_argument(std::string(what) + " must be 1-D" +
                                    (n >= 0 ? " with " + std::to_string(n) + " values" : "") + ", got " + shape_str(a));
    return Contiguous::ensure(a);
}

std::vector<double> doubles(const py::object& obj, const char* what) {
    Contiguous a = vector_of(obj, what);
    return {a.data(), a.data() + a.size()};
}

std::vector<int> ints(const py::object& obj, const char* what) {
    py::array a = as_real_array(obj, what);
    if (a.dtype().kind() == 'f' || a.ndim() != 1)
        throw std::invalid_argument(std::string(what) + " must be a 1-D integer array");
    auto v = py::array_t<long long, py::array::c_style | py::array::forcecast>::ensure(a);
    return {v.data(), v.data() + v.size()};
}

// any object with scipy's CSR attributes: shape, indptr, indices, data
SparseRows sparse_rows(const py::object& m, const char* what) {
    if (!py::hasattr(m, "indptr") || !py::hasattr(m, "indices") || !py::hasattr(m, "data") || !py::hasattr(m, "shape"))
        throw std::invalid_argument(std::string(what) + " must be a CSR matrix (scipy.sparse.csr_matrix)");
    const auto shape = m.attr("shape").cast<std::pair<int, int>>();
    SparseRows s;
    s.rows = shape.first;
    s.cols = shape.second;
    s.indptr = ints(m.attr("indptr"), what);
    s.indices = ints(m.attr("indices"), what);
    s.data = doubles(m.attr("data"), what);
    return s;
}

// a float64 array used in place: ndim dims, unit stride along the last one
py::array in_place(const py::object& obj, const char* what, int ndim) {
    py::array a = py::array::ensure(obj);
    if (!a || !a.dtype().is(py::dtype::of<double>()) || a.ndim() != ndim || a.strides(ndim - 1) != sizeof(double) ||
        a.strides(0) % static_cast<py::ssize_t>(sizeof(double)) != 0)
        throw std::invalid_argument(std::string(what) + " must be a float64 array with " + std::to_string(ndim) +
                                    " dimensions, contiguous along the last");
    return a;
}

ResonanceAnalyzer make(int channels, int update, int decimate, int fade, const py::object& win_short,
                       const py::object& win_long, const py::object& lowpass, const py::object& map_short,
                       const py::object& map_long, const py::object& bins_map, const py::object& pool_bins,
                       const py::object& pool_idx, int k_cross, const py::object& a_det, double a_det_long,
                       const py::object& low_pen, const py::object& fold, double a_makeup, double floor,
                       int envelope_half, double envelope_clip, int long_sd, std::pair<double, double> flat_db,
                       double long_gate_db, double skip_db, const py::object& meter_edges,
                       const py::object& a_onset) {
    ResonanceTables t;
    t.channels = channels;
    t.update = update;
    t.decimate = decimate;
    t.fade = fade;
    t.win_short = doubles(win_short, "win_short");
    t.win_long = doubles(win_long, "win_long");
    t.lowpass = doubles(lowpass, "lowpass");
    t.map_short = sparse_rows(map_short, "map_short");
    t.map_long = sparse_rows(map_long, "map_long");
    t.bins_map = sparse_rows(bins_map, "bins_map");
    t.pool_bins = ints(pool_bins, "pool_bins");
    t.pool_idx = ints(pool_idx, "pool_idx");
    t.k_cross = k_cross;
    t.a_det = doubles(a_det, "a_det");
    t.a_det_long = a_det_long;
    t.low_pen = doubles(low_pen, "low_pen");
    t.fold = doubles(fold, "fold");
    t.a_makeup = a_makeup;
    t.floor = floor;
    t.envelope_half = envelope_half;
    t.envelope_clip = envelope_clip;
    t.long_sd = long_sd;
    t.flat_lo_db = flat_db.first;
    t.flat_hi_db = flat_db.second;
    t.long_gate_db = long_gate_db;
    t.skip_db = skip_db;
    t.meter_edges = ints(meter_edges, "meter_edges");
    if (!a_onset.is_none()) t.a_onset = doubles(a_onset, "a_onset");
    return ResonanceAnalyzer(std::move(t));
}

void update(ResonanceAnalyzer& self, const py::object& x_obj, long end, bool mid_side, double stereo_link,
            double amount, double depth_db, const py::object& energy_obj, PartitionedConvolver& conv,
            const py::object& detector) {
    py::array x = in_place(x_obj, "x", 2);
    if (x.shape(0) != self.channels())
        throw std::invalid_argument("x must have " + std::to_string(self.channels()) + " rows, got " + shape_str(x));
    if (end < self.history() || end > x.shape(1))
        throw std::invalid_argument("end must lie in [" + std::to_string(self.history()) + ", " +
                                    std::to_string(x.shape(1)) + "], got " + std::to_string(end));
    py::array energy = in_place(energy_obj, "energy", 3);
    if (!(energy.flags() & py::array::c_style) || energy.size() != 2 * self.channels())
        throw std::invalid_argument("energy must be a C-contiguous (2, channels, 1) float64 array");
    if (conv.channels() != self.channels() || conv.n_fir() != 2 * (self.bins() - 1))
        throw std::invalid_argument("conv must have the analyzer's channels and n_fir");
    const ResonanceAnalyzer::Settings s{mid_side, stereo_link, amount, depth_db};
    const double* e = static_cast<const double*>(energy.data());
    const double* xd = static_cast<const double*>(x.data());
    const std::ptrdiff_t x_row = x.strides(0) / static_cast<py::ssize_t>(sizeof(double));
    if (detector.is_none()) {
        self.update(xd, x_row, end, s, e, conv);
        return;
    }
    self.analyze(xd, x_row, end, s);
    const int rows = self.rows(), G = self.grid_points();
    py::array_t<double> power({rows, G});
    std::copy_n(self.main_power(), static_cast<std::size_t>(rows) * G, power.mutable_data());
    py::object res = detector(power);
    if (res.is_none()) {
        self.finish(s, e, conv, nullptr);
        return;
    }
    // None, main (rows, G), or (main, low): prominence for cuts and the low path's gate, dB
    const bool pair = py::isinstance<py::tuple>(res) && py::len(res) == 2;
    const auto as_grid = [&](const py::object& o) {
        auto a = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(o);
        if (!a || a.ndim() != 2 || a.shape(0) != rows || a.shape(1) != G)
            throw std::invalid_argument("detector must return None, a (" + std::to_string(rows) + ", " +
                                        std::to_string(G) + ") array of prominences (dB) or a pair of them "
                                        "(main path, low-path gate)");
        return a;
    };
    const auto db = as_grid(pair ? py::object(res.cast<py::tuple>()[0]) : res);
    if (!pair) {
        self.finish(s, e, conv, db.data());
        return;
    }
    const auto low = as_grid(res.cast<py::tuple>()[1]);
    self.finish(s, e, conv, db.data(), low.data());
}

py::array_t<double> uniform_filter(const py::object& x_obj, int size) {
    if (size < 1) throw std::invalid_argument("size must be >= 1");
    Contiguous x = vector_of(x_obj, "x");
    const int n = static_cast<int>(x.size());
    if (n < 1) throw std::invalid_argument("x must not be empty");
    py::array_t<double> y(n);
    std::vector<double> ext(n + size - 1);
    uniform_filter_nearest(x.data(), n, size, y.mutable_data(), ext.data());
    return y;
}

py::array_t<double> minimum_filter(const py::object& x_obj, int size) {
    if (size < 1 || size % 2 == 0) throw std::invalid_argument("size must be odd and >= 1");
    Contiguous x = vector_of(x_obj, "x");
    const int n = static_cast<int>(x.size());
    if (n < 1) throw std::invalid_argument("x must not be empty");
    py::array_t<double> y(n);
    minimum_filter_nearest(x.data(), n, size / 2, y.mutable_data());
    return y;
}

py::array_t<double> interp(const py::object& x_obj, const py::object& xp_obj, const py::object& fp_obj) {
    Contiguous x = vector_of(x_obj, "x"), xp = vector_of(xp_obj, "xp");
    Contiguous fp = vector_of(fp_obj, "fp", xp.size());
    if (xp.size() < 1) throw std::invalid_argument("xp must not be empty");
    PiecewiseLinear f;
    f.assign(xp.data(), fp.data(), static_cast<int>(xp.size()));
    py::array_t<double> y(x.size());
    for (py::ssize_t i = 0; i < x.size(); ++i) y.mutable_data()[i] = f(x.data()[i]);
    return y;
}

}  // namespace

void bind_resonance(py::module_& m) {
    py::class_<ResonanceAnalyzer>(m, "ResonanceAnalyzer", R"doc(
ResonanceEQ's analysis update in one call: windowed power spectra (main and decimated low path),
smoothing, prominence, gating, gain table, cut dilation, attack/release, make-up, the minimum-phase
FIR, installed in the engine's PartitionedConvolver when it changed. Constructed once with the
engine's constant tables (keywords, see ResonanceEngine.__init__); the set_* tables are set when
their parameters change.)doc")
        .def(py::init(&make), py::kw_only(), py::arg("channels"), py::arg("update"), py::arg("decimate"),
             py::arg("fade"), py::arg("win_short"), py::arg("win_long"), py::arg("lowpass"), py::arg("map_short"),
             py::arg("map_long"), py::arg("bins_map"), py::arg("pool_bins"), py::arg("pool_idx"), py::arg("k_cross"),
             py::arg("a_det"), py::arg("a_det_long"), py::arg("low_pen"), py::arg("fold"), py::arg("a_makeup"),
             py::arg("floor"), py::arg("envelope_half"), py::arg("envelope_clip"), py::arg("long_sd"),
             py::arg("flat_db"), py::arg("long_gate_db"), py::arg("skip_db"), py::arg("meter_edges"),
             py::arg("a_onset") = py::none())
        .def("set_sharpness", &ResonanceAnalyzer::set_sharpness, py::arg("detect_half"), py::arg("dilate_half"),
             "Detection smoothing and cut dilation half-widths (grid points).")
        .def(
            "set_threshold",
            [](ResonanceAnalyzer& self, const py::object& thr) {
                self.set_threshold(vector_of(thr, "thr", self.grid_points()).data());
            },
            py::arg("thr"), "Threshold per grid point (dB).")
        .def(
            "set_band",
            [](ResonanceAnalyzer& self, const py::object& band) {
                self.set_band(vector_of(band, "band", self.grid_points()).data());
            },
            py::arg("band"), "Band weight per grid point.")
        .def(
            "set_attack_release",
            [](ResonanceAnalyzer& self, const py::object& a, const py::object& r) {
                self.set_attack_release(vector_of(a, "attack", self.grid_points()).data(),
                                        vector_of(r, "release", self.grid_points()).data());
            },
            py::arg("attack"), py::arg("release"), "One-pole coefficients per grid point.")
        .def(
            "set_gain_table",
            [](ResonanceAnalyzer& self, const py::object& xp_obj, const py::object& fp_obj) {
                Contiguous xp = vector_of(xp_obj, "xp");
                self.set_gain_table(xp.data(), vector_of(fp_obj, "fp", xp.size()).data(), static_cast<int>(xp.size()));
            },
            py::arg("xp"), py::arg("fp"), "Prominence above threshold (dB) -> gain (dB), as np.interp(x, xp, fp).")
        .def("update", &update, py::arg("x"), py::arg("end"), py::arg("mid_side"), py::arg("stereo_link"),
             py::arg("amount"), py::arg("depth_db"), py::arg("energy"), py::arg("conv"),
             py::arg("detector") = py::none(), R"doc(
One analysis update. x: (channels, n) float64 input history, newest sample at end - 1; energy:
(2, channels, 1) float64 smoothed dry/wet energies; conv: the engine's PartitionedConvolver, which
gets the new filter (or the identity) when it changed. detector: None, or a callable called once
per update with the main path's grid power (rows, G) (rows = 1 when the channels are linked);
it returns None (the rule detects), the main path's prominence for cuts, (rows, G) dB, or a pair
(that, a (rows, G) dB gate added to the low path's prominence for cuts).)doc")
        .def("reset", &ResonanceAnalyzer::reset, "Zero state, identity filter; the tables are kept.")
        .def(
            "last_gain_db",
            [](const ResonanceAnalyzer& self) {
                py::array_t<double> out({self.channels(), self.bins()});
                self.last_gain_db(out.mutable_data());
                return out;
            },
            "(channels, K) dB: the curve the playing filter was built from (a copy).")
        .def(
            "meters",
            [](const ResonanceAnalyzer& self) {
                std::vector<double> v(self.meter_bands());
                self.meters(v.data());
                return py::tuple(py::cast(v));
            },
            "Largest-magnitude gain (dB) of the applied curve per meter band, channel mean.")
        .def_property_readonly("channels", &ResonanceAnalyzer::channels)
        .def_property_readonly("grid_points", &ResonanceAnalyzer::grid_points)
        .def_property_readonly("bins", &ResonanceAnalyzer::bins)
        .def_property_readonly("history", &ResonanceAnalyzer::history);

    m.def("uniform_filter_nearest", &uniform_filter, py::arg("x"), py::arg("size"),
          "scipy.ndimage.uniform_filter1d(x, size, mode='nearest') of a 1-D array (the analyzer's).");
    m.def("minimum_filter_nearest", &minimum_filter, py::arg("x"), py::arg("size"),
          "scipy.ndimage.minimum_filter1d(x, size, mode='nearest') of a 1-D array, odd size (the analyzer's).");
    m.def("interp", &interp, py::arg("x"), py::arg("xp"), py::arg("fp"), "np.interp(x, xp, fp) (the analyzer's).");
}

}  // namespace bm
