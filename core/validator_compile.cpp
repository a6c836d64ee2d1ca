// Compiles a validator description (grammar in validator.hpp) into vnodes.
#include "core/validator.hpp"
#include "core/validator_detail.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

namespace tlsync::core {

struct validator_library::impl {
    custom_check_map checks; // "custom" nodes point into it
    std::vector<std::unique_ptr<detail::vnode>> nodes;
    std::vector<std::pair<std::string, validator>> records;
};

namespace {

using detail::vkind;
using detail::vnode;

const std::unordered_map<std::string_view, vkind>& simple_kinds() {
    static const std::unordered_map<std::string_view, vkind> kinds{
        {"string", vkind::string},
        {"boolean", vkind::boolean},
        {"bigint", vkind::bigint},
        {"number", vkind::number},
        {"positive_number", vkind::positive_number},
        {"nonzero_number", vkind::nonzero_number},
        {"nonzero_finite_number", vkind::nonzero_finite_number},
        {"unit_interval", vkind::unit_interval},
        {"integer", vkind::integer},
        {"positive_integer", vkind::positive_integer},
        {"nonzero_integer", vkind::nonzero_integer},
        {"any", vkind::any},
        {"unknown", vkind::any},
        {"json", vkind::json},
        {"array", vkind::array},
        {"unknown_object", vkind::unknown_object},
        {"index_key", vkind::index_key},
        {"link_url", vkind::link_url},
        {"src_url", vkind::src_url},
        {"http_url", vkind::http_url},
    };
    return kinds;
}

// A JSON Pointer reference token (RFC 6901): '~' and '/' escaped.
std::string token(std::string_view key) {
    std::string out;
    out.reserve(key.size() + 1);
    out += '/';
    for (char c : key) {
        if (c == '~') out += "~0";
        else if (c == '/') out += "~1";
        else out += c;
    }
    return out;
}

// `where` is always the JSON Pointer of the node being compiled.
class compiler {
  public:
    compiler(const json::object& defs, const custom_check_map& checks,
             std::vector<std::unique_ptr<vnode>>& nodes)
        : defs_(defs), checks_(checks), nodes_(nodes) {}

    const vnode* compile(const json::value& desc, const std::string& where) {
        auto& n = make();
        fill(n, desc, where);
        return &n;
    }

  private:
    [[noreturn]] static void bad(const std::string& where, std::string_view what) {
        throw std::invalid_argument("validator description at " + where + ": " + std::string(what));
    }

    vnode& make() { return *nodes_.emplace_back(std::make_unique<vnode>()); }

    static const json::value& field(const json::object& o, std::string_view key,
                                    const std::string& where) {
        const auto* v = o.if_contains(key);
        if (!v) bad(where, "missing \"" + std::string(key) + "\"");
        return *v;
    }
    static std::string string_field(const json::object& o, std::string_view key,
                                    const std::string& where) {
        const auto& v = field(o, key, where);
        if (!v.is_string()) bad(where, "\"" + std::string(key) + "\" must be a string");
        return std::string(v.get_string());
    }

    const vnode* ref(const std::string& name, const std::string& where) {
        if (auto it = defs_done_.find(name); it != defs_done_.end()) return it->second;
        const auto* def = defs_.if_contains(name);
        if (!def) bad(where, "unknown ref \"" + name + "\"");
        // Registered before it is filled, so a def may refer to itself.
        auto& n = make();
        defs_done_.emplace(name, &n);
        filling_.insert(name);
        fill(n, *def, "/defs" + token(name));
        filling_.erase(name);
        return &n;
    }

