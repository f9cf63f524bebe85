#include "BackendSpawner.hpp"

#include "BackendLink.hpp"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <fstream>
#include <spawn.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace bandmate {

namespace {

std::string envOr(const char* name, const std::string& fallback)
{
    const char* v = std::getenv(name);
    return (v != nullptr && *v != '\0') ? std::string(v) : fallback;
}

// `key = ...` from $XDG_CONFIG_HOME/bandmate/backend.conf (or ~/.config/...).
std::string configured(const char* key)
{
    const std::string home = envOr("HOME", "/tmp");
    const std::string path = envOr("XDG_CONFIG_HOME", home + "/.config") + "/bandmate/backend.conf";
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        const auto eq = line.find('=');
        if (eq == std::string::npos)
            continue;
        std::string k = line.substr(0, eq);
        k.erase(k.find_last_not_of(" \t") + 1);
        if (k == key) {
            std::string v = line.substr(eq + 1);
            v.erase(0, v.find_first_not_of(" \t"));
            v.erase(v.find_last_not_of(" \t\r") + 1);
            return v;
        }
    }
    return {};
}

}  // namespace

BackendLocation locateBackend()
{
    BackendLocation loc;
    std::string base = envOr("XDG_RUNTIME_DIR", "");
    loc.runtimeDir = envOr("BANDMATE_RUNTIME_DIR",
                           base.empty() ? "/tmp/bandmate-" + std::to_string(getuid()) : base + "/bandmate");
    // Per-user, private: other users must not reach our backend socket.
    mkdir(loc.runtimeDir.c_str(), 0700);
    chmod(loc.runtimeDir.c_str(), 0700);
    loc.endpoint = envOr("BANDMATE_ENDPOINT", "ipc://" + loc.runtimeDir + "/backend.sock");
    std::string cmd = envOr("BANDMATE_BACKEND_CMD", "");
    if (cmd.empty())
        cmd = configured("command");
    if (cmd.empty())
        cmd = "bandmate backend";
    loc.spawnCommand = envOr("BANDMATE_NO_SPAWN", "") == "1" ? std::string() : cmd;
    // A backend on another machine (TCP) is reached over CURVE with its public key.
    loc.curveServerKey = envOr("BANDMATE_CURVE_SERVER_KEY", configured("curve_server_key"));
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0) {
        const std::string fromConfig = configured("bridge_cpu");
        loc.bridgeCpu = chooseBridgeCpu(envOr("BANDMATE_BRIDGE_CPU", fromConfig.empty() ? "auto" : fromConfig), allowed);
    }
    return loc;
}

int chooseBridgeCpu(const std::string& raw, const cpu_set_t& allowed)
{
    // Trimmed and lower-cased, as bandmate/bridge_cpu.py reads it ("Auto ", "OFF").
    const auto first = raw.find_first_not_of(" \t\r\n");
    std::string setting = first == std::string::npos ? "" : raw.substr(first, raw.find_last_not_of(" \t\r\n") - first + 1);
    for (char& c : setting)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (setting == "off" || setting == "none" || CPU_COUNT(&allowed) < 2)
        return -1;
    if (setting == "auto" || setting.empty()) {
        for (int cpu = CPU_SETSIZE - 1; cpu >= 0; --cpu)
            if (CPU_ISSET(cpu, &allowed))
                return cpu;
        return -1;
    }
    char* end = nullptr;
    const long cpu = std::strtol(setting.c_str(), &end, 10);
    const bool valid = end != setting.c_str() && *end == '\0' && cpu >= 0 && cpu < CPU_SETSIZE;
    return valid && CPU_ISSET(static_cast<int>(cpu), &allowed) ? static_cast<int>(cpu) : -1;
}

bool spawnBackend(const std::string& command, const std::string& endpoint, const std::string& runtimeDir)
{
    const std::string lockPath = runtimeDir + "/spawn.lock";
    const int fd = open(lockPath.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0)
        return false;
    bool started = false;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
        struct stat st;
        // Another instance spawned within the last 2 s: give that backend time to start.
        if (fstat(fd, &st) == 0 && st.st_size > 0 && std::time(nullptr) - st.st_mtime < 2) {
            flock(fd, LOCK_UN);
            close(fd);
            return false;
        }
        std::vector<std::string> envStore;
        for (char** e = environ; *e != nullptr; ++e)
            if (std::strncmp(*e, "BANDMATE_ENDPOINT=", 18) != 0)
                envStore.emplace_back(*e);
        envStore.push_back("BANDMATE_ENDPOINT=" + endpoint);
        std::vector<char*> envp;
        for (auto& s : envStore)
            envp.push_back(s.data());
        envp.push_back(nullptr);
        // The shell backgrounds the backend in its own session and exits at once, so the
        // backend is re-parented to init and never becomes our zombie.
        // One BLAS thread per backend process: engines run per hop, and BLAS thread pools
        // only add jitter (and on small machines compete with the DAW).
        const std::string script = "OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1} OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} "
                                   "setsid " + command + " </dev/null >/dev/null 2>&1 &";
        const char* argv[] = {"/bin/sh", "-c", script.c_str(), nullptr};
        pid_t pid = 0;
        if (posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), envp.data()) == 0) {
            int status = 0;
            waitpid(pid, &status, 0);
            started = true;
            const char stamp[] = "spawned\n";
            if (ftruncate(fd, 0) == 0 && write(fd, stamp, sizeof(stamp) - 1) > 0)
                futimens(fd, nullptr);
        }
        flock(fd, LOCK_UN);
    }
    close(fd);
    return started;
}

}  // namespace bandmate
