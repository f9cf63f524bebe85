// Argument helpers shared by the pybind11 bindings (bindings.cpp, resonance_bindings.cpp).
// std::invalid_argument surfaces as ValueError.
#pragma once

#include <stdexcept>
#include <string>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

namespace bm::py_util {

namespace py = pybind11;

inline std::string shape_str(const py::array& a) {
    std::string s = "(";
    for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
    return s + (a.ndim() == 1 ? ",)" : ")");
}

inline py::array as_real_array(const py::object& obj, const char* what) {
    py::array a = py::array::ensure(obj);
    if (!a) throw std::invalid_argument(std::string(what) + " must be an array");
    const char kind = a.dtype().kind();
    if (kind != 'f' && kind != 'i' && kind != 'u')
        throw std::invalid_argument(std::string(what) + " must be a real array, got dtype " +
                                    py::str(a.dtype()).cast<std::string>());
    return a;
}

}  // namespace bm::py_util
