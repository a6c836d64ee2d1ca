// parse_json: Boost.JSON's iterative parser with a value-building handler of
// our own, for one reason: Boost.JSON 1.81 converts decimal numbers to double
// imprecisely (about one in ten coordinates lands an ulp off), and it has no
// option for exact conversion yet. JavaScript clients round-trip doubles
// exactly, so we re-convert each double's text with std::from_chars, which is
// correctly rounded. Everything else is what boost::json::parser does.

#include "proto/codec.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/value_stack.hpp>

#include <charconv>
#include <exception>
#include <new>
#include <optional>
#include <string>

namespace tlsync::proto {

namespace {

class value_handler {
public:
    static constexpr std::size_t max_object_size = json::object::max_size();
    static constexpr std::size_t max_array_size = json::array::max_size();
    static constexpr std::size_t max_key_size = json::string::max_size();
    static constexpr std::size_t max_string_size = json::string::max_size();

    json::value_stack st;

    bool on_document_begin(json::error_code&) { return true; }
    bool on_document_end(json::error_code&) { return true; }
    bool on_object_begin(json::error_code&) { return true; }
    bool on_object_end(std::size_t n, json::error_code&) {
        st.push_object(n);
        return true;
    }
    bool on_array_begin(json::error_code&) { return true; }
    bool on_array_end(std::size_t n, json::error_code&) {
        st.push_array(n);
        return true;
    }
    bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
        st.push_chars(s);
        return true;
    }
    bool on_key(json::string_view s, std::size_t, json::error_code&) {
        st.push_key(s);
        return true;
    }
    bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
        st.push_chars(s);
        return true;
    }
    bool on_string(json::string_view s, std::size_t, json::error_code&) {
        st.push_string(s);
        return true;
    }
    bool on_number_part(json::string_view s, json::error_code&) {
        number_.append(s.data(), s.size());
        return true;
    }
    bool on_int64(std::int64_t i, json::string_view, json::error_code&) {
        number_.clear();
        st.push_int64(i);
        return true;
    }
    bool on_uint64(std::uint64_t u, json::string_view, json::error_code&) {
        number_.clear();
        st.push_uint64(u);
        return true;
    }
    bool on_double(double d, json::string_view s, json::error_code&) {
        number_.append(s.data(), s.size());
        double exact = 0;
        const auto* first = number_.data();
        const auto* last = first + number_.size();
        // Out of range (e.g. 1e400) keeps Boost's value, as JavaScript's
        // Infinity cannot be represented in JSON anyway.
        if (auto [p, ec] = std::from_chars(first, last, exact); ec == std::errc{} && p == last)
            d = exact;
        number_.clear();
        st.push_double(d);
        return true;
    }
    bool on_bool(bool b, json::error_code&) {
        st.push_bool(b);
        return true;
    }
    bool on_null(json::error_code&) {
        st.push_null();
        return true;
    }
    bool on_comment_part(json::string_view, json::error_code&) { return true; }
    bool on_comment(json::string_view, json::error_code&) { return true; }

private:
    std::string number_; // a number's text split across on_number_part calls
};

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// The UTF-16 unit of a backslash-u escape (four hex digits) at text[i], or -1.
long escaped_unit(std::string_view text, std::size_t i) noexcept {
    if (i + 6 > text.size() || text[i] != '\\' || text[i + 1] != 'u') return -1;
    long unit = 0;
    for (std::size_t k = i + 2; k < i + 6; ++k) {
        const int h = hex_value(text[k]);
        if (h < 0) return -1;
        unit = unit * 16 + h;
    }
    return unit;
}

// JSON.stringify writes a lone surrogate (text cut mid-emoji, odd pastes) as
// a backslash-u escape and JavaScript parses it back; Boost.JSON 1.81 rejects
// it, which would lock such a client out in a reconnect loop. Rewrite each
// lone surrogate escape to the escape of U+FFFD (same length) before parsing.
// Returns nothing when the text has none: the common case, costing one scan.
std::optional<std::string> replace_lone_surrogates(std::string_view text) {
    std::optional<std::string> fixed;
    for (std::size_t i = text.find('\\'); i != std::string_view::npos && i < text.size();) {
        const long unit = escaped_unit(text, i);
        if (unit < 0) {
            // Another escape: skip both characters, so that an escaped
            // backslash followed by a literal u is not read as an escape.
            i = text.find('\\', i + 2);
            continue;
        }
        std::size_t next = i + 6;
        bool lone = false;
        if (unit >= 0xD800 && unit <= 0xDBFF) {
            const long low = escaped_unit(text, i + 6);
            if (low >= 0xDC00 && low <= 0xDFFF)
                next = i + 12;
            else
                lone = true;
        } else if (unit >= 0xDC00 && unit <= 0xDFFF) {
            lone = true;
        }
        if (lone) {
            if (!fixed) fixed.emplace(text);
            fixed->replace(i + 2, 4, "fffd");
        }
        i = text.find('\\', next);
    }
    return fixed;
}

} // namespace

decode_result<json::value> parse_json(std::string_view text, const decode_limits& limits) {
    if (text.size() > limits.max_message_bytes)
        return decode_error{decode_errc::message_too_large,
                            "message of " + std::to_string(text.size()) + " bytes exceeds " +
                                std::to_string(limits.max_message_bytes)};
    json::parse_options opts;
    opts.max_depth = limits.max_depth;
    try {
        const auto fixed = replace_lone_surrogates(text);
        if (fixed) text = *fixed;
        json::basic_parser<value_handler> p(opts);
        p.handler().st.reset();
        json::error_code ec;
        const auto consumed = p.write_some(false, text.data(), text.size(), ec);
        if (!ec && consumed < text.size()) ec = json::error::extra_data;
        if (!ec) return p.handler().st.release();
        const auto code =
            ec == json::error::too_deep ? decode_errc::too_deep : decode_errc::invalid_json;
        return decode_error{code, "invalid JSON at byte " + std::to_string(consumed) + ": " +
                                      ec.message()};
    } catch (const std::bad_alloc&) {
        return decode_error{decode_errc::message_too_large, "out of memory while parsing"};
    } catch (const std::exception& e) {
        // Boost.JSON throws for a few limits of its own (e.g. string length).
        return decode_error{decode_errc::invalid_json, std::string("invalid JSON: ") + e.what()};
    }
}

} // namespace tlsync::proto
