#include "core/schema.hpp"

#include "core/storage.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <set>
#include <unordered_map>
#include <utility>

namespace tlsync::core {

namespace detail {
namespace {

// ICU root-collation primary order of printable ASCII, which is what
// String.prototype.localeCompare uses in Node. Upstream breaks ties between
// independent migrations with localeCompare, so using plain byte order would
// put e.g. "instance_page_state/1" and "instance/1" the other way round.
constexpr std::string_view collation_order =
    " _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$0123456789abcdefghijklmnopqrstuvwxyz";

int primary_weight(unsigned char c) noexcept {
    if (c >= 'A' && c <= 'Z') c = static_cast<unsigned char>(c - 'A' + 'a');
    auto pos = collation_order.find(static_cast<char>(c));
    if (pos != std::string_view::npos) return static_cast<int>(pos);
    return 256 + c; // controls and non-ASCII bytes: after letters, by byte
}

// True when `a` sorts before `b` under localeCompare (ASCII approximation:
// primary weights, then lowercase-before-uppercase, then bytes).
bool locale_less(std::string_view a, std::string_view b) noexcept {
    auto n = std::min(a.size(), b.size());
    for (std::size_t i = 0; i < n; ++i) {
        int wa = primary_weight(static_cast<unsigned char>(a[i]));
        int wb = primary_weight(static_cast<unsigned char>(b[i]));
        if (wa != wb) return wa < wb;
    }
    if (a.size() != b.size()) return a.size() < b.size();
    for (std::size_t i = 0; i < n; ++i) {
        bool la = a[i] >= 'a' && a[i] <= 'z';
        bool lb = b[i] >= 'a' && b[i] <= 'z';
        if (la != lb) return la;
    }
    return a < b;
}

struct parsed_id {
    std::string_view sequence_id;
    long long version = 0;
};

// "<sequenceId>/<n>" with n a canonical non-negative integer.
std::optional<parsed_id> parse_migration_id(std::string_view id) {
    auto slash = id.rfind('/');
    if (slash == std::string_view::npos) return std::nullopt;
    auto digits = id.substr(slash + 1);
    if (digits.empty() || (digits.size() > 1 && digits[0] == '0')) return std::nullopt;
    long long v = 0;
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (ec != std::errc{} || p != digits.data() + digits.size()) return std::nullopt;
    return parsed_id{id.substr(0, slash), v};
}

void check_sequence(const migration_sequence& seq) {
    const auto& sid = seq.sequence_id;
    if (sid.empty()) throw std::invalid_argument("sequenceId must be a non-empty string");
    if (sid.find('/') != std::string::npos)
        throw std::invalid_argument("sequenceId cannot contain a '/', got " + sid);
    long long expected = 1;
    for (const auto& m : seq.migrations) {
        auto parsed = parse_migration_id(m.id);
        if (!parsed || parsed->sequence_id != sid || parsed->version != expected)
            throw std::invalid_argument("migration ids in '" + sid + "' must be '" + sid + "/1', '" + sid +
                                        "/2', ... in order; got '" + m.id + "'");
        if (m.scope == migration_scope::record && !m.up)
            throw std::invalid_argument("record migration " + m.id + " has no up step");
        if (m.scope != migration_scope::record && !m.up_storage)
            throw std::invalid_argument("storage migration " + m.id + " has no up_storage step");
        ++expected;
    }
}

// sortMigrations: Kahn's algorithm where, among ready migrations, the one
// that unblocks the most (and especially explicit dependsOn edges) goes first,
// so a migration runs as close as possible after what it depends on.
std::vector<const migration*> sort_migrations(const std::vector<const migration*>& all) {
    const std::size_t n = all.size();
    std::unordered_map<std::string_view, std::size_t> index;
    for (std::size_t i = 0; i < n; ++i) index.emplace(all[i]->id, i);

    std::vector<std::vector<std::size_t>> dependents(n);
    std::vector<std::set<std::size_t>> explicit_deps(n);
    std::vector<std::size_t> in_degree(n, 0);
    auto add_edge = [&](std::size_t from, std::size_t to) {
        auto& d = dependents[from];
        if (std::find(d.begin(), d.end(), to) != d.end()) return; // count an edge once
        d.push_back(to);
        ++in_degree[to];
    };
    for (std::size_t i = 0; i < n; ++i) {
        auto parsed = parse_migration_id(all[i]->id);
        auto prev = std::string(parsed->sequence_id) + "/" + std::to_string(parsed->version - 1);
        if (auto it = index.find(prev); it != index.end()) add_edge(it->second, i);
        for (const auto& dep : all[i]->depends_on) {
            auto it = index.find(dep);
            if (it == index.end()) continue;
            explicit_deps[i].insert(it->second);
            add_edge(it->second, i);
        }
    }

    std::vector<std::size_t> ready;
    for (std::size_t i = 0; i < n; ++i)
        if (in_degree[i] == 0) ready.push_back(i);
    std::vector<bool> done(n, false);
    std::vector<const migration*> result;
    result.reserve(n);
    while (!ready.empty()) {
        std::size_t best_pos = 0;
        long best_score = -1;
        for (std::size_t r = 0; r < ready.size(); ++r) {
            std::size_t m = ready[r];
            long score = 0;
            for (std::size_t d : dependents[m]) {
                if (done[d]) continue;
                score += 1;
                if (explicit_deps[d].count(m)) score += 100;
            }
            if (score > best_score ||
                (score == best_score && locale_less(all[m]->id, all[ready[best_pos]]->id))) {
                best_pos = r;
                best_score = score;
            }
        }
        std::size_t next = ready[best_pos];
        ready.erase(ready.begin() + static_cast<std::ptrdiff_t>(best_pos));
        result.push_back(all[next]);
        done[next] = true;
        for (std::size_t d : dependents[next]) {
            if (!done[d] && --in_degree[d] == 0) ready.push_back(d);
        }
    }
    if (result.size() != n) {
        for (std::size_t i = 0; i < n; ++i)
            if (!done[i]) throw std::invalid_argument("circular dependency in migrations: " + all[i]->id);
    }
    return result;
}

// upgradeSchema: a schemaVersion 1 schema (storeVersion + recordVersions with
// optional subtypes) becomes the equivalent sequences map. Malformed input is
// nullopt where upstream would fail or throw.
std::optional<json::object> upgraded_sequences(const json::value& persisted) {
    const auto* obj = persisted.if_object();
    if (!obj) return std::nullopt;
    const auto* version = obj->if_contains("schemaVersion");
    if (!version || !is_number(*version)) return std::nullopt;
    double v = to_double(*version);
    if (v == 2) {
        const auto* seqs = obj->if_contains("sequences");
        if (!seqs || !seqs->is_object()) return std::nullopt;
        return seqs->get_object();
    }
    if (v != 1) return std::nullopt;
    const auto* records = obj->if_contains("recordVersions");
    if (!records || !records->is_object()) return std::nullopt;
    json::object out;
    // An absent storeVersion stays a present-but-unusable entry, as upstream's
    // `undefined` does; null behaves identically in migrations_since.
    const auto* store_version = obj->if_contains("storeVersion");
    out["com.tldraw.store"] = store_version ? *store_version : json::value(nullptr);
    for (const auto& [type_name, info] : records->get_object()) {
        const auto* rv = info.if_object();
        if (!rv) return std::nullopt;
        std::string base = "com.tldraw." + std::string(type_name);
        const auto* ver = rv->if_contains("version");
        out[base] = ver ? *ver : json::value(nullptr);
        if (rv->contains("subTypeKey")) {
            const auto* subs = rv->if_contains("subTypeVersions");
            if (!subs || !subs->is_object()) return std::nullopt;
            for (const auto& [sub, sv] : subs->get_object()) out[base + "." + std::string(sub)] = sv;
        }
    }
    return out;
}

// The version a persisted entry names, as upstream finds it by building the
// id `${sequenceId}/${theirVersion}`: integral numbers and digit strings.
std::optional<long long> named_version(const json::value& v) {
    if (is_number(v)) {
        double d = to_double(v);
        if (!std::isfinite(d) || d != std::floor(d) || d < 0 || d > 1e15) return std::nullopt;
        return static_cast<long long>(d);
    }
    if (const auto* s = v.if_string()) {
        auto p = parse_migration_id("x/" + std::string(*s));
        if (p) return p->version;
    }
    return std::nullopt;
}

} // namespace
} // namespace detail

bool migration_plan::can_migrate_down() const noexcept {
    return std::all_of(steps_.begin(), steps_.end(), [](const migration* m) {
        return m->scope == migration_scope::record && static_cast<bool>(m->down);
    });
}

struct schema::impl {
    std::vector<record_type> types;
    std::vector<migration_sequence> sequences;
    std::vector<const migration*> sorted;
    json::object serialized;
    const record_type* presence = nullptr;

