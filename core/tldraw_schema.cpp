#include "core/tldraw_schema.hpp"

#include "core/validator.hpp"

#include <boost/json/parse.hpp>

#include <algorithm>
#include <string>

namespace tlsync::core {

namespace {

// Compiled once; each record type's validate holds it alive.
std::shared_ptr<const validator_library> tldraw_validators() {
    static const auto lib = std::make_shared<const validator_library>(detail::tldraw_validator_description());
    return lib;
}

std::function<bool(const json::object&)> make_filter(std::string_view type_name, std::string_view sub_type) {
    if (type_name.empty()) return {};
    return [type_name = std::string(type_name), sub_type = std::string(sub_type)](const json::object& r) {
        const auto* tn = r.if_contains("typeName");
        if (!tn || !tn->is_string() || tn->get_string() != type_name) return false;
        if (sub_type.empty()) return true;
        const auto* t = r.if_contains("type");
        return t && t->is_string() && t->get_string() == sub_type;
    };
}

schema build_tldraw_schema() {
    return schema(detail::tldraw_record_types(tldraw_validators()), detail::tldraw_migration_sequences());
}

} // namespace

std::shared_ptr<const schema> make_tldraw_schema() {
    static const std::shared_ptr<const schema> instance = std::make_shared<const schema>(build_tldraw_schema());
    return instance;
}

namespace detail {

const json::value& tldraw_validator_description() {
    static const json::value description = json::parse(tldraw_validators_json);
    return description;
}

std::vector<record_type> tldraw_record_types(std::shared_ptr<const validator_library> validators) {
    std::vector<record_type> types;
    for (const auto& t : tldraw_types()) {
        record_type rt{std::string(t.type_name), t.scope, {}};
        const validator* v = validators->find(t.type_name);
        if (!v) throw std::logic_error("no validator for record type " + rt.type_name);
        // Shapes, bindings and assets dispatch on `type` inside the validator.
        rt.validate = [validators, v](const json::object& record) { v->validate(record); };
        types.push_back(std::move(rt));
    }
    return types;
}

std::vector<migration_sequence> tldraw_migration_sequences() {
    const auto& ported = tldraw_ported_steps();
    std::vector<migration_sequence> sequences;
    for (const auto& s : tldraw_sequences()) {
        migration_sequence seq{std::string(s.sequence_id), s.retroactive, {}};
        for (const auto& d : s.migrations) {
            migration m;
            m.id = std::string(d.id);
            m.scope = d.scope;
            for (auto dep : d.depends_on) m.depends_on.emplace_back(dep);
            m.filter = make_filter(d.filter_type_name, d.filter_sub_type);
            auto it = std::find_if(ported.begin(), ported.end(),
                                   [&](const tldraw_steps& p) { return p.info.id == d.id; });
            const tldraw_steps* p = it == ported.end() ? nullptr : &*it;
            auto unsupported = [id = m.id](auto&) -> void {
                throw std::runtime_error("migration " + id + " not supported (no C++ port)");
            };
            if (d.scope == migration_scope::record) {
                m.up = p && p->up ? p->up : std::function<void(json::object&)>(unsupported);
                // Never offer a down step upstream lacks, whatever we ported.
                if (p && p->down && d.upstream_has_down) m.down = p->down;
            } else {
                m.up_storage = p && p->up_storage ? p->up_storage : std::function<void(storage_txn&)>(unsupported);
            }
            seq.migrations.push_back(std::move(m));
        }
        sequences.push_back(std::move(seq));
    }
    return sequences;
}

} // namespace detail

const std::vector<ported_migration_info>& tldraw_ported_migrations() {
    static const std::vector<ported_migration_info> infos = [] {
        std::vector<ported_migration_info> v;
        for (const auto& p : detail::tldraw_ported_steps()) v.push_back(p.info);
        return v;
    }();
    return infos;
}

} // namespace tlsync::core
