#include "clap_module.hpp"

#include <dlfcn.h>

#include <map>
#include <mutex>
#include <stdexcept>

namespace bm {

namespace {
std::mutex g_modules_mutex;
std::map<std::string, std::weak_ptr<ClapModule>> g_modules;

std::string str(const char* s) { return s ? std::string(s) : std::string(); }
}  // namespace

PluginDesc describe(const clap_plugin_descriptor_t* d) {
    PluginDesc out;
    out.id = str(d->id);
    out.name = str(d->name);
    out.vendor = str(d->vendor);
    out.version = str(d->version);
    out.url = str(d->url);
    out.description = str(d->description);
    for (const char** f = d->features; f && *f; ++f)
        out.features.emplace_back(*f);
    return out;
}

std::shared_ptr<ClapModule> ClapModule::open(const std::string& path) {
    std::lock_guard<std::mutex> lock(g_modules_mutex);
    auto it = g_modules.find(path);
    if (it != g_modules.end())
        if (auto existing = it->second.lock())
            return existing;
    std::shared_ptr<ClapModule> mod(new ClapModule(path));
    g_modules[path] = mod;
    return mod;
}

ClapModule::ClapModule(const std::string& path) : path_(path) {
    handle_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle_) {
        const char* err = dlerror();
        throw std::runtime_error("dlopen failed for " + path + ": " + str(err));
    }
    entry_ = static_cast<const clap_plugin_entry_t*>(dlsym(handle_, "clap_entry"));
    if (!entry_) {
        dlclose(handle_);
        throw std::runtime_error(path + " has no clap_entry symbol");
    }
    if (!clap_version_is_compatible(entry_->clap_version)) {
        dlclose(handle_);
        throw std::runtime_error(path + ": incompatible CLAP version");
    }
    if (!entry_->init(path.c_str())) {
        dlclose(handle_);
        throw std::runtime_error(path + ": clap_entry.init() failed");
    }
    factory_ = static_cast<const clap_plugin_factory_t*>(entry_->get_factory(CLAP_PLUGIN_FACTORY_ID));
    if (!factory_) {
        entry_->deinit();
        dlclose(handle_);
        throw std::runtime_error(path + ": no clap.plugin-factory");
    }
}

ClapModule::~ClapModule() {
    entry_->deinit();
    dlclose(handle_);
}

std::vector<PluginDesc> ClapModule::descriptors() const {
    std::vector<PluginDesc> out;
    const uint32_t n = factory_->get_plugin_count(factory_);
    for (uint32_t i = 0; i < n; ++i)
        if (const auto* d = factory_->get_plugin_descriptor(factory_, i))
            out.push_back(describe(d));
    return out;
}

const clap_plugin_descriptor_t* ClapModule::find(const std::string& id) const {
    const uint32_t n = factory_->get_plugin_count(factory_);
    for (uint32_t i = 0; i < n; ++i) {
        const auto* d = factory_->get_plugin_descriptor(factory_, i);
        if (d && (id.empty() || (d->id && id == d->id)))
            return d;
    }
    return nullptr;
}

}  // namespace bm
