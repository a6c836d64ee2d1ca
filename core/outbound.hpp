#pragma once
// A message on its way to one websocket, as shared, immutable fragments.
// A broadcast patch is encoded once and the same bytes are referenced by every
// recipient's `data` message; the writer sends the fragments as one frame
// (scatter/gather), so nothing is copied per recipient.

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

enum class outbound_kind { connect, data, pong, custom, incompatibility_error };

struct outbound_message {
    outbound_kind kind = outbound_kind::data;
    // data: the encoded events, framed as {"type":"data","data":[e1,e2,...]}.
    // Every other kind: exactly one fragment holding the whole message.
    std::vector<shared_text> parts;

    static constexpr std::string_view data_prefix = R"({"type":"data","data":[)";
    static constexpr std::string_view data_separator = ",";
    static constexpr std::string_view data_suffix = "]}";

    // Bytes on the wire.
    [[nodiscard]] std::size_t size() const noexcept {
        std::size_t n = 0;
        for (const auto& p : parts) n += p->size();
        if (kind == outbound_kind::data)
            n += data_prefix.size() + data_suffix.size() +
                 (parts.empty() ? 0 : parts.size() - 1) * data_separator.size();
        return n;
    }

    // Visits the frame's bytes in order, e.g. to build a buffer sequence.
    template <class F> void for_each_fragment(F&& f) const {
        if (kind != outbound_kind::data) {
            for (const auto& p : parts) f(std::string_view(*p));
            return;
        }
        f(data_prefix);
        for (std::size_t i = 0; i < parts.size(); ++i) {
            if (i) f(data_separator);
            f(std::string_view(*parts[i]));
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

} // namespace tlsync::core
