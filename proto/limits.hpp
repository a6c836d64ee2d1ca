#pragma once
// Bounds applied to untrusted input. Every message a peer sends is parsed and
// validated under these, so one hostile socket cannot exhaust memory or stack.

#include <cstddef>

namespace tlsync::proto {

// tldraw clients split outgoing messages into chunks of at most this many
// UTF-16 units (a quarter of Cloudflare's 1 MiB frame limit, at 4 bytes/char).
inline constexpr std::size_t default_chunk_size = 262144;

struct decode_limits {
    // Largest message accepted, in UTF-8 bytes, whether it arrives whole or is
    // reassembled from chunks. Whole documents are pasted in one push, so this
    // is well above a single chunk.
    std::size_t max_message_bytes = std::size_t{32} * 1024 * 1024;
    // Array/object nesting. tldraw rich text (nested lists) legitimately goes
    // a few dozen levels deep inside a push; past this it is an attack.
    std::size_t max_depth = 128;
    // Records in one NetworkDiff (a push's `diff`, a connect/patch diff).
    std::size_t max_records_per_diff = 100'000;
};

} // namespace tlsync::proto
