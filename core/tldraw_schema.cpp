#include "core/tldraw_schema.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <string>

namespace tlsync::core {

namespace {

// Full prop validators come later; for now a record with a subtype must at
// least name a type this schema knows and carry a props object, which is what
// every migration filter and step relies on.
std::function<void(const json::object&)> subtype_validator(std::string type_name,
                                                           const std::vector<std::string_view>& known) {
    return [type_name = std::move(type_name), &known](const json::object& r) {
        const auto* type = r.if_contains("type");
        if (!type || !type->is_string())
            throw validation_error("at " + type_name + ".type: expected a string");
        if (std::find(known.begin(), known.end(), std::string_view(type->get_string())) == known.end())
            throw validation_error("at " + type_name + ".type: unknown " + type_name + " type " +
                                   json::serialize(*type));
        const auto* props = r.if_contains("props");
        if (!props || !props->is_object())
            throw validation_error("at " + type_name + ".props: expected an object");
    };
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
    std::vector<record_type> types;
    for (const auto& t : detail::tldraw_types()) {
        record_type rt{std::string(t.type_name), t.scope, {}};
        if (t.type_name == "shape") rt.validate = subtype_validator("shape", detail::tldraw_shape_types());
        if (t.type_name == "binding") rt.validate = subtype_validator("binding", detail::tldraw_binding_types());
        if (t.type_name == "asset") rt.validate = subtype_validator("asset", detail::tldraw_asset_types());
        types.push_back(std::move(rt));
    }

    const auto& ported = detail::tldraw_ported_steps();
    std::vector<migration_sequence> sequences;
    for (const auto& s : detail::tldraw_sequences()) {
        migration_sequence seq{std::string(s.sequence_id), s.retroactive, {}};
        for (const auto& d : s.migrations) {
            migration m;
            m.id = std::string(d.id);
            m.scope = d.scope;
            for (auto dep : d.depends_on) m.depends_on.emplace_back(dep);
            m.filter = make_filter(d.filter_type_name, d.filter_sub_type);
            auto it = std::find_if(ported.begin(), ported.end(),
                                   [&](const detail::tldraw_steps& p) { return p.info.id == d.id; });
            const detail::tldraw_steps* p = it == ported.end() ? nullptr : &*it;
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
    return schema(std::move(types), std::move(sequences));
}

} // namespace

std::shared_ptr<const schema> make_tldraw_schema() {
    static const std::shared_ptr<const schema> instance = std::make_shared<const schema>(build_tldraw_schema());
    return instance;
}

const std::vector<ported_migration_info>& tldraw_ported_migrations() {
    static const std::vector<ported_migration_info> infos = [] {
        std::vector<ported_migration_info> v;
        for (const auto& p : detail::tldraw_ported_steps()) v.push_back(p.info);
        return v;
    }();
    return infos;
}

} // namespace tlsync::core
