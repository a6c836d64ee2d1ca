#pragma once
// What the generator reads from a server message, found by scanning the text
// rather than parsing it: the message type, the number of patch events, the
// action of each push_result, and the latency markers the generator itself
// put into records. A W1 client receives thousands of patches a second; full
// JSON decoding would cost more than the server spends producing them.
//
// The scan relies on the server writing JSON the way JSON.stringify does (no
// whitespace, `type` first), which tlsyncd and TLSocketRoom both do, and on
// record contents never holding the byte sequences searched for; the records
// are the generator's own.

#include <cstdint>
#include <string>
#include <string_view>

namespace tlsync::loadtest {

enum class message_kind {
    other,
    connect,
    data,        // {"type":"data","data":[...]}
    patch,       // a bare patch event
    push_result, // a bare push_result
    pong,
    relay_push, // a push forwarded as is (bench_relay), or a data batch of them
    custom,
    incompatibility_error,
};

struct scan_result {
    message_kind kind = message_kind::other;
    std::uint32_t patches = 0; // patch events, or forwarded pushes
    std::uint32_t commits = 0;
    std::uint32_t discards = 0;
    std::uint32_t rebases = 0;
};

// `"~lt~<kind><sender>~<steady_clock ns>"`: the value the generator puts in
// meta.lt of every record it pushes. kind: p(resence), e(dit), c(reate).
inline constexpr std::string_view marker_prefix = "~lt~";
void append_marker(std::string& out, char kind, std::uint32_t sender, std::int64_t sent_ns);

struct marker {
    char kind = 0;
    std::uint32_t sender = 0;
    std::int64_t sent_ns = 0;
};

// Calls on_marker(marker) for every marker in a data/patch/push message (not
// in connect events: those repeat old records).
template <class F> scan_result scan_message(std::string_view msg, F&& on_marker);

// ---------------------------------------------------------------- implementation

namespace detail {
message_kind kind_of(std::string_view msg) noexcept;
void count_events(std::string_view msg, scan_result& r) noexcept;
// Parses a marker at p (just past the prefix); returns false if malformed.
bool parse_marker(std::string_view rest, marker& m) noexcept;
} // namespace detail

template <class F> scan_result scan_message(std::string_view msg, F&& on_marker) {
    scan_result r;
    r.kind = detail::kind_of(msg);
    switch (r.kind) {
    case message_kind::data:
    case message_kind::patch:
    case message_kind::push_result:
    case message_kind::relay_push:
        break;
    default:
        return r;
    }
    detail::count_events(msg, r);
    std::size_t at = 0;
    while ((at = msg.find(marker_prefix, at)) != std::string_view::npos) {
        at += marker_prefix.size();
        marker m;
        if (detail::parse_marker(msg.substr(at), m)) on_marker(m);
    }
    return r;
}

} // namespace tlsync::loadtest
