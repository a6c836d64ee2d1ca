#pragma once
// Record validators: an interpreter for a small JSON grammar that mirrors
// @tldraw/validate, so a record is accepted or rejected exactly as the
// TypeScript sync server would (and with upstream's messages, e.g.
// `At shape(type = geo).props.w: Expected a non-zero positive number, got -5`).
// The tldraw description is generated from the real package
// (core/tldraw_validators_data.cpp, scripts/gen-tldraw-schema); custom record
// schemas can be written in the same grammar.
//
// Grammar. A description is { "defs": { name: node }, "records": { name: node } }.
// A node is an object with a "kind":
//   string boolean bigint            typeof checks (bigint never matches JSON)
//   number                            any finite number
//   positive_number                   >= 0          nonzero_number      > 0
//   nonzero_finite_number             != 0          unit_interval       0..1
//   integer  positive_integer (>= 0)  nonzero_integer (> 0)
//                                     each number kind also takes "min" and/or "max"
//                                     (inclusive bounds, checked after the kind's own)
//   any unknown                       anything, including an absent key
//   json                              any JSON value (not an absent key)
//   array                             any array
//   unknown_object                    any object (or array: JS typeof)
//   index_key                         a fractional-indexing key (@tldraw/utils validateIndexKey)
//   link_url src_url http_url         "" or a URL (WHATWG parse) with an allowed protocol:
//                                     http/https/mailto; http/https/data/asset; http/https
//   literal   {"value": v}            exactly v
//   enum      {"values": [v...]}      one of the values (strings, numbers, booleans)
//   id        {"prefix": p}           a string starting with "p:"
//   optional  {"of": node}            the key may be absent (JSON null is not absent)
//   nullable  {"of": node}            null, or the node
//   object    {"fields": {k: node}, "allow_unknown": false}
//                                     fields checked in order; unknown keys rejected
//                                     unless allow_unknown
//   dict      {"key": node, "value": node}
//   array_of  {"of": node, "min_length": 0|1|2}
//   union     {"key": k, "variants": {v: node}, "number_keys": false}
//                                     dispatch on the object's k (shape/binding/asset `type`)
//   model     {"name": n, "of": node} prefixes error paths with n (a record type)
//   or        {"of": [a, b]}          a, else b
//   ref       {"name": def}           the node named def in "defs" (may recurse)
//   custom    {"name": n}             a check written in C++: hand-ported ones
//                                     (custom_validator_names()) or the caller's
//                                     (validator_library's `checks`)
//
// Compiling builds a tree of nodes once; validation walks it without JSON
// lookups into the description and allocates nothing unless it fails.
// Compile errors name the node by JSON Pointer into the description
// ("/records/shape/of/variants/geo/fields/props"; a ref's target is under
// "/defs/<name>").

#include "core/schema.hpp"
#include "proto/json.hpp"

#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tlsync::core {

namespace detail {
struct vnode;
} // namespace detail

// One compiled validator, owned by its validator_library.
class validator {
  public:
    // Throws validation_error.
    void validate(const json::value& value) const;
    // The same for an object, without copying it into a json::value.
    void validate(const json::object& record) const;

  private:
    friend class validator_library;
    explicit validator(const detail::vnode* root) noexcept : root_(root) {}
    const detail::vnode* root_;
};

// A check supplied in C++ for "custom" nodes. It sees the value (never an
// absent key: that fails first, with "Expected a value, got undefined"; wrap
// the node in "optional" to allow it) and throws validation_error with the
// reason; the failure is reported at the node's path like any other.
using custom_check = std::function<void(const json::value&)>;
using custom_check_map = std::map<std::string, custom_check, std::less<>>;

class validator_library {
  public:
    // Throws std::invalid_argument for a malformed description (unknown kind,
    // missing field, unknown ref or custom name). `checks` adds to (and may
    // not replace) the hand-ported custom checks; the library keeps them.
    explicit validator_library(const json::value& description, custom_check_map checks = {});
    validator_library(validator_library&&) noexcept;
    validator_library& operator=(validator_library&&) noexcept;
    validator_library(const validator_library&) = delete;
    validator_library& operator=(const validator_library&) = delete;
    ~validator_library();

    // The validator for a record type ("records" entry), or nullptr.
    [[nodiscard]] const validator* find(std::string_view record_type) const noexcept;
    [[nodiscard]] std::vector<std::string_view> record_types() const;

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

// The hand-ported checks a "custom" node may name.
[[nodiscard]] std::span<const std::string_view> custom_validator_names() noexcept;

namespace detail {

// @tldraw/utils validateIndexKey: true when `key` is accepted.
[[nodiscard]] bool is_valid_index_key(std::string_view key) noexcept;

enum class url_scheme { invalid, http, https, mailto, data, asset, other };
// The scheme WHATWG URL parsing (`new URL(text)`) gives `text`, with
// @tldraw/validate's fallback of resolving "/..." and "./..." against an http
// base; invalid when parsing fails. Non-ASCII hosts are not IDNA-checked
// (accepted as Node accepts nearly all of them).
[[nodiscard]] url_scheme parse_url_scheme(std::string_view text);

} // namespace detail
} // namespace tlsync::core
