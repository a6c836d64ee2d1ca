// Schema files (format in schema_file.hpp): parsed strictly, every mistake
// reported with the JSON Pointer of the offending value, then handed to
// schema_builder.
#include "core/schema_file.hpp"

#include <boost/json/stream_parser.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <initializer_list>

namespace tlsync::core {

schema_file_error::schema_file_error(std::string file_, std::string pointer_, std::string reason_)
    : std::runtime_error(file_ + ": " + (pointer_.empty() ? "" : pointer_ + ": ") + reason_), file(std::move(file_)),
      pointer(std::move(pointer_)), reason(std::move(reason_)) {}

namespace {

std::string token(std::string_view key) {
    std::string out = "/";
    for (char c : key) {
        if (c == '~') out += "~0";
        else if (c == '/') out += "~1";
        else out += c;
    }
    return out;
}

// Errors while reading carry the pointer; apply_schema_file adds the file.
[[noreturn]] void bad(const std::string& at, std::string reason) { throw schema_definition_error(at, std::move(reason)); }

const json::object& as_object(const json::value& v, const std::string& at, std::string_view what) {
    if (!v.is_object()) bad(at, std::string(what) + " must be an object");
    return v.get_object();
}
const json::array& as_array(const json::value& v, const std::string& at, std::string_view what) {
    if (!v.is_array()) bad(at, std::string(what) + " must be an array");
    return v.get_array();
}
std::string as_string(const json::value& v, const std::string& at, std::string_view what) {
    if (!v.is_string() || v.get_string().empty()) bad(at, std::string(what) + " must be a non-empty string");
    return std::string(v.get_string());
}

void only_keys(const json::object& o, const std::string& at, std::initializer_list<std::string_view> allowed) {
    for (const auto& kv : o)
        if (std::find(allowed.begin(), allowed.end(), kv.key()) == allowed.end()) {
            std::string list;
            for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
            bad(at + token(kv.key()), "unknown key \"" + std::string(kv.key()) + "\" (expected " + list + ")");
        }
}

const json::value& required(const json::object& o, std::string_view key, const std::string& at) {
    const auto* v = o.if_contains(key);
    if (!v) bad(at, "missing \"" + std::string(key) + "\"");
    return *v;
}

// ------------------------------------------------------------------ steps

using path = std::vector<std::string>;

path parse_path(const json::value& v, const std::string& at) {
    std::string text = as_string(v, at, "a path");
    path out;
    std::size_t start = 0;
    for (;;) {
        auto dot = text.find('.', start);
        out.push_back(text.substr(start, dot - start));
        if (out.back().empty()) bad(at, "path \"" + text + "\" has an empty key");
        if (dot == std::string::npos) break;
        start = dot + 1;
    }
    return out;
}

// The object holding the path's last key; nullptr when a parent is absent
// and `create` is false. A parent that is not an object is a failure.
json::object* parent_of(json::object& root, const path& p, bool create) {
    json::object* o = &root;
    for (std::size_t i = 0; i + 1 < p.size(); ++i) {
        auto* next = o->if_contains(p[i]);
        if (!next) {
            if (!create) return nullptr;
            next = &(*o)[p[i]];
            *next = json::object{};
        }
        if (!next->is_object()) throw std::runtime_error("\"" + p[i] + "\" is not an object");
        o = &next->get_object();
    }
    return o;
}

using step_fn = std::function<void(json::object&)>;

step_fn compile_step(const json::value& v, const std::string& at) {
    const auto& o = as_object(v, at, "a step");
    const std::string op = as_string(required(o, "op", at), at + "/op", "\"op\"");
    if (op == "add" || op == "set") {
        only_keys(o, at, {"op", "path", "value"});
        path p = parse_path(required(o, "path", at), at + "/path");
        json::value value = required(o, "value", at);
        const bool overwrite = op == "set";
        return [p = std::move(p), value = std::move(value), overwrite](json::object& r) {
            auto* parent = parent_of(r, p, true);
            if (overwrite || !parent->contains(p.back())) (*parent)[p.back()] = value;
        };
    }
    if (op == "remove") {
        only_keys(o, at, {"op", "path"});
        path p = parse_path(required(o, "path", at), at + "/path");
        return [p = std::move(p)](json::object& r) {
            if (auto* parent = parent_of(r, p, false)) parent->erase(p.back());
        };
    }
    if (op == "rename") {
        only_keys(o, at, {"op", "from", "to"});
        path from = parse_path(required(o, "from", at), at + "/from");
        path to = parse_path(required(o, "to", at), at + "/to");
        if (from == to) bad(at, "\"from\" and \"to\" are the same path");
        return [from = std::move(from), to = std::move(to)](json::object& r) {
            auto* src = parent_of(r, from, false);
            auto* value = src ? src->if_contains(from.back()) : nullptr;
            if (!value) return;
            json::value moved = std::move(*value);
            src->erase(from.back());
            (*parent_of(r, to, true))[to.back()] = std::move(moved);
        };
    }
    if (op == "map") {
        only_keys(o, at, {"op", "path", "values"});
        path p = parse_path(required(o, "path", at), at + "/path");
        json::object values = as_object(required(o, "values", at), at + "/values", "\"values\"");
        if (values.empty()) bad(at + "/values", "\"values\" is empty");
        return [p = std::move(p), values = std::move(values)](json::object& r) {
            auto* parent = parent_of(r, p, false);
            auto* value = parent ? parent->if_contains(p.back()) : nullptr;
            if (!value || !value->is_string()) return;
            if (const auto* to = values.if_contains(value->get_string())) *value = *to;
        };
    }
    bad(at + "/op", "unknown op \"" + op + "\" (expected add, set, remove, rename or map)");
}

step_fn compile_steps(const json::value& v, const std::string& at) {
    std::vector<step_fn> steps;
    const auto& a = as_array(v, at, "steps");
    for (std::size_t i = 0; i < a.size(); ++i) steps.push_back(compile_step(a[i], at + "/" + std::to_string(i)));
    return [steps = std::move(steps)](json::object& r) {
        for (const auto& s : steps) s(r);
    };
}

// Where each "dependsOn" entry of the file was written, so a missing
// migration is reported there once the whole file is in.
struct dependency {
    std::string id;
    std::string pointer;
};
using dependencies = std::vector<dependency>;

std::vector<std::string> depends_on(const json::object& version, const std::string& at, dependencies& seen) {
    std::vector<std::string> out;
    if (const auto* d = version.if_contains("dependsOn")) {
        const auto& a = as_array(*d, at + "/dependsOn", "\"dependsOn\"");
        for (std::size_t i = 0; i < a.size(); ++i) {
            const std::string pointer = at + "/dependsOn/" + std::to_string(i);
            out.push_back(as_string(a[i], pointer, "a migration id"));
            seen.push_back({out.back(), pointer});
        }
    }
    return out;
}

std::vector<props_migration> props_migrations(const json::value& v, const std::string& at, dependencies& deps) {
    std::vector<props_migration> out;
    const auto& a = as_array(v, at, "\"migrations\"");
    for (std::size_t i = 0; i < a.size(); ++i) {
        const std::string vat = at + "/" + std::to_string(i);
        const auto& o = as_object(a[i], vat, "a version");
        only_keys(o, vat, {"up", "down", "dependsOn"});
        props_migration m;
        m.up = compile_steps(required(o, "up", vat), vat + "/up");
        if (const auto* down = o.if_contains("down")) m.down = compile_steps(*down, vat + "/down");
        m.depends_on = depends_on(o, vat, deps);
        out.push_back(std::move(m));
    }
    return out;
}

std::function<bool(const json::object&)> compile_filter(const json::value& v, const std::string& at) {
    json::object match = as_object(v, at, "\"filter\"");
    if (match.empty()) bad(at, "\"filter\" is empty");
    for (const auto& kv : match)
        if (kv.value().is_object() || kv.value().is_array())
            bad(at + token(kv.key()), "filter values must be strings, numbers, booleans or null");
    return [match = std::move(match)](const json::object& r) {
        return std::all_of(match.begin(), match.end(), [&](const auto& kv) {
            const auto* value = r.if_contains(kv.key());
            return value && deep_equal(*value, kv.value());
        });
    };
}

migration_sequence sequence(const json::value& v, const std::string& at, dependencies& deps) {
    const auto& o = as_object(v, at, "a migration sequence");
    only_keys(o, at, {"sequenceId", "retroactive", "versions"});
    migration_sequence seq;
    seq.sequence_id = as_string(required(o, "sequenceId", at), at + "/sequenceId", "\"sequenceId\"");
    if (seq.sequence_id.find('/') != std::string::npos) bad(at + "/sequenceId", "\"sequenceId\" cannot contain '/'");
    if (const auto* r = o.if_contains("retroactive")) {
        if (!r->is_bool()) bad(at + "/retroactive", "\"retroactive\" must be a boolean");
        seq.retroactive = r->get_bool();
    }
    const auto& versions = as_array(required(o, "versions", at), at + "/versions", "\"versions\"");
    for (std::size_t i = 0; i < versions.size(); ++i) {
        const std::string vat = at + "/versions/" + std::to_string(i);
        const auto& vo = as_object(versions[i], vat, "a version");
        only_keys(vo, vat, {"up", "down", "dependsOn", "filter"});
        migration m;
        m.id = seq.sequence_id + "/" + std::to_string(i + 1);
        m.up = compile_steps(required(vo, "up", vat), vat + "/up");
        if (const auto* down = vo.if_contains("down")) m.down = compile_steps(*down, vat + "/down");
        if (const auto* f = vo.if_contains("filter")) m.filter = compile_filter(*f, vat + "/filter");
        m.depends_on = depends_on(vo, vat, deps);
        seq.migrations.push_back(std::move(m));
    }
    return seq;
}

record_scope scope_of(const json::value& v, const std::string& at) {
    const std::string s = as_string(v, at, "\"scope\"");
    if (s == "document") return record_scope::document;
    if (s == "session") return record_scope::session;
    if (s == "presence") return record_scope::presence;
    bad(at, "unknown scope \"" + s + "\" (expected document, session or presence)");
}

// Runs a builder call, moving its error under `at`.
template <class F> void at_path(const std::string& at, F&& f) {
    try {
        f();
    } catch (const schema_definition_error& e) {
        throw schema_definition_error(at + e.pointer, e.reason);
    }
}

void apply(schema_builder& b, const json::object& file) {
    dependencies deps;
    only_keys(file, "", {"tlsyncSchema", "defs", "shapes", "bindings", "records", "migrations"});
    const auto& version = required(file, "tlsyncSchema", "");
    if (!(version.is_int64() && version.get_int64() == 1))
        bad("/tlsyncSchema", "unsupported format version " + json::serialize(version) + " (this server reads 1)");

    if (const auto* defs = file.if_contains("defs")) {
        for (const auto& kv : as_object(*defs, "/defs", "\"defs\""))
            at_path("/defs" + token(kv.key()), [&] { b.add_def(std::string(kv.key()), kv.value()); });
        at_path("/defs", [&] { b.check_defs(); });
    }
    for (const char* kind : {"shapes", "bindings"}) {
        const auto* entries = file.if_contains(kind);
        if (!entries) continue;
        const std::string kat = "/" + std::string(kind);
        for (const auto& kv : as_object(*entries, kat, "\"" + std::string(kind) + "\"")) {
            const std::string at = kat + token(kv.key());
            const auto& o = as_object(kv.value(), at, "a type");
            only_keys(o, at, {"props", "migrations"});
            const auto& props = as_object(required(o, "props", at), at + "/props", "\"props\"");
            std::vector<props_migration> migrations;
            if (const auto* m = o.if_contains("migrations")) migrations = props_migrations(*m, at + "/migrations", deps);
            const std::string type(kv.key());
            if (std::string_view(kind) == "shapes") {
                if (b.has_shape(type)) bad(at, "shape type \"" + type + "\" already exists");
                at_path(at + "/props", [&] { b.add_shape(type, props, std::move(migrations)); });
            } else {
                if (b.has_binding(type)) bad(at, "binding type \"" + type + "\" already exists");
                at_path(at + "/props", [&] { b.add_binding(type, props, std::move(migrations)); });
            }
        }
    }
    if (const auto* records = file.if_contains("records")) {
        for (const auto& kv : as_object(*records, "/records", "\"records\"")) {
            const std::string at = "/records" + token(kv.key());
            const auto& o = as_object(kv.value(), at, "a record type");
            only_keys(o, at, {"scope", "validator"});
            const record_scope scope = scope_of(required(o, "scope", at), at + "/scope");
            const auto& node = required(o, "validator", at);
            if (b.has_record_type(kv.key())) bad(at, "record type \"" + std::string(kv.key()) + "\" already exists");
            at_path(at + "/validator", [&] { b.add_record_type(std::string(kv.key()), scope, node); });
        }
    }
    if (const auto* seqs = file.if_contains("migrations")) {
        const auto& a = as_array(*seqs, "/migrations", "\"migrations\"");
        for (std::size_t i = 0; i < a.size(); ++i) {
            const std::string at = "/migrations/" + std::to_string(i);
            auto seq = sequence(a[i], at, deps);
            at_path(at + "/sequenceId", [&] { b.add_sequence(std::move(seq)); });
        }
    }
    for (const auto& d : deps)
        if (!b.has_migration(d.id)) bad(d.pointer, "depends on missing migration \"" + d.id + "\"");
}

// "line 3, column 7" of a byte offset.
std::string position(std::string_view text, std::size_t offset) {
    offset = std::min(offset, text.size());
    std::size_t line = 1, col = 1;
    for (std::size_t i = 0; i < offset; ++i) {
        if (text[i] == '\n') {
            ++line;
            col = 1;
        } else {
            ++col;
        }
    }
    return "line " + std::to_string(line) + ", column " + std::to_string(col);
}

} // namespace

std::function<void(json::object&)> compile_migration_steps(const json::value& steps) {
    return compile_steps(steps, "");
}

void apply_schema_file(schema_builder& builder, std::string_view text, const std::string& file) {
    json::parse_options opts;
    opts.max_depth = 64;
    json::stream_parser p({}, opts);
    json::error_code ec;
    const std::size_t used = p.write(text.data(), text.size(), ec);
    if (!ec) p.finish(ec);
    if (ec) throw schema_file_error(file, "", "invalid JSON at " + position(text, used) + ": " + ec.message());
    const json::value root = p.release();
    try {
        if (!root.is_object()) bad("", "a schema file must be a JSON object");
        apply(builder, root.get_object());
    } catch (const schema_definition_error& e) {
        throw schema_file_error(file, e.pointer, e.reason);
    }
}

} // namespace tlsync::core
