#include "server/allocator.hpp"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <cstddef>

// jemalloc's control interface, declared weak: it is non-null exactly when
// jemalloc is the process's allocator (linked, as tlsyncd is by default, or
// LD_PRELOADed), so the choice is made by linking, not by this file.
extern "C" int mallctl(const char* name, void* oldp, std::size_t* oldlenp, void* newp,
                       std::size_t newlen) __attribute__((weak));

namespace tlsync::server::allocator {

namespace {
bool jemalloc() noexcept { return &mallctl != nullptr; }
} // namespace

std::string_view name() noexcept {
    if (jemalloc()) return "jemalloc";
#if defined(__GLIBC__)
    return "glibc";
#else
    return "system";
#endif
}

void release_free_memory() noexcept {
    if (jemalloc()) {
        // "arena.<MALLCTL_ARENAS_ALL>.purge": every arena's unused dirty and
        // muzzy pages, now. 4096 is MALLCTL_ARENAS_ALL in jemalloc 5.
        ::mallctl("arena.4096.purge", nullptr, nullptr, nullptr, 0);
        return;
    }
#if defined(__GLIBC__)
    ::malloc_trim(0);
#endif
}

} // namespace tlsync::server::allocator
