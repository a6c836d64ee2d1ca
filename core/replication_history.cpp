#include "core/replication_history.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

namespace tlsync::core::pg {
namespace json = boost::json;

namespace {

// Append-only: never edit a shipped entry, add a new one.
constexpr std::string_view migrations[] = {
    R"sql(
    CREATE TABLE meta (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        slot_name TEXT NOT NULL,
        system_id TEXT NOT NULL,
        lsn INTEGER NOT NULL,
        floor_lsn INTEGER NOT NULL,
        epoch TEXT NOT NULL
    );
    INSERT INTO meta VALUES (1, '', '', 0, 0, '');
    -- One row per routed row change; all changes of a transaction share its end LSN.
    CREATE TABLE history (
        id INTEGER PRIMARY KEY,
        lsn INTEGER NOT NULL,
        user_id TEXT NOT NULL,
        file_id TEXT,
        change TEXT NOT NULL,
        recorded_at INTEGER NOT NULL
    );
    CREATE INDEX history_lsn ON history (lsn);
    CREATE INDEX history_user ON history (user_id, lsn);
    CREATE TABLE active_user (
        id TEXT PRIMARY KEY,
        sequence_number INTEGER NOT NULL,
        sequence_id_suffix TEXT NOT NULL,
        last_updated_at INTEGER NOT NULL
    );
    CREATE TABLE user_file_subscription (
        user_id TEXT NOT NULL,
        file_id TEXT NOT NULL,
        PRIMARY KEY (user_id, file_id)
    );
    CREATE INDEX user_file_subscription_file ON user_file_subscription (file_id);
    )sql",
};

std::string_view str(const json::object& row, std::string_view key) {
    auto it = row.find(key);
    return it != row.end() && it->value().is_string() ? std::string_view(it->value().get_string()) : std::string_view{};
}

bool truthy(const json::object& row, std::string_view key) {
    auto it = row.find(key);
    return it != row.end() && it->value().is_bool() && it->value().get_bool();
}

std::optional<row_op> op_from(std::string_view s) {
    if (s == "insert") return row_op::insert;
    if (s == "update") return row_op::update;
    if (s == "delete") return row_op::remove;
    return std::nullopt;
}

// The user a change belongs to and the file it is about; nullopt for tables
// the app does not route and rows without a user.
struct route_key {
    std::string_view user;
    std::string_view file;
};
std::optional<route_key> key_of(std::string_view table, const json::object& row) {
    route_key k;
    if (table == "user") k.user = str(row, "id");
    else if (table == "file") k = {str(row, "ownerId"), str(row, "id")};
    else if (table == "file_state") k = {str(row, "userId"), str(row, "fileId")};
    else if (table == "user_mutation_number") k.user = str(row, "userId");
    else return std::nullopt;
    if (k.user.empty()) return std::nullopt;
    return k;
}

// Collects per-user changes of one transaction, users in first-touched order.
struct per_user {
    std::vector<std::pair<std::string, json::array>> list;
    std::unordered_map<std::string, std::size_t> index;
    void add(std::string_view user, json::object event) {
        auto [it, fresh] = index.try_emplace(std::string(user), list.size());
        if (fresh) list.emplace_back(std::string(user), json::array{});
        list[it->second].second.push_back(std::move(event));
    }
};

} // namespace

std::optional<json::object> user_event(std::string_view table, row_op op, const json::object& row,
                                       std::string_view user_id) {
    json::object e;
    if (table == "user_mutation_number") {
        if (op == row_op::remove) return std::nullopt;
        e["type"] = "mutation_commit";
        auto it = row.find("mutationNumber");
        e["mutationNumber"] = it != row.end() ? it->value() : json::value(nullptr);
        e["userId"] = user_id;
        return e;
    }
    e["type"] = "row_update";
    e["row"] = row;
    e["table"] = table;
    e["event"] = to_string(op);
    e["userId"] = user_id;
    return e;
}

replication_history::replication_history(const std::string& path, const sqlite_options& opts, history_config cfg)
    : db_(std::make_unique<sqlite_db>(path, opts)), cfg_(cfg) {
    migrate();
}

replication_history::~replication_history() = default;

