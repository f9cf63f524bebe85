// pybind11 bindings: plugin_host._clap. Thin layer; the Python API (dataclasses,
// name lookup, block schedules) lives in plugin_host/clap.py.
#include "clap_host.hpp"
#include "paced.hpp"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

namespace py = pybind11;
using bm::ClapHost;

namespace {

py::dict desc_dict(const bm::PluginDesc& d) {
    py::dict out;
    out["id"] = d.id;
    out["name"] = d.name;
    out["vendor"] = d.vendor;
    out["version"] = d.version;
    out["url"] = d.url;
    out["description"] = d.description;
    out["features"] = d.features;
    return out;
}

py::list list_plugins(const std::string& path) {
    py::list out;
    for (const auto& d : bm::ClapModule::open(path)->descriptors()) out.append(desc_dict(d));
    return out;
}

py::tuple process(ClapHost& h, py::object audio, uint32_t frames, const std::vector<uint32_t>& blocks,
                  const std::vector<std::pair<int64_t, py::bytes>>& midi_in, const py::list& aux_audio) {
    std::vector<bm::MidiMsg> midi;
    for (const auto& [off, data] : midi_in) {
        const std::string s = data;
        midi.push_back({off, std::vector<uint8_t>(s.begin(), s.end())});
    }
    py::array_t<float, py::array::c_style | py::array::forcecast> in;
    const float* ptr = nullptr;
    uint32_t channels = 0;
    if (!audio.is_none()) {
        in = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(audio);
        if (!in || in.ndim() != 2 || uint32_t(in.shape(1)) != frames)
            throw std::invalid_argument("audio must be a (channels, frames) float32 array");
        ptr = in.data();
        channels = uint32_t(in.shape(0));
    }
    std::vector<py::array_t<float, py::array::c_style | py::array::forcecast>> aux_keep;
    std::vector<bm::AuxInput> aux_in;
    for (const auto& item : aux_audio) {
        auto a = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(item);
        if (!a || a.ndim() != 2 || uint32_t(a.shape(1)) != frames)
            throw std::invalid_argument("each aux input must be a (channels, frames) float32 array");
        aux_in.push_back({a.data(), uint32_t(a.shape(0))});
        aux_keep.push_back(std::move(a));
    }
    bm::ProcessOutput r;
    {
        py::gil_scoped_release release;
        r = h.process(ptr, channels, frames, blocks, midi, aux_in);
    }
    py::array_t<float> out({size_t(r.channels), size_t(frames)});
    std::copy(r.audio.begin(), r.audio.end(), out.mutable_data());
    py::list aux_out;
    for (size_t k = 0; k < r.aux.size(); ++k) {
        py::array_t<float> a({size_t(r.aux_channels[k]), size_t(frames)});
        std::copy(r.aux[k].begin(), r.aux[k].end(), a.mutable_data());
        aux_out.append(a);
    }
    py::list midi_out, param_out;
    for (const auto& m : r.midi)
        midi_out.append(py::make_tuple(m.offset, py::bytes(reinterpret_cast<const char*>(m.data.data()), m.data.size())));
    for (const auto& p : r.params) param_out.append(py::make_tuple(p.offset, p.id, p.value));
    return py::make_tuple(out, midi_out, param_out, r.statuses, aux_out);
}

py::dict paced(const std::vector<ClapHost*>& hosts, double seconds, uint32_t block, bool rt, float noise,
               py::object input, const std::vector<size_t>& record) {
    py::array_t<float, py::array::c_style | py::array::forcecast> in;
    bm::PacedInput signal;
    if (!input.is_none()) {
        in = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(input);
        if (!in || in.ndim() != 2) throw std::invalid_argument("input must be a (channels, frames) float32 array");
        signal = {in.data(), uint32_t(in.shape(0)), uint64_t(in.shape(1))};
    }
    bm::PacedResult r;
    {
        py::gil_scoped_release release;
        r = bm::paced_run(hosts, seconds, block, rt, noise, signal, record);
    }
    py::array_t<double> durations({size_t(r.blocks), hosts.size()});
    std::copy(r.durations.begin(), r.durations.end(), durations.mutable_data());
    py::dict out;
    out["period"] = r.period;
    out["blocks"] = r.blocks;
    out["overruns"] = r.overruns;
    out["out_events"] = r.out_events;
    out["rt_priority"] = r.rt_priority;
    out["durations"] = durations;
    out["period_durations"] = py::array_t<double>(r.period_durations.size(), r.period_durations.data());
    out["wake_late"] = py::array_t<double>(r.wake_late.size(), r.wake_late.data());
    out["block_times"] = py::array_t<double>(r.block_times.size(), r.block_times.data());
    out["period_cpu"] = py::array_t<double>(r.period_cpu.size(), r.period_cpu.data());
    out["period_sys"] = py::array_t<double>(r.period_sys.size(), r.period_sys.data());
    out["period_faults"] = py::array_t<uint32_t>(r.period_faults.size(), r.period_faults.data());
    out["process_errors"] = r.process_errors;
    py::list recorded;
    for (size_t j = 0; j < r.recorded.size(); ++j) {
        const size_t ch = r.recorded_channels[j], frames = ch ? r.recorded[j].size() / ch : 0;
        py::array_t<float> a({ch, frames});
        std::copy(r.recorded[j].begin(), r.recorded[j].end(), a.mutable_data());
        recorded.append(a);
    }
    out["recorded"] = recorded;
    return out;
}

}  // namespace

