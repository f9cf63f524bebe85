// Negative control for the RTSan host (rtsan_host --canary): built with g++ like the
// plugins, it allocates when called. Called from inside a [[clang::nonblocking]] scope,
// RTSan must report it — proof that the sanitizer sees into g++-built shared objects.
#include <cstdlib>

extern "C" __attribute__((visibility("default"))) void bm_rtsan_canary()
{
    void* volatile p = std::malloc(64);
    std::free(p);
}