void replication_history::migrate() {
    db_->exec("CREATE TABLE IF NOT EXISTS migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)");
    std::int64_t applied = 0;
    {
        auto c = db_->prepare("SELECT coalesce(max(version), 0) FROM migrations").query();
        if (c.next()) applied = c.get_int64(0);
    }
    const auto known = static_cast<std::int64_t>(std::size(migrations));
    if (applied > known)
        throw std::runtime_error("replicator state is at migration " + std::to_string(applied) +
                                 ", newer than this server (" + std::to_string(known) + ")");
    for (auto v = applied + 1; v <= known; ++v) {
        db_->transaction([&] {
            db_->exec(migrations[v - 1]);
            db_->prepare("INSERT INTO migrations (version, applied_at) VALUES (?, strftime('%s','now'))").run(v);
        });
    }
}

history_meta replication_history::meta() {
    auto c = db_->prepare("SELECT slot_name, system_id, lsn, floor_lsn, epoch FROM meta WHERE id = 1").query();
    if (!c.next()) throw std::runtime_error("replicator state: meta row missing");
    return history_meta{std::string(c.get_text(0)), std::string(c.get_text(1)),
                        lsn{static_cast<std::uint64_t>(c.get_int64(2))}, lsn{static_cast<std::uint64_t>(c.get_int64(3))},
                        std::string(c.get_text(4))};
}

void replication_history::set_meta(const history_meta& m) {
    db_->prepare("UPDATE meta SET slot_name = ?, system_id = ?, lsn = ?, floor_lsn = ?, epoch = ? WHERE id = 1")
        .run(std::string_view(m.slot_name), std::string_view(m.system_id), static_cast<std::int64_t>(m.recorded.value),
             static_cast<std::int64_t>(m.floor.value), std::string_view(m.epoch));
}

bool replication_history::begin_slot(std::string_view slot, std::string_view system_id, lsn confirmed,
                                     std::string_view new_epoch) {
    return db_->transaction([&] {
        auto m = meta();
        const bool continuous = !m.epoch.empty() && m.slot_name == slot && m.system_id == system_id &&
                                m.recorded >= confirmed;
        if (continuous) return false;
        db_->exec("DELETE FROM history; DELETE FROM active_user; DELETE FROM user_file_subscription;");
        set_meta(history_meta{std::string(slot), std::string(system_id), confirmed, confirmed, std::string(new_epoch)});
        return true;
    });
}

std::optional<user_delivery> replication_history::next_delivery(const std::string& user, lsn at,
                                                                json::array changes, std::int64_t now_ms,
                                                                const std::string& epoch) {
    auto c = db_->prepare("UPDATE active_user SET sequence_number = sequence_number + 1, last_updated_at = ? "
                          "WHERE id = ? RETURNING sequence_number, sequence_id_suffix")
                 .query(now_ms, std::string_view(user));
    if (!c.next()) return std::nullopt;
    user_delivery d{user, at, std::move(changes), epoch + std::string(c.get_text(1)), c.get_int64(0)};
    while (c.next()) {
    }
    return d;
}

bool replication_history::is_active(std::string_view user_id) {
    auto c = db_->prepare("SELECT 1 FROM active_user WHERE id = ?").query(user_id);
    return c.next();
}

