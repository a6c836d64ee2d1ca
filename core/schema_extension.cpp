// schema_builder: the built-in tldraw validator description, extended at the
// JSON level (new union variants, records and defs) and compiled once, plus
// the built-in migration sequences and the added ones.
#include "core/schema_extension.hpp"

#include "core/tldraw_schema.hpp"
#include "core/validator_detail.hpp"

#include <algorithm>
#include <map>
#include <optional>

namespace tlsync::core {

schema_definition_error::schema_definition_error(std::string pointer_, std::string reason_)
    : std::invalid_argument(pointer_.empty() ? reason_ : "at " + pointer_ + ": " + reason_),
      pointer(std::move(pointer_)), reason(std::move(reason_)) {}

namespace {

json::object node(std::string_view kind) { return json::object{{"kind", kind}}; }
json::object ref(std::string_view name) { return json::object{{"kind", "ref"}, {"name", name}}; }
json::object literal(std::string_view value) { return json::object{{"kind", "literal"}, {"value", value}}; }

// tldraw's createShapeValidator: the base shape fields around the props.
json::object shape_variant(std::string_view type, const json::object& props) {
    json::object fields;
    fields["id"] = ref("shapeIdValidator");
    fields["typeName"] = literal("shape");
    fields["x"] = node("number");
    fields["y"] = node("number");
    fields["rotation"] = node("number");
    fields["index"] = node("index_key");
    fields["parentId"] = json::object{{"kind", "custom"}, {"name", "parent_id"}};
    fields["type"] = literal(type);
    fields["isLocked"] = node("boolean");
    fields["opacity"] = node("unit_interval");
    fields["props"] = json::object{{"kind", "object"}, {"fields", props}};
    fields["meta"] = node("json");
    return json::object{{"kind", "object"}, {"fields", std::move(fields)}};
}

// tldraw's createBindingValidator.
json::object binding_variant(std::string_view type, const json::object& props) {
    json::object fields;
    fields["id"] = ref("bindingIdValidator");
    fields["typeName"] = literal("binding");
    fields["type"] = literal(type);
    fields["fromId"] = ref("shapeIdValidator");
    fields["toId"] = ref("shapeIdValidator");
    fields["props"] = json::object{{"kind", "object"}, {"fields", props}};
    fields["meta"] = node("json");
    return json::object{{"kind", "object"}, {"fields", std::move(fields)}};
}

json::object& union_variants(json::object& description, std::string_view record) {
    return description.at("records").as_object().at(record).as_object().at("of").as_object().at("variants").as_object();
}

// "validator description at /records/_/fields/w: unknown kind" -> ("/fields/w", "unknown kind").
schema_definition_error relocate(const std::invalid_argument& e, std::string_view probe_root) {
    std::string_view what = e.what();
    constexpr std::string_view lead = "validator description at ";
    if (!what.starts_with(lead)) return {"", std::string(what)};
    what.remove_prefix(lead.size());
    const auto colon = what.find(": ");
    if (colon == std::string_view::npos) return {"", std::string(what)};
    std::string_view where = what.substr(0, colon);
    if (where.starts_with(probe_root)) where.remove_prefix(probe_root.size());
    return {std::string(where), std::string(what.substr(colon + 2))};
}

bool is_new_type_name(std::string_view s) {
    return !s.empty() && s.find(':') == std::string_view::npos && s.find('/') == std::string_view::npos;
}

} // namespace

struct schema_builder::impl {
    json::object defs; // added ones only
    custom_check_map checks;
    std::map<std::string, json::object, std::less<>> shapes;   // type -> union variant
    std::map<std::string, json::object, std::less<>> bindings; // type -> union variant
    std::vector<std::pair<record_type, std::optional<json::value>>> records; // node-validated when set
    std::vector<migration_sequence> sequences;

    // Compiles `node` alone against every def, so a mistake is reported
    // relative to the node itself (or, for a props object, to its fields).
    void probe(const json::value& n, std::string_view root = "/records/_") const {
        json::object description = tldraw_description();
        auto& all_defs = description["defs"].as_object();
        for (const auto& kv : defs) all_defs[kv.key()] = kv.value();
        description["records"] = json::object{{"_", n}};
        try {
            validator_library lib(description, checks);
        } catch (const std::invalid_argument& e) {
            throw relocate(e, root);
        }
    }

    static json::object tldraw_description() { return detail::tldraw_validator_description().as_object(); }

