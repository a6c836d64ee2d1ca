#include "test/loadtest/scan.hpp"

#include <charconv>

namespace tlsync::loadtest {

void append_marker(std::string& out, char kind, std::uint32_t sender, std::int64_t sent_ns) {
    char buf[48];
    out += marker_prefix;
    out += kind;
    auto r = std::to_chars(buf, buf + sizeof buf, sender);
    out.append(buf, r.ptr);
    out += '~';
    r = std::to_chars(buf, buf + sizeof buf, sent_ns);
    out.append(buf, r.ptr);
}

namespace detail {

message_kind kind_of(std::string_view msg) noexcept {
    constexpr std::string_view head = R"({"type":")";
    if (!msg.starts_with(head)) return message_kind::other;
    const std::string_view t = msg.substr(head.size());
    if (t.starts_with(R"(data")")) {
        // A relay batch holds forwarded pushes, a server batch patches and results.
        return msg.substr(head.size() + 14, 16).starts_with(R"({"type":"push",)")
                   ? message_kind::relay_push
                   : message_kind::data;
    }
    if (t.starts_with(R"(patch")")) return message_kind::patch;
    if (t.starts_with(R"(push_result")")) return message_kind::push_result;
    if (t.starts_with(R"(push")")) return message_kind::relay_push;
    if (t.starts_with(R"(pong")")) return message_kind::pong;
    if (t.starts_with(R"(connect")")) return message_kind::connect;
    if (t.starts_with(R"(custom")")) return message_kind::custom;
    if (t.starts_with(R"(incompatibility_error")")) return message_kind::incompatibility_error;
    return message_kind::other;
}

void count_events(std::string_view msg, scan_result& r) noexcept {
    // Every event object starts with `{"type":"p`: patch, push_result or a
    // forwarded push. Records never contain that sequence (shape and
    // richText node types are not p-words with that prefix: "paragraph" is
    // told apart below).
    constexpr std::string_view needle = R"({"type":"p)";
    std::size_t at = 0;
    while ((at = msg.find(needle, at)) != std::string_view::npos) {
        at += needle.size();
        const std::string_view t = msg.substr(at);
        if (t.starts_with(R"(atch")")) {
            ++r.patches;
        } else if (t.starts_with(R"(ush_result")")) {
            const auto a = t.find(R"("action":)");
            if (a == std::string_view::npos) continue;
            const std::string_view v = t.substr(a + 9);
            if (v.starts_with(R"("commit")"))
                ++r.commits;
            else if (v.starts_with(R"("discard")"))
                ++r.discards;
            else if (v.starts_with(R"({"rebaseWithDiff")"))
                ++r.rebases;
        } else if (t.starts_with(R"(ush",)")) {
            ++r.patches;
        }
    }
}

bool parse_marker(std::string_view rest, marker& m) noexcept {
    if (rest.empty()) return false;
    m.kind = rest.front();
    const char* p = rest.data() + 1;
    const char* end = rest.data() + rest.size();
    auto r = std::from_chars(p, end, m.sender);
    if (r.ec != std::errc{} || r.ptr == end || *r.ptr != '~') return false;
    r = std::from_chars(r.ptr + 1, end, m.sent_ns);
    return r.ec == std::errc{} && r.ptr != end && *r.ptr == '"';
}

} // namespace detail

} // namespace tlsync::loadtest