std::vector<user_delivery> replication_history::record(std::span<const transaction> txs, std::int64_t now_ms) {
    std::vector<user_delivery> out;
    if (txs.empty()) return out;
    db_->transaction([&] {
        auto m = meta();
        auto& insert_history = db_->prepare(
            "INSERT INTO history (lsn, user_id, file_id, change, recorded_at) VALUES (?, ?, ?, ?, ?)");
        auto& follow = db_->prepare("INSERT OR IGNORE INTO user_file_subscription (user_id, file_id) VALUES (?, ?)");
        auto& unfollow = db_->prepare("DELETE FROM user_file_subscription WHERE user_id = ? AND file_id = ?");
        auto& unfollow_file = db_->prepare("DELETE FROM user_file_subscription WHERE file_id = ?");
        auto& followers = db_->prepare("SELECT user_id FROM user_file_subscription WHERE file_id = ?");

        for (auto& tx : txs) {
            if (tx.end_lsn <= m.recorded) continue; // already recorded
            per_user users;
            for (auto& ch : tx.changes) {
                if (ch.schema != "public") continue;
                auto key = key_of(ch.table, ch.row);
                if (!key) continue;
                json::object stored{{"table", ch.table}, {"event", to_string(ch.op)}, {"row", ch.row}};
                sqlite_param file = key->file.empty() ? sqlite_param(sqlite_null{}) : sqlite_param(key->file);
                insert_history.run(static_cast<std::int64_t>(tx.end_lsn.value), key->user, file,
                                   std::string_view(json::serialize(stored)), now_ms);

                std::vector<std::string> to{std::string(key->user)};
                if (ch.table == "file") {
                    auto c = followers.query(key->file);
                    while (c.next()) {
                        std::string u(c.get_text(0));
                        if (u != key->user) to.push_back(std::move(u));
                    }
                    if (ch.op == row_op::remove) unfollow_file.run(key->file);
                } else if (ch.table == "file_state" && is_active(key->user)) {
                    if (ch.op == row_op::insert && !truthy(ch.row, "isFileOwner")) follow.run(key->user, key->file);
                    else if (ch.op == row_op::remove) unfollow.run(key->user, key->file);
                }
                for (auto& u : to)
                    if (auto e = user_event(ch.table, ch.op, ch.row, u); e && is_active(u)) users.add(u, std::move(*e));
            }
            m.recorded = tx.end_lsn;
            for (auto& [u, changes] : users.list)
                if (auto d = next_delivery(u, tx.end_lsn, std::move(changes), now_ms, m.epoch)) out.push_back(std::move(*d));
            for (auto& msg : tx.messages)
                if (msg.prefix == "requestLsnUpdate")
                    if (auto d = next_delivery(msg.content, tx.end_lsn, {}, now_ms, m.epoch)) out.push_back(std::move(*d));
        }
        set_meta(m);
    });
    return out;
}

void replication_history::advance(lsn to) {
    db_->transaction([&] {
        auto m = meta();
        if (to <= m.recorded) return;
        m.recorded = to;
        set_meta(m);
    });
}

std::optional<user_delivery> replication_history::lsn_update(std::string_view user_id, std::int64_t now_ms) {
    auto m = meta();
    return db_->transaction([&] { return next_delivery(std::string(user_id), m.recorded, {}, now_ms, m.epoch); });
}

registration replication_history::register_user(std::string_view user_id, lsn seen,
                                                std::span<const std::string> guest_file_ids,
                                                std::string_view boot_id, std::int64_t now_ms) {
    return db_->transaction([&] {
        auto m = meta();
        registration r;
        r.sequence_id = m.epoch + std::string(boot_id);
        db_->prepare("DELETE FROM active_user WHERE id = ?").run(user_id);
        db_->prepare("DELETE FROM user_file_subscription WHERE user_id = ?").run(user_id);
        db_->prepare("INSERT INTO active_user (id, sequence_number, sequence_id_suffix, last_updated_at) "
                     "VALUES (?, 0, ?, ?)")
            .run(user_id, boot_id, now_ms);
        std::unordered_set<std::string> following(guest_file_ids.begin(), guest_file_ids.end());
        for (auto& f : following)
            db_->prepare("INSERT OR IGNORE INTO user_file_subscription (user_id, file_id) VALUES (?, ?)")
                .run(user_id, std::string_view(f));

        if (seen >= m.recorded) return r;
        if (seen < m.floor) {
            r.reload = true;
            return r;
        }
        // Replays in WAL order, following and unfollowing files as the
        // history goes, so a file the user was invited to meanwhile counts.
        auto c = db_->prepare("SELECT lsn, change FROM history WHERE lsn > ? AND (user_id = ? OR file_id IS NOT NULL) "
                              "ORDER BY id")
                     .query(static_cast<std::int64_t>(seen.value), user_id);
        std::vector<std::pair<lsn, json::array>> batches;
        while (c.next()) {
            lsn at{static_cast<std::uint64_t>(c.get_int64(0))};
            auto v = json::parse(c.get_text(1));
            auto& ch = v.as_object();
            std::string_view table = ch.at("table").as_string();
            auto op = op_from(ch.at("event").as_string());
            auto& row = ch.at("row").as_object();
            auto key = key_of(table, row);
            if (!op || !key) continue;
            bool mine = key->user == user_id;
            if (table == "file") {
                mine = mine || following.contains(std::string(key->file));
                if (*op == row_op::remove) following.erase(std::string(key->file));
            } else if (table == "file_state" && mine) {
                if (*op == row_op::insert && !truthy(row, "isFileOwner")) following.insert(std::string(key->file));
                else if (*op == row_op::remove) following.erase(std::string(key->file));
            }
            if (!mine) continue;
            auto e = user_event(table, *op, row, user_id);
            if (!e) continue;
            if (batches.empty() || batches.back().first != at) batches.emplace_back(at, json::array{});
            batches.back().second.push_back(std::move(*e));
        }
        db_->prepare("DELETE FROM user_file_subscription WHERE user_id = ?").run(user_id);
        for (auto& f : following)
            db_->prepare("INSERT OR IGNORE INTO user_file_subscription (user_id, file_id) VALUES (?, ?)")
                .run(user_id, std::string_view(f));
        for (auto& [at, changes] : batches)
            if (auto d = next_delivery(std::string(user_id), at, std::move(changes), now_ms, m.epoch))
                r.replay.push_back(std::move(*d));
        return r;
    });
}