    void check_type_name(std::string_view what, std::string_view name) const {
        if (!is_new_type_name(name))
            throw schema_definition_error("", std::string(what) + " \"" + std::string(name) +
                                                  "\" must be non-empty, without ':' or '/'");
    }
    void check_new_sequence(std::string_view id) const {
        const auto& builtin = detail::tldraw_sequences();
        const bool taken = std::any_of(builtin.begin(), builtin.end(), [&](const auto& s) { return s.sequence_id == id; }) ||
                           std::any_of(sequences.begin(), sequences.end(), [&](const auto& s) { return s.sequence_id == id; });
        if (taken) throw schema_definition_error("", "migration sequence \"" + std::string(id) + "\" already exists");
    }
};

schema_builder::schema_builder() : impl_(std::make_unique<impl>()) {}
schema_builder::schema_builder(schema_builder&&) noexcept = default;
schema_builder& schema_builder::operator=(schema_builder&&) noexcept = default;
schema_builder::~schema_builder() = default;

schema_builder& schema_builder::add_def(std::string name, json::value n) {
    const auto& builtin = detail::tldraw_validator_description().at("defs").as_object();
    if (name.empty()) throw schema_definition_error("", "a def needs a name");
    if (builtin.contains(name) || impl_->defs.contains(name))
        throw schema_definition_error("", "def \"" + name + "\" already exists");
    impl_->defs[name] = std::move(n);
    return *this;
}

void schema_builder::check_defs() const {
    for (const auto& kv : impl_->defs) {
        try {
            impl_->probe(ref(kv.key()));
        } catch (const schema_definition_error& e) {
            // Errors inside a def are reported at "/defs/<name>/..." by the compiler.
            std::string p = e.pointer.starts_with("/defs/") ? e.pointer.substr(5) : e.pointer;
            throw schema_definition_error(std::move(p), e.reason);
        }
    }
}

schema_builder& schema_builder::add_check(std::string name, custom_check check) {
    if (name.empty() || !check) throw schema_definition_error("", "a check needs a name and a function");
    if (detail::find_custom(name) || impl_->checks.contains(name))
        throw schema_definition_error("", "custom check \"" + name + "\" already exists");
    impl_->checks.emplace(std::move(name), std::move(check));
    return *this;
}

schema_builder& schema_builder::add_shape(std::string type, const json::object& props,
                                          std::vector<props_migration> migrations) {
    impl_->check_type_name("shape type", type);
    if (has_shape(type)) throw schema_definition_error("", "shape type \"" + type + "\" already exists");
    const std::string sequence_id = "com.tldraw.shape." + type;
    impl_->check_new_sequence(sequence_id);
    impl_->probe(json::object{{"kind", "object"}, {"fields", props}}, "/records/_/fields");
    impl_->sequences.push_back(make_props_sequence("shape", type, std::move(migrations)));
    impl_->shapes.emplace(type, shape_variant(type, props));
    return *this;
}

schema_builder& schema_builder::add_binding(std::string type, const json::object& props,
                                            std::vector<props_migration> migrations) {
    impl_->check_type_name("binding type", type);
    if (has_binding(type)) throw schema_definition_error("", "binding type \"" + type + "\" already exists");
    const std::string sequence_id = "com.tldraw.binding." + type;
    impl_->check_new_sequence(sequence_id);
    impl_->probe(json::object{{"kind", "object"}, {"fields", props}}, "/records/_/fields");
    impl_->sequences.push_back(make_props_sequence("binding", type, std::move(migrations)));
    impl_->bindings.emplace(type, binding_variant(type, props));
    return *this;
}

schema_builder& schema_builder::add_record_type(std::string type_name, record_scope scope, json::value n) {
    impl_->check_type_name("record type", type_name);
    if (has_record_type(type_name))
        throw schema_definition_error("", "record type \"" + type_name + "\" already exists");
    impl_->probe(n);
    const auto* o = n.if_object();
    const auto* kind = o ? o->if_contains("kind") : nullptr;
    if (!(kind && kind->is_string() && kind->get_string() == "model"))
        n = json::object{{"kind", "model"}, {"name", type_name}, {"of", std::move(n)}};
    impl_->records.emplace_back(record_type{std::move(type_name), scope, {}}, std::move(n));
    return *this;
}

schema_builder& schema_builder::add_record_type(record_type type) {
    impl_->check_type_name("record type", type.type_name);
    if (has_record_type(type.type_name))
        throw schema_definition_error("", "record type \"" + type.type_name + "\" already exists");
    impl_->records.emplace_back(std::move(type), std::nullopt);
    return *this;
}

schema_builder& schema_builder::add_sequence(migration_sequence sequence) {
    impl_->check_new_sequence(sequence.sequence_id);
    try { // the schema would refuse it at build(); say so now, where it was added
        schema probe({}, {sequence});
    } catch (const std::invalid_argument& e) {
        if (std::string_view(e.what()).find("depends on missing") == std::string_view::npos)
            throw schema_definition_error("", e.what());
    }
    impl_->sequences.push_back(std::move(sequence));
    return *this;
}

bool schema_builder::has_record_type(std::string_view type_name) const {
    const auto& builtin = detail::tldraw_types();
    return std::any_of(builtin.begin(), builtin.end(), [&](const auto& t) { return t.type_name == type_name; }) ||
           std::any_of(impl_->records.begin(), impl_->records.end(),
                       [&](const auto& r) { return r.first.type_name == type_name; });
}

bool schema_builder::has_shape(std::string_view type) const {
    const auto& builtin = detail::tldraw_shape_types();
    return std::find(builtin.begin(), builtin.end(), type) != builtin.end() || impl_->shapes.contains(type);
}

bool schema_builder::has_binding(std::string_view type) const {
    const auto& builtin = detail::tldraw_binding_types();
    return std::find(builtin.begin(), builtin.end(), type) != builtin.end() || impl_->bindings.contains(type);
}

bool schema_builder::has_sequence(std::string_view sequence_id) const {
    try {
        impl_->check_new_sequence(sequence_id);
        return false;
    } catch (const schema_definition_error&) {
        return true;
    }
}

bool schema_builder::has_migration(std::string_view id) const {
    const auto& builtin = detail::tldraw_sequences();
    const bool in_builtin = std::any_of(builtin.begin(), builtin.end(), [&](const auto& s) {
        return std::any_of(s.migrations.begin(), s.migrations.end(), [&](const auto& m) { return m.id == id; });
    });
    return in_builtin || std::any_of(impl_->sequences.begin(), impl_->sequences.end(), [&](const auto& s) {
               return std::any_of(s.migrations.begin(), s.migrations.end(), [&](const auto& m) { return m.id == id; });
           });
}

std::shared_ptr<const schema> schema_builder::build() const {
    check_defs();
    json::object description = impl_->tldraw_description();
    auto& defs = description["defs"].as_object();
    for (const auto& kv : impl_->defs) defs[kv.key()] = kv.value();
    for (const auto& [type, variant] : impl_->shapes) union_variants(description, "shape")[type] = variant;
    for (const auto& [type, variant] : impl_->bindings) union_variants(description, "binding")[type] = variant;
    auto& records = description["records"].as_object();
    for (const auto& [type, n] : impl_->records)
        if (n) records[type.type_name] = *n;

    std::shared_ptr<const validator_library> lib;
    try {
        lib = std::make_shared<const validator_library>(description, impl_->checks);
    } catch (const std::invalid_argument& e) {
        throw schema_definition_error("", e.what()); // every part was probed: a bug if reached
    }

    std::vector<record_type> types = detail::tldraw_record_types(lib);
    for (const auto& [type, n] : impl_->records) {
        record_type t = type;
        if (n) {
            const validator* v = lib->find(t.type_name);
            t.validate = [lib, v](const json::object& record) { v->validate(record); };
        }
        types.push_back(std::move(t));
    }
    std::vector<migration_sequence> sequences = detail::tldraw_migration_sequences();
    sequences.insert(sequences.end(), impl_->sequences.begin(), impl_->sequences.end());
    try {
        return std::make_shared<const schema>(std::move(types), std::move(sequences));
    } catch (const std::invalid_argument& e) { // a second presence type, a missing dependency, a cycle
        throw schema_definition_error("", e.what());
    }
}

migration_sequence make_props_sequence(std::string_view type_name, std::string_view sub_type,
                                       std::vector<props_migration> migrations) {
    migration_sequence seq;
    seq.sequence_id = "com.tldraw." + std::string(type_name) + "." + std::string(sub_type);
    seq.retroactive = false;
    auto filter = [type_name = std::string(type_name), sub_type = std::string(sub_type)](const json::object& r) {
        const auto* tn = r.if_contains("typeName");
        const auto* t = r.if_contains("type");
        return tn && tn->is_string() && tn->get_string() == type_name && t && t->is_string() &&
               t->get_string() == sub_type;
    };
    // The record's props, which a valid record always has; anything else is
    // a migration failure, not a crash.
    auto on_props = [](std::function<void(json::object&)> step) -> std::function<void(json::object&)> {
        if (!step) return {};
        return [step = std::move(step)](json::object& record) {
            auto* props = record.if_contains("props");
            if (!props || !props->is_object()) throw std::runtime_error("record has no props object");
            step(props->get_object());
        };
    };
    for (std::size_t i = 0; i < migrations.size(); ++i) {
        migration m;
        m.id = seq.sequence_id + "/" + std::to_string(i + 1);
        m.scope = migration_scope::record;
        m.depends_on = std::move(migrations[i].depends_on);
        m.filter = filter;
        if (!migrations[i].up) throw schema_definition_error("", "migration " + m.id + " has no up step");
        m.up = on_props(std::move(migrations[i].up));
        m.down = on_props(std::move(migrations[i].down));
        seq.migrations.push_back(std::move(m));
    }
    return seq;
}

} // namespace tlsync::core
