#pragma once
// The heap allocator the process runs on (chosen at build time, see
// server/CMakeLists.txt) and the one thing the server asks of it: give free
// memory back to the system after a burst.

#include <string_view>

namespace tlsync::server::allocator {

// "jemalloc" or "glibc" (or "system" elsewhere), for the startup log.
std::string_view name() noexcept;

// Returns free pages to the system. glibc keeps freed blocks in the middle of
// its heaps until malloc_trim; jemalloc purges dirty pages on its own decay
// schedule, but only when the process allocates, so an idle server after a
// burst keeps them until told. Blocking (milliseconds on a large heap): call
// it on the blocking pool, never on an I/O thread.
void release_free_memory() noexcept;

} // namespace tlsync::server::allocator