void replication_history::unregister_user(std::string_view user_id) {
    db_->transaction([&] {
        db_->prepare("DELETE FROM active_user WHERE id = ?").run(user_id);
        db_->prepare("DELETE FROM user_file_subscription WHERE user_id = ?").run(user_id);
    });
}

bool replication_history::unregister_user_if(std::string_view user_id, std::string_view boot_id) {
    return db_->transaction([&] {
        {
            auto c = db_->prepare("SELECT 1 FROM active_user WHERE id = ? AND sequence_id_suffix = ?")
                         .query(user_id, boot_id);
            if (!c.next()) return false;
        }
        db_->prepare("DELETE FROM active_user WHERE id = ?").run(user_id);
        db_->prepare("DELETE FROM user_file_subscription WHERE user_id = ?").run(user_id);
        return true;
    });
}

std::vector<std::string> replication_history::prune(std::int64_t now_ms, std::chrono::milliseconds user_idle) {
    return db_->transaction([&] {
        std::int64_t max_id = 0;
        {
            auto c = db_->prepare("SELECT coalesce(max(id), 0) FROM history").query();
            if (c.next()) max_id = c.get_int64(0);
        }
        const std::int64_t keep_from = max_id - static_cast<std::int64_t>(cfg_.max_rows);
        const std::int64_t too_old = now_ms - cfg_.max_age.count();
        std::int64_t pruned_to = 0;
        {
            auto c = db_->prepare("SELECT coalesce(max(lsn), 0) FROM history WHERE id <= ? OR recorded_at < ?")
                         .query(keep_from, too_old);
            if (c.next()) pruned_to = c.get_int64(0);
        }
        if (pruned_to) {
            db_->prepare("DELETE FROM history WHERE id <= ? OR recorded_at < ?").run(keep_from, too_old);
            auto m = meta();
            if (lsn{static_cast<std::uint64_t>(pruned_to)} > m.floor) {
                m.floor = lsn{static_cast<std::uint64_t>(pruned_to)};
                set_meta(m);
            }
        }
        std::vector<std::string> dropped;
        auto c = db_->prepare("SELECT id FROM active_user WHERE last_updated_at < ?").query(now_ms - user_idle.count());
        while (c.next()) dropped.emplace_back(c.get_text(0));
        for (auto& u : dropped) {
            db_->prepare("DELETE FROM active_user WHERE id = ?").run(std::string_view(u));
            db_->prepare("DELETE FROM user_file_subscription WHERE user_id = ?").run(std::string_view(u));
        }
        return dropped;
    });
}

history_diagnostics replication_history::diagnostics() {
    history_diagnostics d;
    d.meta = meta();
    auto scalar = [&](const char* sql) {
        auto c = db_->prepare(sql).query();
        return c.next() && !c.is_null(0) ? std::optional<std::int64_t>(c.get_int64(0)) : std::nullopt;
    };
    d.history_rows = scalar("SELECT count(*) FROM history").value_or(0);
    if (auto v = scalar("SELECT min(lsn) FROM history")) d.earliest = lsn{static_cast<std::uint64_t>(*v)};
    if (auto v = scalar("SELECT max(lsn) FROM history")) d.latest = lsn{static_cast<std::uint64_t>(*v)};
    d.active_users = scalar("SELECT count(*) FROM active_user").value_or(0);
    d.subscriptions = scalar("SELECT count(*) FROM user_file_subscription").value_or(0);
    return d;
}

} // namespace tlsync::core::pg
