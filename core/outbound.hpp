#pragma once
// A message on its way to one websocket, as shared, immutable fragments.
// A broadcast patch is encoded once and the same bytes are referenced by every
// recipient's `data` message; in a busy room, the patches a session's debounce
// window collected are one span of the room's broadcast log. The writer sends
// a message alone from these bytes as they are, and joins several queued data
// messages into one contiguous frame (coalesce_data): one memcpy of a few
// kilobytes costs far less than the extra sendmsg calls a long scatter/gather
// list takes (Asio hands the kernel at most 64 buffers).

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tlsync::core {

using shared_text = std::shared_ptr<const std::string>;

[[nodiscard]] inline shared_text make_shared_text(std::string s) {
    return std::make_shared<const std::string>(std::move(s));
}

// Bytes that `owner` keeps alive and never changes: a whole shared_text, or
// a span of a room's broadcast log.
struct text_slice {
    std::shared_ptr<const void> owner;
    std::string_view bytes;

    text_slice() = default;
    text_slice(shared_text text) noexcept { // NOLINT(google-explicit-constructor): a whole text
        if (text) bytes = *text;
        owner = std::move(text);
    }
    text_slice(std::shared_ptr<const void> owner, std::string_view bytes) noexcept
        : owner(std::move(owner)), bytes(bytes) {}
    [[nodiscard]] std::size_t size() const noexcept { return bytes.size(); }
};

enum class outbound_kind { connect, data, pong, custom, incompatibility_error };

struct outbound_message {
    outbound_kind kind = outbound_kind::data;
    // data: the encoded events, framed as {"type":"data","data":[e1,e2,...]};
    // a part may hold several events, comma-joined (a span of a room's log).
    // Every other kind: the fragments of the message, concatenated (a connect
    // response shares its documents fragment with other connects).
    std::vector<text_slice> parts;

    static constexpr std::string_view data_prefix = R"({"type":"data","data":[)";
    static constexpr std::string_view data_separator = ",";
    static constexpr std::string_view data_suffix = "]}";

    // Bytes on the wire.
    [[nodiscard]] std::size_t size() const noexcept {
        std::size_t n = 0;
        for (const auto& p : parts) n += p.size();
        if (kind == outbound_kind::data)
            n += data_prefix.size() + data_suffix.size() +
                 (parts.empty() ? 0 : parts.size() - 1) * data_separator.size();
        return n;
    }

    // Visits the frame's bytes in order, e.g. to build a buffer sequence.
    template <class F> void for_each_fragment(F&& f) const {
        if (kind != outbound_kind::data) {
            for (const auto& p : parts) f(p.bytes);
            return;
        }
        f(data_prefix);
        for (std::size_t i = 0; i < parts.size(); ++i) {
            if (i) f(data_separator);
            f(parts[i].bytes);
        }
        f(data_suffix);
    }

    // The whole frame as one string (tests, logging, small writes).
    [[nodiscard]] std::string text() const {
        std::string s;
        s.reserve(size());
        for_each_fragment([&](std::string_view f) { s.append(f); });
        return s;
    }
};

// How many messages from `first` coalesce_data joins into one frame: the run of
// data messages at the front, stopped before the frame would pass `max_bytes`
// (the first message always counts, however large). 0 when `first` is not a
// data message: other kinds are written alone, as they are.
template <class It>
[[nodiscard]] std::size_t data_run_length(It first, It last, std::size_t max_bytes) noexcept {
    constexpr std::size_t framing =
        outbound_message::data_prefix.size() + outbound_message::data_suffix.size();
    std::size_t n = 0, payload = 0, parts = 0;
    for (; first != last && first->kind == outbound_kind::data; ++first, ++n) {
        std::size_t p = payload, k = parts + first->parts.size();
        for (const auto& part : first->parts) p += part.size();
        const std::size_t frame =
            framing + p + (k == 0 ? 0 : k - 1) * outbound_message::data_separator.size();
        if (n > 0 && frame > max_bytes) break;
        payload = p;
        parts = k;
    }
    return n;
}

// Writes the data messages [first, last) as one data message into `out`
// (replacing its contents, keeping its capacity). The client applies the
// events of a data message in order, so {"data":[a,b]} then {"data":[c]} is
// the same to it as {"data":[a,b,c]}.
template <class It> void coalesce_data(It first, It last, std::string& out) {
    out.clear();
    std::size_t size = outbound_message::data_prefix.size() + outbound_message::data_suffix.size();
    for (It it = first; it != last; ++it)
        for (const auto& p : it->parts) size += p.size() + outbound_message::data_separator.size();
    out.reserve(size);
    out.append(outbound_message::data_prefix);
    bool first_part = true;
    for (It it = first; it != last; ++it)
        for (const auto& p : it->parts) {
            if (!first_part) out.append(outbound_message::data_separator);
            first_part = false;
            out.append(p.bytes);
        }
    out.append(outbound_message::data_suffix);
}

} // namespace tlsync::core
