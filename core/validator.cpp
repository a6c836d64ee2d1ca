// The validator interpreter: a description (grammar in validator.hpp) is
// compiled once into vnodes; check() walks them mirroring @tldraw/validate's
// control flow, so the first error reported is upstream's first error.
// An absent key is `undefined` (nullptr here), which only any/unknown/optional
// accept.
#include "core/validator.hpp"
#include "core/validator_detail.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <unordered_map>

namespace tlsync::core {

namespace detail {

namespace {

[[noreturn]] void fail_with(std::string_view a, std::string_view b) {
    std::string s;
    s.reserve(a.size() + b.size());
    s += a;
    s += b;
    fail(std::move(s));
}

void expect_string(const json::value* v) {
    if (!v || !v->is_string()) fail_with("Expected string, got ", type_to_string(v));
}

// The number family: upstream checks finiteness first, then its predicate.
void check_number(vkind k, const json::value* v) {
    if (!v || !v->is_number()) fail_with("Expected number, got ", type_to_string(v));
    const double d = number_of(*v);
    if (!std::isfinite(d)) {
        // JSON text cannot say NaN or Infinity, but a parser may overflow to
        // infinity and C++ callers can build anything. Upstream's order of checks:
        if (d != d) fail("Expected a number, got NaN");
        if (k == vkind::unit_interval)
            fail("Expected a number between 0 and 1, got " + js_number(d));
        if (d < 0 && k == vkind::positive_number) fail("Expected a positive number, got -Infinity");
        if (d < 0 && k == vkind::nonzero_number)
            fail("Expected a non-zero positive number, got -Infinity");
        fail("Expected a finite number, got " + js_number(d));
    }
    const bool is_int = !v->is_double() || std::trunc(d) == d;
    switch (k) {
    case vkind::number:
        return;
    case vkind::positive_number:
        if (d < 0) fail("Expected a positive number, got " + js_number(d));
        return;
    case vkind::nonzero_number:
        if (d <= 0) fail("Expected a non-zero positive number, got " + js_number(d));
        return;
    case vkind::nonzero_finite_number:
        if (d == 0) fail("Expected a non-zero number, got 0");
        return;
    case vkind::unit_interval:
        if (d < 0 || d > 1) fail("Expected a number between 0 and 1, got " + js_number(d));
        return;
    case vkind::integer:
        if (!is_int) fail("Expected an integer, got " + js_number(d));
        return;
    case vkind::positive_integer:
        if (is_int && d >= 0) return;
        fail(d < 0 ? "Expected a positive integer, got " + js_number(d)
                   : "Expected an integer, got " + js_number(d));
    case vkind::nonzero_integer:
        if (is_int && d > 0) return;
        fail(d <= 0 ? "Expected a non-zero positive integer, got " + js_number(d)
                    : "Expected an integer, got " + js_number(d));
    default:
        return;
    }
}

// A file's "min"/"max" on a number kind (upstream writes these as `.check()`
// refinements, whose messages are the app's own).
void check_bounds(const vnode& n, double d) {
    if (n.min && n.max) {
        if (d < *n.min || d > *n.max)
            fail("Expected a number between " + js_number(*n.min) + " and " + js_number(*n.max) + ", got " +
                 js_number(d));
    } else if (n.min && d < *n.min) {
        fail("Expected a number >= " + js_number(*n.min) + ", got " + js_number(d));
    } else if (n.max && d > *n.max) {
        fail("Expected a number <= " + js_number(*n.max) + ", got " + js_number(d));
    }
}

// SameValueZero between JSON values of the kinds literal/enum allow.
bool same_value(const json::value& a, const json::value& b) noexcept {
    if (a.is_number() && b.is_number()) return number_of(a) == number_of(b);
    if (a.kind() != b.kind()) return false;
    if (a.is_string()) return a.get_string() == b.get_string();
    if (a.is_bool()) return a.get_bool() == b.get_bool();
    return a.is_null();
}

void check_url(vkind k, const json::value* v) {
    expect_string(v);
    std::string_view s = v->get_string();
    if (s.empty()) return;
    const url_scheme scheme = parse_url_scheme(s);
    if (scheme == url_scheme::invalid) fail("Expected a valid url, got " + js_stringify(v));
    bool ok = scheme == url_scheme::http || scheme == url_scheme::https;
    if (k == vkind::link_url) ok = ok || scheme == url_scheme::mailto;
    if (k == vkind::src_url) ok = ok || scheme == url_scheme::data || scheme == url_scheme::asset;
    if (!ok) fail("Expected a valid url, got " + js_stringify(v) + " (invalid protocol)");
}

void check(const vnode& n, const json::value* v);

void check_user(const custom_check& f, const json::value* v) {
    if (!v) fail("Expected a value, got undefined");
    try {
        f(*v);
    } catch (const std::exception& e) { // validation_error, or a check's own bug
        fail(e.what());
    }
}

// JS enumerates canonical array-index keys first, ascending, then the rest in
// insertion order. Only failure paths need that order (to report upstream's
// first error), so success paths iterate storage order.
std::vector<const json::key_value_pair*> js_order(const json::object& o) {
    std::vector<const json::key_value_pair*> out;
    for (const auto& kv : o)
        if (is_array_index(kv.key())) out.push_back(&kv);
    std::sort(out.begin(), out.end(), [](auto* a, auto* b) {
        return a->key().size() != b->key().size() ? a->key().size() < b->key().size()
                                                  : a->key() < b->key();
    });
    for (const auto& kv : o)
        if (!is_array_index(kv.key())) out.push_back(&kv);
    return out;
}

template <class Seg> [[noreturn]] void rethrow_at(validation_failure& f, Seg&& seg) {
    f.path.emplace_back(std::forward<Seg>(seg));
    throw;
}

void check_object_fields(const vnode& n, const json::object& o) {
    for (const auto& [key, field] : n.fields) {
        try {
            check(*field, o.if_contains(key));
        } catch (validation_failure& f) {
            rethrow_at(f, key);
        }
    }
    if (n.allow_unknown) return;
    std::size_t known = 0;
    for (const auto& [key, field] : n.fields)
        known += o.contains(key) ? 1 : 0;
    if (known == o.size()) return;
    for (const auto* kv : js_order(o)) {
        auto is_field = [&](const auto& f) { return f.first == kv->key(); };
        if (std::none_of(n.fields.begin(), n.fields.end(), is_field))
            throw validation_failure{"Unexpected property", {std::string(kv->key())}};
    }
}

void check_object(const vnode& n, const json::value* v) {
    if (!v || !(v->is_object() || v->is_array()))
        fail_with("Expected object, got ", type_to_string(v));
    if (v->is_object()) return check_object_fields(n, v->get_object());
    // An array is a JS object too: its fields are all undefined, its indices unknown keys.
    for (const auto& [key, field] : n.fields) {
        try {
            check(*field, nullptr);
        } catch (validation_failure& f) {
            rethrow_at(f, key);
        }
    }
    if (!n.allow_unknown && !v->get_array().empty())
        throw validation_failure{"Unexpected property", {std::string("0")}};
}

void check_dict_entry(const vnode& n, std::string_view key, const json::value& value) {
    try {
        json::value k(key); // the key validator sees a string
        check(*n.alt, &k);
        check(*n.of, &value);
    } catch (validation_failure& f) {
        rethrow_at(f, std::string(key));
    }
}

void check_dict(const vnode& n, const json::value* v) {
    if (!v || !(v->is_object() || v->is_array()))
        fail_with("Expected object, got ", type_to_string(v));
    if (v->is_array()) {
        const auto& a = v->get_array();
        for (std::size_t i = 0; i < a.size(); ++i)
            check_dict_entry(n, std::to_string(i), a[i]);
        return;
    }
    const auto& o = v->get_object();
    try {
        if (n.alt->kind == vkind::string) {
            for (const auto& kv : o)
                check(*n.of, &kv.value()); // string keys always pass
        } else {
            for (const auto& kv : o)
                check_dict_entry(n, kv.key(), kv.value());
        }
    } catch (validation_failure&) {
        for (const auto* kv : js_order(o))
            check_dict_entry(n, kv->key(), kv->value());
        throw std::logic_error("dict validation is not deterministic");
    }
}

void check_array_of(const vnode& n, const json::value* v) {
    if (!v || !v->is_array()) fail_with("Expected an array, got ", type_to_string(v));
    const auto& a = v->get_array();
    for (std::size_t i = 0; i < a.size(); ++i) {
        try {
            check(*n.of, &a[i]);
        } catch (validation_failure& f) {
            rethrow_at(f, i);
        }
    }
    if (a.size() < n.min_length)
        fail(n.min_length == 1 ? "Expected a non-empty array"
                               : "Expected an array with length greater than 1");
}

struct union_match {
    const vnode* node;
    std::string_view name;
    std::string storage; // number keys only
};

// The variant `variant` selects (UnionValidator.getMatchingSchema), or the
// unknown-variant failure.
union_match match_union(const vnode& n, const json::value* variant) {
    union_match m{nullptr, {}, {}};
    if (!n.number_keys) {
        if (!variant || !variant->is_string())
            fail("Expected a string for key \"" + n.text + "\", got " +
                 std::string(type_to_string(variant)));
        m.name = variant->get_string();
    } else {
        // Number(variant) must be finite; the config is then looked up by String(variant).
        double d = 0.0 / 0.0;
        if (variant && variant->is_number())
            d = number_of(*variant);
        else if (variant && variant->is_bool())
            d = variant->get_bool() ? 1 : 0;
        else if (variant && variant->is_null())
            d = 0;
        else if (variant && variant->is_string()) {
            std::string tmp(variant->get_string());
            char* end = nullptr;
            d = std::strtod(tmp.c_str(), &end);
            if (tmp.find_first_not_of(" \t\n\r") == std::string::npos)
                d = 0;
            else if (end != tmp.c_str() + tmp.size())
                d = 0.0 / 0.0;
        }
        if (d != d || d - d != 0)
            fail("Expected a number for key \"" + n.text + "\", got \"" + js_string(variant) +
                 "\"");
        m.storage = js_string(variant);
        m.name = m.storage;
    }
    for (const auto& [name, node] : n.fields)
        if (name == m.name) {
            m.node = node;
            return m;
        }
    std::string expected;
    for (const auto& f : n.fields) {
        if (!expected.empty()) expected += " or ";
        json::value k(f.first);
        expected += js_stringify(&k);
    }
    throw validation_failure{"Expected one of " + expected + ", got " + js_stringify(variant),
                             {n.text}};
}

[[noreturn]] void rethrow_in_variant(validation_failure& f, const vnode& n, std::string_view name) {
    std::string seg;
    seg.reserve(n.text.size() + name.size() + 5);
    seg += '(';
    seg += n.text;
    seg += " = ";
    seg += name;
    seg += ')';
    rethrow_at(f, std::move(seg));
}

void check_union(const vnode& n, const json::value* v) {
    if (!v || !(v->is_object() || v->is_array()))
        fail_with("Expected an object, got ", type_to_string(v));
    auto m = match_union(n, v->is_object() ? v->get_object().if_contains(n.text) : nullptr);
    try {
        check(*m.node, v);
    } catch (validation_failure& f) {
        rethrow_in_variant(f, n, m.name);
    }
}

// check() for a value known to be this object, so records are validated
// without wrapping them in a json::value.
void check_record(const vnode& n, const json::object& o) {
    switch (n.kind) {
    case vkind::model:
        try {
            return check_record(*n.of, o);
        } catch (validation_failure& f) {
            rethrow_at(f, n.text);
        }
    case vkind::forward:
        return check_record(*n.of, o);
    case vkind::object:
        return check_object_fields(n, o);
    case vkind::union_: {
        auto m = match_union(n, o.if_contains(n.text));
        try {
            return check_record(*m.node, o);
        } catch (validation_failure& f) {
            rethrow_in_variant(f, n, m.name);
        }
    }
    default: {
        json::value copy(o);
        return check(n, &copy);
    }
    }
}

void check(const vnode& n, const json::value* v) {
    switch (n.kind) {
    case vkind::any:
        return;
    case vkind::string:
        return expect_string(v);
    case vkind::boolean:
        if (!v || !v->is_bool()) fail_with("Expected boolean, got ", type_to_string(v));
        return;
    case vkind::bigint:
        fail_with("Expected bigint, got ", type_to_string(v));
    case vkind::number:
    case vkind::positive_number:
    case vkind::nonzero_number:
    case vkind::nonzero_finite_number:
    case vkind::unit_interval:
    case vkind::integer:
    case vkind::positive_integer:
    case vkind::nonzero_integer:
        check_number(n.kind, v);
        return check_bounds(n, number_of(*v));
    case vkind::json:
        if (!v) fail("Expected json serializable value, got undefined");
        return;
    case vkind::array:
        if (!v || !v->is_array()) fail_with("Expected an array, got ", type_to_string(v));
        return;
    case vkind::unknown_object:
        if (!v || !(v->is_object() || v->is_array()))
            fail_with("Expected object, got ", type_to_string(v));
        return;
    case vkind::index_key:
        expect_string(v);
        if (!is_valid_index_key(v->get_string()))
            fail("Expected an index key, got " + js_stringify(v));
        return;
    case vkind::link_url:
    case vkind::src_url:
    case vkind::http_url:
        return check_url(n.kind, v);
    case vkind::literal:
        if (!v || !same_value(n.values[0], *v))
            fail("Expected " + js_string(&n.values[0]) + ", got " + js_stringify(v));
        return;
    case vkind::enum_: {
        if (v && std::any_of(n.values.begin(), n.values.end(),
                             [&](const json::value& e) { return same_value(e, *v); }))
            return;
        std::string expected;
        for (const auto& e : n.values) {
            if (!expected.empty()) expected += " or ";
            expected += js_stringify(&e);
        }
        fail("Expected " + expected + ", got " + js_string(v));
    }
    case vkind::id: {
        expect_string(v);
        std::string_view s = v->get_string();
        if (s.size() <= n.text.size() || s.substr(0, n.text.size()) != n.text ||
            s[n.text.size()] != ':')
            fail("Error: " + n.text + " ID must start with \"" + n.text + ":\"");
        return;
    }
    case vkind::optional:
        if (!v) return;
        return check(*n.of, v);
    case vkind::nullable:
        if (v && v->is_null()) return;
        return check(*n.of, v);
    case vkind::object:
        return check_object(n, v);
    case vkind::dict:
        return check_dict(n, v);
    case vkind::array_of:
        return check_array_of(n, v);
    case vkind::union_:
        return check_union(n, v);
    case vkind::model:
        try {
            return check(*n.of, v);
        } catch (validation_failure& f) {
            rethrow_at(f, n.text);
        }
    case vkind::or_:
        try {
            return check(*n.of, v);
        } catch (validation_failure&) {
            return check(*n.alt, v);
        }
    case vkind::custom:
        if (n.custom) return n.custom(v);
        return check_user(*n.user_check, v);
    case vkind::forward:
        return check(*n.of, v);
    }
}

// shapes/TLBaseShape.ts parentIdValidator.
void check_parent_id(const json::value* v) {
    expect_string(v);
    std::string_view s = v->get_string();
    if (!s.starts_with("page:") && !s.starts_with("shape:"))
        fail("Error: Parent ID must start with \"page:\" or \"shape:\"");
}

constexpr std::string_view custom_names[] = {"parent_id"};
constexpr custom_fn custom_fns[] = {&check_parent_id};

} // namespace

custom_fn find_custom(std::string_view name) noexcept {
    for (std::size_t i = 0; i < std::size(custom_names); ++i)
        if (custom_names[i] == name) return custom_fns[i];
    return nullptr;
}

} // namespace detail

std::span<const std::string_view> custom_validator_names() noexcept {
    return detail::custom_names;
}

void validator::validate(const json::value& value) const {
    try {
        detail::check(*root_, &value);
    } catch (detail::validation_failure& f) {
        throw validation_error(detail::format_failure(f));
    }
}

void validator::validate(const json::object& record) const {
    try {
        detail::check_record(*root_, record);
    } catch (detail::validation_failure& f) {
        throw validation_error(detail::format_failure(f));
    }
}

} // namespace tlsync::core