    const migration_sequence* find_sequence(std::string_view id) const noexcept {
        for (const auto& s : sequences)
            if (s.sequence_id == id) return &s;
        return nullptr;
    }
};

schema::schema(std::vector<record_type> types, std::vector<migration_sequence> sequences)
    : impl_(std::make_unique<impl>()) {
    auto& d = *impl_;
    d.types = std::move(types);
    d.sequences = std::move(sequences);

    for (std::size_t i = 0; i < d.types.size(); ++i) {
        for (std::size_t j = 0; j < i; ++j)
            if (d.types[i].type_name == d.types[j].type_name)
                throw std::invalid_argument("duplicate record type " + d.types[i].type_name);
        if (d.types[i].scope == record_scope::presence) {
            if (d.presence)
                throw std::invalid_argument("exactly zero or one presence type is expected, found more: " +
                                            d.presence->type_name + ", " + d.types[i].type_name);
            d.presence = &d.types[i];
        }
    }

    std::vector<const migration*> all;
    for (std::size_t i = 0; i < d.sequences.size(); ++i) {
        for (std::size_t j = 0; j < i; ++j)
            if (d.sequences[i].sequence_id == d.sequences[j].sequence_id)
                throw std::invalid_argument("duplicate migration sequenceId " + d.sequences[i].sequence_id);
        detail::check_sequence(d.sequences[i]);
        for (const auto& m : d.sequences[i].migrations) all.push_back(&m);
    }
    for (const auto* m : all)
        for (const auto& dep : m->depends_on)
            if (std::none_of(all.begin(), all.end(), [&](const migration* o) { return o->id == dep; }))
                throw std::invalid_argument("migration '" + m->id + "' depends on missing migration '" + dep +
                                            "'");
    d.sorted = detail::sort_migrations(all);

    json::object seqs;
    for (const auto& s : d.sequences) seqs[s.sequence_id] = static_cast<std::int64_t>(s.migrations.size());
    d.serialized["schemaVersion"] = 2;
    d.serialized["sequences"] = std::move(seqs);
}

schema::schema(schema&&) noexcept = default;
schema& schema::operator=(schema&&) noexcept = default;
schema::~schema() = default;

const json::object& schema::serialize() const noexcept { return impl_->serialized; }

json::object schema::serialize_earliest_version() const {
    json::object seqs;
    for (const auto& s : impl_->sequences) seqs[s.sequence_id] = 0;
    return json::object{{"schemaVersion", 2}, {"sequences", std::move(seqs)}};
}

const record_type* schema::find_type(std::string_view type_name) const noexcept {
    for (const auto& t : impl_->types)
        if (t.type_name == type_name) return &t;
    return nullptr;
}

const std::vector<record_type>& schema::types() const noexcept { return impl_->types; }
const record_type* schema::presence_type() const noexcept { return impl_->presence; }
const std::vector<migration_sequence>& schema::sequences() const noexcept { return impl_->sequences; }
const std::vector<const migration*>& schema::sorted_migrations() const noexcept { return impl_->sorted; }

std::optional<migration_plan> schema::migrations_since(const json::value& persisted) const {
    auto theirs = detail::upgraded_sequences(persisted);
    if (!theirs) return std::nullopt;

    // Shared sequences, plus retroactive ones the persisted schema predates.
    // Sequences only the persisted side knows are none of our business.
    std::set<std::string_view> included;
    for (const auto& s : impl_->sequences) {
        const auto* their = theirs->if_contains(s.sequence_id);
        if (!their && !s.retroactive) continue;
        const auto& migs = s.migrations;
        // A retroactive sequence the persisted schema lacks (or names oddly)
        // and version 0 both mean "from the beginning".
        bool from_start = !their || (is_number(*their) ? to_double(*their) == 0 : s.retroactive);
        if (from_start) {
            for (const auto& m : migs) included.insert(m.id);
            continue;
        }
        auto v = detail::named_version(*their);
        if (!v || *v < 1 || *v > static_cast<long long>(migs.size())) return std::nullopt;
        for (auto i = static_cast<std::size_t>(*v); i < migs.size(); ++i) included.insert(migs[i].id);
    }

    migration_plan plan;
    for (const auto* m : impl_->sorted)
        if (included.count(m->id)) plan.steps_.push_back(m);
    return plan;
}

schema::migrate_result schema::migrate_record(const json::object& record, const migration_plan& plan,
                                              migration_direction dir) const {
    migrate_result out;
    const auto& steps = plan.steps();
    if (steps.empty()) {
        out.value = record;
        return out;
    }
    bool all_record = std::all_of(steps.begin(), steps.end(),
                                  [](const migration* m) { return m->scope == migration_scope::record; });
    if (!all_record) {
        out.failure = dir == migration_direction::down ? migration_failure::target_version_too_old
                                                       : migration_failure::target_version_too_new;
        return out;
    }
    if (dir == migration_direction::down && !plan.can_migrate_down()) {
        out.failure = migration_failure::target_version_too_old;
        return out;
    }
    json::object r = record;
    try {
        auto apply = [&](const migration* m) {
            if (m->filter && !m->filter(r)) return;
            (dir == migration_direction::up ? m->up : m->down)(r);
        };
        if (dir == migration_direction::up)
            std::for_each(steps.begin(), steps.end(), apply);
        else
            std::for_each(steps.rbegin(), steps.rend(), apply);
    } catch (const std::exception&) {
        out.failure = migration_failure::migration_error;
        return out;
    }
    out.value = std::move(r);
    return out;
}

void schema::migrate_storage(storage_txn& txn) const {
    auto stored = txn.get_schema();
    if (!stored) throw std::runtime_error("cannot migrate storage: schema is missing");
    auto plan = migrations_since(*stored);
    if (!plan)
        throw std::runtime_error("cannot migrate storage: stored schema " + json::serialize(*stored) +
                                 " is incompatible with " + json::serialize(serialize()));
    if (plan->empty()) {
        if (auto completed = with_missing_sequences(*stored)) txn.set_schema(std::move(*completed));
        return;
    }

    txn.set_schema(serialize());
    for (const auto* m : plan->steps()) {
        if (m->scope != migration_scope::record) {
            m->up_storage(txn);
            continue;
        }
        // Collect first, write after: a live iterator (SQLite) could visit a
        // rewritten record again, and for_each does not allow writes anyway.
        std::vector<std::pair<std::string, json::object>> updates;
        txn.for_each([&](std::string_view id, const json::object& state) {
            if (m->filter && !m->filter(state)) return;
            json::object r = state;
            m->up(r);
            if (!deep_equal(r, state)) updates.emplace_back(std::string(id), std::move(r));
        });
        for (auto& [id, r] : updates) txn.set(id, std::move(r));
    }

    // Session and presence records never belong in storage (very old rooms
    // kept them); a record of a type we do not know means we cannot vouch for
    // the data at all.
    std::vector<std::string> to_delete;
    std::optional<std::string> unknown;
    txn.for_each([&](std::string_view id, const json::object& state) {
        const auto* tn = state.if_contains("typeName");
        const record_type* t = tn && tn->is_string() ? find_type(tn->get_string()) : nullptr;
        if (!t) {
            if (!unknown) unknown = std::string(id);
            return;
        }
        if (t->scope != record_scope::document) to_delete.emplace_back(id);
    });
    if (unknown) throw std::runtime_error("cannot migrate storage: record " + *unknown + " has an unknown type");
    for (const auto& id : to_delete) txn.remove(id);
}

std::optional<json::object> schema::with_missing_sequences(const json::object& persisted) const {
    const auto* version = persisted.if_contains("schemaVersion");
    const auto* seqs = persisted.if_contains("sequences");
    if (!version || !is_number(*version) || to_double(*version) != 2 || !seqs || !seqs->is_object())
        return serialize(); // a schemaVersion 1 schema: store the current form
    std::optional<json::object> out;
    for (const auto& s : impl_->sequences) {
        if (seqs->get_object().contains(s.sequence_id)) continue;
        if (!out) out = persisted;
        (*out)["sequences"].as_object()[s.sequence_id] = static_cast<std::int64_t>(s.migrations.size());
    }
    return out;
}

void schema::validate_record(const json::object& record) const {
    const auto* tn = record.if_contains("typeName");
    if (!tn || !tn->is_string()) throw validation_error("record has no string typeName");
    std::string_view type_name = tn->get_string();
    const auto* type = find_type(type_name);
    if (!type) throw validation_error("missing definition for record type " + std::string(type_name));
    const auto* id = record.if_contains("id");
    if (!id || !id->is_string())
        throw validation_error("at " + std::string(type_name) + ".id: expected a string");
    std::string_view sid = id->get_string();
    if (sid.size() <= type_name.size() || sid.substr(0, type_name.size()) != type_name ||
        sid[type_name.size()] != ':')
        throw validation_error("at " + std::string(type_name) + ".id: expected an id starting with \"" +
                               std::string(type_name) + ":\", got " + json::serialize(*id));
    if (type->validate) type->validate(record);
}

} // namespace tlsync::core
