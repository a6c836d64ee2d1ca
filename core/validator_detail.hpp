#pragma once
// Internals of core/validator.cpp shared with its helpers: JavaScript's
// renderings of values (for upstream-identical messages) and the failure that
// unwinds through the node tree collecting its path.

#include "core/validator.hpp"
#include "proto/json.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace tlsync::core::detail {

enum class vkind {
    string,
    boolean,
    bigint,
    number,
    positive_number,
    nonzero_number,
    nonzero_finite_number,
    unit_interval,
    integer,
    positive_integer,
    nonzero_integer,
    any,
    json,
    array,
    unknown_object,
    index_key,
    link_url,
    src_url,
    http_url,
    literal,
    enum_,
    id,
    optional,
    nullable,
    object,
    dict,
    array_of,
    union_,
    model,
    or_,
    custom,
    forward, // a recursive ref: validate as `of`
};

using custom_fn = void (*)(const json::value*);

struct vnode {
    vkind kind = vkind::any;
    const vnode* of = nullptr;  // optional, nullable, array_of, model, dict value, or (first)
    const vnode* alt = nullptr; // dict key, or (second)
    std::size_t min_length = 0;
    std::optional<double> min, max; // the number family's inclusive bounds
    std::string text;                                         // id prefix, model name, union key
    std::vector<json::value> values;                          // literal (one), enum
    std::vector<std::pair<std::string, const vnode*>> fields; // object, union variants (in order)
    bool allow_unknown = false;
    bool number_keys = false;
    custom_fn custom = nullptr;             // a hand-ported check, or
    const custom_check* user_check = nullptr; // one the library's owner supplied
};

// The hand-ported check named `name` (a "custom" node), or nullptr.
[[nodiscard]] custom_fn find_custom(std::string_view name) noexcept;

// A failed check. `path` is collected innermost first while unwinding.
struct validation_failure {
    std::string raw;
    std::vector<std::variant<std::string, std::size_t>> path;
};

[[noreturn]] void fail(std::string raw);

// Number.prototype.toString.
[[nodiscard]] std::string js_number(double d);
[[nodiscard]] double number_of(const json::value& v) noexcept;
// JSON.stringify (nullptr: undefined -> "undefined", as a template string shows it).
[[nodiscard]] std::string js_stringify(const json::value* v);
// String(v), as template strings show values.
[[nodiscard]] std::string js_string(const json::value* v);
// @tldraw/validate's typeToString.
[[nodiscard]] std::string_view type_to_string(const json::value* v) noexcept;
// ValidationError's message: "At <path>: <raw>" (formatPath, indented lines).
[[nodiscard]] std::string format_failure(const validation_failure& f);
// Whether `key` is a canonical array index, which JS objects enumerate first.
[[nodiscard]] bool is_array_index(std::string_view key) noexcept;

} // namespace tlsync::core::detail
