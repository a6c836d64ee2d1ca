#include "server/allocator.hpp"

#include <boost/test/unit_test.hpp>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TLSYNC_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TLSYNC_TEST_SANITIZED 1
#endif
#endif

namespace alloc = tlsync::server::allocator;

namespace {

#if !defined(TLSYNC_TEST_SANITIZED)
// Resident set of this process, in KiB (/proc/self/status VmRSS).
long rss_kib() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return -1;
}
#endif

} // namespace

BOOST_AUTO_TEST_SUITE(allocator)

BOOST_AUTO_TEST_CASE(names_the_allocator_in_use) {
    const std::string name(alloc::name());
    BOOST_TEST((name == "jemalloc" || name == "glibc" || name == "system"));
}

// The housekeeping call must actually return what a burst left behind: 64 MiB
// in 4 KiB blocks, every other one freed first (so nothing is at the top of a
// heap, where glibc would give it back by itself), then the rest.
BOOST_AUTO_TEST_CASE(release_free_memory_returns_a_bursts_pages) {
#if defined(TLSYNC_TEST_SANITIZED)
    BOOST_TEST_MESSAGE("skipped: the sanitizer's allocator is in use");
#else
    alloc::release_free_memory();
    const long before = rss_kib();
    BOOST_REQUIRE(before > 0);
    {
        std::vector<std::unique_ptr<char[]>> blocks(16384);
        for (auto& b : blocks) {
            b.reset(new char[4096]);
            for (int i = 0; i < 4096; i += 512) b[i] = static_cast<char>(i);
        }
        const long full = rss_kib();
        BOOST_TEST(full - before > 50 * 1024, "the burst was resident: " << full - before << " KiB");
        for (std::size_t i = 0; i < blocks.size(); i += 2) blocks[i].reset();
        blocks.clear();
    }
    alloc::release_free_memory();
    const long after = rss_kib();
    BOOST_TEST(after - before < 16 * 1024,
               alloc::name() << " kept " << after - before << " KiB of a 64 MiB burst");
#endif
}

BOOST_AUTO_TEST_SUITE_END()