    void fill(vnode& n, const json::value& desc, const std::string& where) {
        if (!desc.is_object()) bad(where, "a node must be an object");
        const auto& o = desc.get_object();
        const std::string kind = string_field(o, "kind", where);
        check_keys(o, kind, where);
        if (auto it = simple_kinds().find(kind); it != simple_kinds().end()) {
            n.kind = it->second;
            if (is_number_kind(n.kind)) {
                n.min = bound(o, "min", where);
                n.max = bound(o, "max", where);
                if (n.min && n.max && *n.min > *n.max) bad(where, "\"min\" is greater than \"max\"");
            }
            return;
        }
        if (kind == "ref") {
            const std::string name = string_field(o, "name", where);
            const vnode* target = ref(name, where);
            if (filling_.contains(name)) {
                // Not complete yet (recursion): forward to it.
                n.kind = vkind::forward;
                n.of = target;
            } else {
                n = *target;
            }
        } else if (kind == "literal") {
            n.kind = vkind::literal;
            n.values.push_back(field(o, "value", where));
            check_scalar(n.values.back(), where);
        } else if (kind == "enum") {
            n.kind = vkind::enum_;
            const auto& values = field(o, "values", where);
            if (!values.is_array()) bad(where, "\"values\" must be an array");
            for (const auto& v : values.get_array()) {
                check_scalar(v, where);
                n.values.push_back(v);
            }
        } else if (kind == "id") {
            n.kind = vkind::id;
            n.text = string_field(o, "prefix", where);
        } else if (kind == "optional" || kind == "nullable") {
            n.kind = kind == "optional" ? vkind::optional : vkind::nullable;
            n.of = compile(field(o, "of", where), where + "/of");
        } else if (kind == "model") {
            n.kind = vkind::model;
            n.text = string_field(o, "name", where);
            n.of = compile(field(o, "of", where), where + "/of");
        } else if (kind == "object") {
            n.kind = vkind::object;
            const auto& fields = field(o, "fields", where);
            if (!fields.is_object()) bad(where, "\"fields\" must be an object");
            for (const auto& kv : fields.get_object())
                n.fields.emplace_back(std::string(kv.key()),
                                      compile(kv.value(), where + "/fields" + token(kv.key())));
            n.allow_unknown = flag(o, "allow_unknown", where);
        } else if (kind == "union") {
            n.kind = vkind::union_;
            n.text = string_field(o, "key", where);
            const auto& variants = field(o, "variants", where);
            if (!variants.is_object()) bad(where, "\"variants\" must be an object");
            for (const auto& kv : variants.get_object())
                n.fields.emplace_back(std::string(kv.key()),
                                      compile(kv.value(), where + "/variants" + token(kv.key())));
            n.number_keys = flag(o, "number_keys", where);
        } else if (kind == "dict") {
            n.kind = vkind::dict;
            n.alt = compile(field(o, "key", where), where + "/key");
            n.of = compile(field(o, "value", where), where + "/value");
        } else if (kind == "array_of") {
            n.kind = vkind::array_of;
            n.of = compile(field(o, "of", where), where + "/of");
            if (const auto* m = o.if_contains("min_length")) {
                if (!m->is_int64() || m->get_int64() < 0 || m->get_int64() > 2)
                    bad(where, "\"min_length\" must be 0, 1 or 2");
                n.min_length = static_cast<std::size_t>(m->get_int64());
            }
        } else if (kind == "or") {
            n.kind = vkind::or_;
            const auto& of = field(o, "of", where);
            if (!of.is_array() || of.get_array().size() != 2)
                bad(where, "\"of\" must be an array of two nodes");
            n.of = compile(of.get_array()[0], where + "/of/0");
            n.alt = compile(of.get_array()[1], where + "/of/1");
        } else if (kind == "custom") {
            n.kind = vkind::custom;
            n.text = string_field(o, "name", where);
            n.custom = detail::find_custom(n.text);
            if (auto it = checks_.find(n.text); !n.custom && it != checks_.end())
                n.user_check = &it->second;
            if (!n.custom && !n.user_check) bad(where, "unknown custom check \"" + n.text + "\"");
        } else {
            bad(where, "unknown kind \"" + kind + "\"");
        }
    }

    // A misspelt key ("allow_unknwon") would otherwise change nothing, silently.
    static void check_keys(const json::object& o, std::string_view kind, const std::string& where) {
        static const std::unordered_map<std::string_view, std::vector<std::string_view>> extra{
            {"literal", {"value"}},  {"enum", {"values"}},
            {"id", {"prefix"}},      {"optional", {"of"}},
            {"nullable", {"of"}},    {"model", {"name", "of"}},
            {"object", {"fields", "allow_unknown"}},
            {"union", {"key", "variants", "number_keys"}},
            {"dict", {"key", "value"}},
            {"array_of", {"of", "min_length"}},
            {"or", {"of"}},          {"ref", {"name"}},
            {"custom", {"name"}},
        };
        const auto it = extra.find(kind);
        const auto simple = simple_kinds().find(kind);
        if (it == extra.end() && simple == simple_kinds().end()) return; // reported as an unknown kind
        const bool bounded = simple != simple_kinds().end() && is_number_kind(simple->second);
        for (const auto& kv : o) {
            if (kv.key() == "kind") continue;
            if (bounded && (kv.key() == "min" || kv.key() == "max")) continue;
            if (it != extra.end() &&
                std::find(it->second.begin(), it->second.end(), kv.key()) != it->second.end())
                continue;
            bad(where + token(kv.key()), "unknown key \"" + std::string(kv.key()) + "\" for kind \"" +
                                             std::string(kind) + "\"");
        }
    }

