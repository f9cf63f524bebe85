// Loading a .clap shared object: dlopen, clap_entry->init/deinit, plugin factory.
// One ClapModule per path is shared by every plugin instance created from it; the
// entry is deinitialised and the library closed when the last instance goes away.
#pragma once

#include <clap/entry.h>
#include <clap/plugin-factory.h>

#include <memory>
#include <string>
#include <vector>

namespace bm {

struct PluginDesc {
    std::string id, name, vendor, version, url, description;
    std::vector<std::string> features;
};

class ClapModule {
public:
    // Opens (or reuses) the module at `path`; throws std::runtime_error on failure.
    static std::shared_ptr<ClapModule> open(const std::string& path);
    ~ClapModule();
    ClapModule(const ClapModule&) = delete;
    ClapModule& operator=(const ClapModule&) = delete;

    const clap_plugin_factory_t* factory() const { return factory_; }
    const std::string& path() const { return path_; }
    std::vector<PluginDesc> descriptors() const;
    // Descriptor whose id equals `id`, or the first one when `id` is empty.
    const clap_plugin_descriptor_t* find(const std::string& id) const;

private:
    explicit ClapModule(const std::string& path);
    std::string path_;
    void* handle_ = nullptr;
    const clap_plugin_entry_t* entry_ = nullptr;
    const clap_plugin_factory_t* factory_ = nullptr;
};

PluginDesc describe(const clap_plugin_descriptor_t* d);

}  // namespace bm