PYBIND11_MODULE(_clap, m) {
    m.doc() = "CLAP test host core (see plugin_host.clap for the Python API)";
    m.def("list_plugins", &list_plugins, py::arg("path"));
    m.def("probe_create", &ClapHost::probe_create, py::arg("path"), py::arg("plugin_id"));
    m.def("paced_run", &paced, py::arg("hosts"), py::arg("seconds"), py::arg("block"), py::arg("rt_priority"),
          py::arg("noise_level"), py::arg("input") = py::none(), py::arg("record") = std::vector<size_t>{});

    py::class_<ClapHost>(m, "Host")
        .def(py::init<const std::string&, const std::string&, const std::vector<std::string>&>(), py::arg("path"),
             py::arg("plugin_id"), py::arg("extensions"))
        .def_property_readonly("descriptor", [](const ClapHost& h) { return desc_dict(h.descriptor()); })
        .def("has_plugin_extension", &ClapHost::has_plugin_extension)
        .def("params", [](ClapHost& h) {
            py::list out;
            for (const auto& p : h.params())
                out.append(py::make_tuple(p.id, p.flags, p.name, p.module, p.min_value, p.max_value, p.default_value));
            return out;
        })
        .def("get_param", [](ClapHost& h, uint32_t id) -> py::object {
            double v = 0;
            if (!h.get_param(id, &v)) return py::none();
            return py::float_(v);
        })
        .def("value_to_text", [](ClapHost& h, uint32_t id, double v) -> py::object {
            std::string s;
            if (!h.value_to_text(id, v, &s)) return py::none();
            return py::str(s);
        })
        .def("text_to_value", [](ClapHost& h, uint32_t id, const std::string& s) -> py::object {
            double v = 0;
            if (!h.text_to_value(id, s, &v)) return py::none();
            return py::float_(v);
        })
        .def("queue_param", &ClapHost::queue_param)
        .def_property_readonly("pending_events", &ClapHost::pending_events)
        .def("flush_params", &ClapHost::flush_params)
        .def_property_readonly("output_params", &ClapHost::output_params)
        .def("activate", &ClapHost::activate)
        .def("deactivate", &ClapHost::deactivate)
        .def("reset", &ClapHost::reset)
        .def_property_readonly("active", &ClapHost::active)
        .def_property_readonly("processing", &ClapHost::processing)
        .def_property_readonly("has_latency", &ClapHost::has_latency)
        .def("latency", &ClapHost::latency)
        .def("idle", &ClapHost::idle, py::arg("restart"))
        .def("save_state", [](ClapHost& h, size_t chunk) -> py::object {
            std::vector<uint8_t> data;
            if (!h.save_state(chunk, &data)) return py::none();
            return py::bytes(reinterpret_cast<const char*>(data.data()), data.size());
        })
        .def("load_state", [](ClapHost& h, const py::bytes& b, size_t chunk) {
            const std::string s = b;
            return h.load_state(std::vector<uint8_t>(s.begin(), s.end()), chunk);
        })
        .def("audio_ports", [](const ClapHost& h, bool input) {
            py::list out;
            for (const auto& p : h.audio_ports(input))
                out.append(py::make_tuple(p.id, p.name, p.flags, p.channels, p.type, p.in_place_pair));
            return out;
        })
        .def("note_ports", [](const ClapHost& h, bool input) {
            py::list out;
            for (const auto& p : h.note_ports(input))
                out.append(py::make_tuple(p.id, p.name, p.supported_dialects, p.preferred_dialect));
            return out;
        })
        .def("process", &process)
        .def("set_transport", [](ClapHost& h, bool enabled, double tempo, uint16_t num, uint16_t den, bool playing,
                                 double beats) {
            bm::Transport t;
            t.enabled = enabled;
            t.tempo = tempo;
            t.numerator = num;
            t.denominator = den;
            t.playing = playing;
            t.position_beats = beats;
            h.set_transport(t);
        })
        .def("get_transport", [](const ClapHost& h) {
            const auto& t = h.transport();
            return py::make_tuple(t.enabled, t.tempo, t.numerator, t.denominator, t.playing,
                                  t.current_beats(h.sample_rate()));
        })
        .def("calls", [](const ClapHost& h) {
            py::list out;
            for (const auto& c : h.calls()) out.append(py::make_tuple(c.name, c.thread, c.phase));
            return out;
        })
        .def("violations", &ClapHost::violations)
        .def("logs", [](const ClapHost& h) {
            py::list out;
            for (const auto& l : h.logs()) out.append(py::make_tuple(l.severity, l.message, l.thread));
            return out;
        })
        .def("extension_queries", &ClapHost::extension_queries)
        .def_property_readonly("restart_requested", &ClapHost::restart_requested)
        .def_property_readonly("callback_requested", &ClapHost::callback_requested);
}