    static bool is_number_kind(vkind k) noexcept {
        switch (k) {
        case vkind::number:
        case vkind::positive_number:
        case vkind::nonzero_number:
        case vkind::nonzero_finite_number:
        case vkind::unit_interval:
        case vkind::integer:
        case vkind::positive_integer:
        case vkind::nonzero_integer:
            return true;
        default:
            return false;
        }
    }
    static std::optional<double> bound(const json::object& o, std::string_view key, const std::string& where) {
        const auto* v = o.if_contains(key);
        if (!v) return std::nullopt;
        if (!v->is_number()) bad(where + token(key), "\"" + std::string(key) + "\" must be a number");
        return detail::number_of(*v);
    }

    static bool flag(const json::object& o, std::string_view key, const std::string& where) {
        const auto* v = o.if_contains(key);
        if (!v) return false;
        if (!v->is_bool()) bad(where, "\"" + std::string(key) + "\" must be a boolean");
        return v->get_bool();
    }
    static void check_scalar(const json::value& v, const std::string& where) {
        if (v.is_object() || v.is_array()) bad(where, "literal and enum values must be scalars");
    }

    const json::object& defs_;
    const custom_check_map& checks_;
    std::vector<std::unique_ptr<vnode>>& nodes_;
    std::unordered_map<std::string, const vnode*> defs_done_;
    std::unordered_set<std::string> filling_;
};

} // namespace

validator_library::validator_library(const json::value& description, custom_check_map checks)
    : impl_(std::make_unique<impl>()) {
    for (const auto& [name, check] : checks) {
        if (detail::find_custom(name))
            throw std::invalid_argument("custom check \"" + name + "\" is built in and cannot be replaced");
        if (!check) throw std::invalid_argument("custom check \"" + name + "\" is empty");
    }
    impl_->checks = std::move(checks);
    if (!description.is_object())
        throw std::invalid_argument("validator description must be an object");
    const auto& d = description.get_object();
    static const json::object no_defs;
    const json::object* defs = &no_defs;
    if (const auto* v = d.if_contains("defs")) {
        if (!v->is_object())
            throw std::invalid_argument("validator description: \"defs\" must be an object");
        defs = &v->get_object();
    }
    const auto* records = d.if_contains("records");
    if (!records || !records->is_object())
        throw std::invalid_argument("validator description: \"records\" must be an object");
    compiler c(*defs, impl_->checks, impl_->nodes);
    for (const auto& kv : records->get_object())
        impl_->records.emplace_back(std::string(kv.key()),
                                    validator(c.compile(kv.value(), "/records" + token(kv.key()))));
    // A cycle of bare refs would forward forever.
    for (const auto& n : impl_->nodes) {
        const vnode* p = n.get();
        for (std::size_t steps = 0; p->kind == vkind::forward; ++steps, p = p->of)
            if (steps > impl_->nodes.size())
                throw std::invalid_argument(
                    "validator description: a cycle of refs with no node between");
    }
}

validator_library::validator_library(validator_library&&) noexcept = default;
validator_library& validator_library::operator=(validator_library&&) noexcept = default;
validator_library::~validator_library() = default;

const validator* validator_library::find(std::string_view record_type) const noexcept {
    for (const auto& [name, v] : impl_->records)
        if (name == record_type) return &v;
    return nullptr;
}

std::vector<std::string_view> validator_library::record_types() const {
    std::vector<std::string_view> out;
    for (const auto& [name, v] : impl_->records)
        out.emplace_back(name);
    return out;
}

} // namespace tlsync::core
