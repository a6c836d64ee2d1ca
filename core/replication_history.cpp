#include "core/replication_history.hpp"

#include "proto/codec.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <charconv>
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
    // Replay finds a user's rows through an index kept in memory
    // (replication_history::by_user_/by_file_): SQLite indexes on the
    // history made every INSERT a random B-tree update.
    R"sql(
    DROP INDEX IF EXISTS history_user;
    DROP INDEX IF EXISTS history_lsn;
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

// Collects per-user events of one transaction, users in first-touched order.
struct per_user {
    std::vector<std::pair<std::string, user_events>> list;
    std::unordered_map<std::string, std::size_t> index;
    user_events& of(std::string_view user) {
        auto [it, fresh] = index.try_emplace(std::string(user), list.size());
        if (fresh) list.emplace_back(std::string(user), user_events{});
        return list[it->second].second;
    }
};

std::optional<std::int64_t> number_of(const json::value& v) {
    // wal2json renders bigint as a number; be lenient with text too.
    if (v.is_int64()) return v.get_int64();
    if (v.is_uint64()) return static_cast<std::int64_t>(v.get_uint64());
    if (v.is_double()) return static_cast<std::int64_t>(v.get_double());
    if (v.is_string()) {
        std::int64_t n = 0;
        const auto s = v.get_string();
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
        if (ec == std::errc{} && p == s.data() + s.size()) return n;
    }
    return std::nullopt;
}

} // namespace

void append_stored_change(std::string& out, std::string_view table, row_op op, const json::object& row) {
    out.append(R"({"table":)");
    proto::append_json_string(out, table);
    out.append(R"(,"event":")").append(to_string(op)).append(R"(","row":)");
    proto::append_json(out, row);
    out.push_back('}');
}

bool append_user_event(std::string& out, std::string_view table, row_op op, const json::object& row,
                       std::string_view stored, std::string_view user_id,
                       std::optional<std::int64_t>& mutation_number) {
    if (table == "user_mutation_number") {
        if (op == row_op::remove) return false;
        out.append(R"({"type":"mutation_commit","mutationNumber":)");
        auto it = row.find("mutationNumber");
        if (it == row.end()) {
            out.append("null");
        } else {
            proto::append_json(out, it->value());
            if (auto n = number_of(it->value()); n && (!mutation_number || *n > *mutation_number))
                mutation_number = n;
        }
    } else {
        // The stored change is an object; its members go in after "type".
        out.append(R"({"type":"row_update",)");
        out.append(stored.substr(1, stored.size() - 2));
    }
    out.append(R"(,"userId":)");
    proto::append_json_string(out, user_id);
    out.push_back('}');
    return true;
}

std::optional<json::object> user_event(std::string_view table, row_op op, const json::object& row,
                                       std::string_view user_id) {
    std::string stored, text;
    append_stored_change(stored, table, op, row);
    std::optional<std::int64_t> number;
    if (!append_user_event(text, table, op, row, stored, user_id, number)) return std::nullopt;
    return json::parse(text).as_object();
}

json::array user_delivery::changes() const { return json::parse(changes_json).as_array(); }

replication_history::replication_history(const std::string& path, const sqlite_options& opts, history_config cfg)
    : db_(std::make_unique<sqlite_db>(path, opts)), cfg_(cfg) {
    migrate();
    load_state();
}

replication_history::~replication_history() = default;

// A failed transaction rolled the tables back; the memory must follow.
template <class F> decltype(auto) replication_history::guarded(F&& f) {
    try {
        return db_->transaction(std::forward<F>(f));
    } catch (...) {
        touched_.clear();
        load_state();
        throw;
    }
}

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

void replication_history::load_state() {
    {
        auto c = db_->prepare("SELECT slot_name, system_id, lsn, floor_lsn, epoch FROM meta WHERE id = 1").query();
        if (!c.next()) throw std::runtime_error("replicator state: meta row missing");
        meta_ = history_meta{std::string(c.get_text(0)), std::string(c.get_text(1)),
                             lsn{static_cast<std::uint64_t>(c.get_int64(2))},
                             lsn{static_cast<std::uint64_t>(c.get_int64(3))}, std::string(c.get_text(4))};
    }
    users_.clear();
    followers_.clear();
    following_.clear();
    {
        auto c = db_->prepare("SELECT id, sequence_number, sequence_id_suffix, last_updated_at FROM active_user").query();
        while (c.next())
            users_.emplace(std::string(c.get_text(0)),
                           active_user{c.get_int64(1), std::string(c.get_text(2)), c.get_int64(3)});
    }
    {
        auto c = db_->prepare("SELECT user_id, file_id FROM user_file_subscription").query();
        while (c.next()) {
            std::string u(c.get_text(0)), f(c.get_text(1));
            followers_[f].insert(u);
            following_[u].insert(std::move(f));
        }
    }
    by_user_.clear();
    by_file_.clear();
    history_rows_ = 0;
    last_history_id_ = 0;
    auto c = db_->prepare("SELECT id, lsn, user_id, file_id FROM history ORDER BY id").query();
    while (c.next()) {
        last_history_id_ = c.get_int64(0);
        ++history_rows_;
        index_row(last_history_id_, lsn{static_cast<std::uint64_t>(c.get_int64(1))}, c.get_text(2),
                  c.is_null(3) ? std::string_view{} : c.get_text(3));
    }
}

void replication_history::index_row(std::int64_t id, lsn at, std::string_view user, std::string_view file) {
    by_user_[std::string(user)].push_back({id, at});
    if (!file.empty()) by_file_[std::string(file)].push_back({id, at});
}

void replication_history::unindex_through(std::int64_t id) {
    for (auto* index : {&by_user_, &by_file_})
        for (auto it = index->begin(); it != index->end();) {
            auto& refs = it->second;
            while (!refs.empty() && refs.front().id <= id) refs.pop_front();
            it = refs.empty() ? index->erase(it) : std::next(it);
        }
}

history_meta replication_history::meta() { return meta_; }

void replication_history::set_meta(const history_meta& m) {
    db_->prepare("UPDATE meta SET slot_name = ?, system_id = ?, lsn = ?, floor_lsn = ?, epoch = ? WHERE id = 1")
        .run(std::string_view(m.slot_name), std::string_view(m.system_id), static_cast<std::int64_t>(m.recorded.value),
             static_cast<std::int64_t>(m.floor.value), std::string_view(m.epoch));
    meta_ = m;
}

bool replication_history::begin_slot(std::string_view slot, std::string_view system_id, lsn confirmed,
                                     std::string_view new_epoch) {
    return guarded([&] {
        const bool continuous = !meta_.epoch.empty() && meta_.slot_name == slot && meta_.system_id == system_id &&
                                meta_.recorded >= confirmed;
        if (continuous) return false;
        db_->exec("DELETE FROM history; DELETE FROM active_user; DELETE FROM user_file_subscription;");
        set_meta(history_meta{std::string(slot), std::string(system_id), confirmed, confirmed, std::string(new_epoch)});
        users_.clear();
        followers_.clear();
        following_.clear();
        history_rows_ = 0;
        last_history_id_ = 0;
        by_user_.clear();
        by_file_.clear();
        return true;
    });
}

void replication_history::follow(const std::string& user, std::string_view file) {
    std::string f(file);
    if (!following_[user].insert(f).second) return;
    followers_[f].insert(user);
    db_->prepare("INSERT OR IGNORE INTO user_file_subscription (user_id, file_id) VALUES (?, ?)")
        .run(std::string_view(user), file);
}

void replication_history::unfollow(std::string_view user, std::string_view file) {
    auto it = following_.find(std::string(user));
    if (it == following_.end() || !it->second.erase(std::string(file))) return;
    if (it->second.empty()) following_.erase(it);
    if (auto f = followers_.find(std::string(file)); f != followers_.end()) {
        f->second.erase(std::string(user));
        if (f->second.empty()) followers_.erase(f);
    }
    db_->prepare("DELETE FROM user_file_subscription WHERE user_id = ? AND file_id = ?").run(user, file);
}

void replication_history::unfollow_file(std::string_view file) {
    auto f = followers_.find(std::string(file));
    if (f == followers_.end()) return;
    for (auto& u : f->second)
        if (auto it = following_.find(u); it != following_.end()) {
            it->second.erase(f->first);
            if (it->second.empty()) following_.erase(it);
        }
    followers_.erase(f);
    db_->prepare("DELETE FROM user_file_subscription WHERE file_id = ?").run(file);
}

void replication_history::drop_user(std::string_view user) {
    const std::string u(user);
    if (auto it = following_.find(u); it != following_.end()) {
        for (auto& f : it->second)
            if (auto fit = followers_.find(f); fit != followers_.end()) {
                fit->second.erase(u);
                if (fit->second.empty()) followers_.erase(fit);
            }
        following_.erase(it);
    }
    users_.erase(u);
    touched_.erase(u);
    db_->prepare("DELETE FROM active_user WHERE id = ?").run(user);
    db_->prepare("DELETE FROM user_file_subscription WHERE user_id = ?").run(user);
}

// Sequence numbers move in memory; record() writes the touched users once
// per batch, inside the same transaction.
std::optional<user_delivery> replication_history::next_delivery(const std::string& user, lsn at,
                                                                user_events events, std::int64_t now_ms) {
    auto it = users_.find(user);
    if (it == users_.end()) return std::nullopt;
    auto& a = it->second;
    ++a.sequence_number;
    a.last_updated_at = now_ms;
    touched_.insert(user);
    events.json.push_back(']');
    return user_delivery{user, at, std::move(events.json), events.mutation_number, meta_.epoch + a.suffix,
                         a.sequence_number};
}

void replication_history::write_touched() {
    auto& bump = db_->prepare("UPDATE active_user SET sequence_number = ?, last_updated_at = ? WHERE id = ?");
    for (auto& u : touched_) {
        auto& a = users_.at(u);
        bump.run(a.sequence_number, a.last_updated_at, std::string_view(u));
    }
    touched_.clear();
}

bool replication_history::is_active(std::string_view user_id) { return users_.contains(std::string(user_id)); }

std::vector<user_delivery> replication_history::record(std::span<const transaction> txs, std::int64_t now_ms) {
    std::vector<user_delivery> out;
    if (txs.empty()) return out;
    guarded([&] {
        lsn recorded = meta_.recorded;
        auto& insert_history = db_->prepare(
            "INSERT INTO history (lsn, user_id, file_id, change, recorded_at) VALUES (?, ?, ?, ?, ?)");
        std::string stored;
        std::vector<std::string> to;
        for (auto& tx : txs) {
            if (tx.end_lsn <= recorded) continue; // already recorded
            per_user users;
            for (auto& ch : tx.changes) {
                if (ch.schema != "public") continue;
                auto key = key_of(ch.table, ch.row);
                if (!key) continue;
                // Written into one reused buffer: a fresh 1-2 KB string per
                // row costs more in malloc than the serialization itself.
                stored.clear();
                append_stored_change(stored, ch.table, ch.op, ch.row);
                sqlite_param file = key->file.empty() ? sqlite_param(sqlite_null{}) : sqlite_param(key->file);
                insert_history.run(static_cast<std::int64_t>(tx.end_lsn.value), key->user, file,
                                   std::string_view(stored), now_ms);
                ++history_rows_;
                last_history_id_ = sqlite3_last_insert_rowid(db_->handle());
                index_row(last_history_id_, tx.end_lsn, key->user, key->file);

                to.clear();
                if (users_.contains(std::string(key->user))) to.emplace_back(key->user);
                if (ch.table == "file") {
                    if (auto f = followers_.find(std::string(key->file)); f != followers_.end())
                        for (auto& u : f->second)
                            if (u != key->user && users_.contains(u)) to.push_back(u);
                    if (ch.op == row_op::remove) unfollow_file(key->file);
                } else if (ch.table == "file_state" && !to.empty()) {
                    if (ch.op == row_op::insert && !truthy(ch.row, "isFileOwner")) follow(to.front(), key->file);
                    else if (ch.op == row_op::remove) unfollow(key->user, key->file);
                }
                for (auto& u : to) {
                    auto& ev = users.of(u);
                    const auto mark = ev.json.size();
                    if (mark > 1) ev.json.push_back(',');
                    if (!append_user_event(ev.json, ch.table, ch.op, ch.row, stored, u, ev.mutation_number))
                        ev.json.resize(mark);
                }
            }
            recorded = tx.end_lsn;
            for (auto& [u, events] : users.list) {
                if (events.json.size() == 1) continue; // only changes that mean nothing to the user
                if (auto d = next_delivery(u, tx.end_lsn, std::move(events), now_ms)) out.push_back(std::move(*d));
            }
            for (auto& msg : tx.messages)
                if (msg.prefix == "requestLsnUpdate")
                    if (auto d = next_delivery(msg.content, tx.end_lsn, {}, now_ms)) out.push_back(std::move(*d));
        }
        write_touched();
        trim_history();
        auto m = meta_;
        m.recorded = recorded;
        set_meta(m);
    });
    return out;
}

void replication_history::trim_history() {
    const auto bound = static_cast<std::int64_t>(cfg_.max_rows);
    // Trimming in steps of a quarter of the bound keeps the delete rare.
    if (history_rows_ <= bound + std::max<std::int64_t>(bound / 4, 256)) return;
    const std::int64_t keep_from = last_history_id_ - bound;
    std::int64_t pruned_to = 0;
    {
        auto c = db_->prepare("SELECT coalesce(max(lsn), 0), count(*) FROM history WHERE id <= ?").query(keep_from);
        if (c.next()) {
            pruned_to = c.get_int64(0);
            history_rows_ -= c.get_int64(1);
        }
    }
    forget_through(keep_from, lsn{static_cast<std::uint64_t>(pruned_to)});
}

void replication_history::forget_through(std::int64_t id, lsn last_forgotten) {
    db_->prepare("DELETE FROM history WHERE id <= ?").run(id);
    unindex_through(id);
    if (last_forgotten > meta_.floor) {
        auto m = meta_;
        m.floor = last_forgotten;
        set_meta(m);
    }
}

void replication_history::advance(lsn to) {
    if (to <= meta_.recorded) return;
    guarded([&] {
        auto m = meta_;
        m.recorded = to;
        set_meta(m);
    });
}

std::optional<user_delivery> replication_history::lsn_update(std::string_view user_id, std::int64_t now_ms) {
    return guarded([&] {
        auto d = next_delivery(std::string(user_id), meta_.recorded, {}, now_ms);
        write_touched();
        return d;
    });
}

registration replication_history::register_user(std::string_view user_id, lsn seen,
                                                std::span<const std::string> guest_file_ids,
                                                std::string_view boot_id, std::int64_t now_ms) {
    return guarded([&] {
        const std::string user(user_id);
        registration r;
        r.sequence_id = meta_.epoch + std::string(boot_id);
        drop_user(user_id);
        db_->prepare("INSERT INTO active_user (id, sequence_number, sequence_id_suffix, last_updated_at) "
                     "VALUES (?, 0, ?, ?)")
            .run(user_id, boot_id, now_ms);
        users_.emplace(user, active_user{0, std::string(boot_id), now_ms});

        std::unordered_set<std::string> following(guest_file_ids.begin(), guest_file_ids.end());
        auto subscribe = [&] {
            for (auto& f : following) follow(user, f);
        };
        if (seen >= meta_.recorded) return subscribe(), r;
        if (seen < meta_.floor) {
            r.reload = true;
            return subscribe(), r;
        }
        // Replays in WAL order, following and unfollowing files as the
        // history goes, so a file the user was invited to meanwhile counts.
        // The rows that can concern it: its own, and those of the files it
        // may follow on the way (its guest files now, and any file its own
        // rows name), in id order.
        std::vector<std::int64_t> ids;
        auto take = [&](const std::deque<history_ref>& refs) {
            auto from = std::upper_bound(refs.begin(), refs.end(), seen,
                                         [](lsn l, const history_ref& r) { return l < r.at; });
            for (auto it = from; it != refs.end(); ++it) ids.push_back(it->id);
        };
        std::unordered_set<std::string> candidates = following;
        if (auto own = by_user_.find(user); own != by_user_.end()) {
            take(own->second);
            auto& file_of = db_->prepare("SELECT file_id FROM history WHERE id = ? AND file_id IS NOT NULL");
            for (auto id : ids) {
                auto c = file_of.query(id);
                if (c.next()) candidates.emplace(c.get_text(0));
            }
        }
        for (auto& f : candidates)
            if (auto rows = by_file_.find(f); rows != by_file_.end()) take(rows->second);
        std::sort(ids.begin(), ids.end());
        ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
        auto& row_at = db_->prepare("SELECT lsn, change FROM history WHERE id = ?");
        std::vector<std::pair<lsn, user_events>> batches;
        for (auto id : ids) {
            auto c = row_at.query(id);
            if (!c.next()) continue;
            lsn at{static_cast<std::uint64_t>(c.get_int64(0))};
            const std::string stored(c.get_text(1));
            auto v = json::parse(stored);
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
            if (batches.empty() || batches.back().first != at) batches.emplace_back(at, user_events{});
            auto& ev = batches.back().second;
            const auto mark = ev.json.size();
            if (mark > 1) ev.json.push_back(',');
            if (!append_user_event(ev.json, table, *op, row, stored, user_id, ev.mutation_number))
                ev.json.resize(mark);
        }
        subscribe();
        for (auto& [at, events] : batches) {
            if (events.json.size() == 1) continue;
            if (auto d = next_delivery(user, at, std::move(events), now_ms)) r.replay.push_back(std::move(*d));
        }
        write_touched();
        return r;
    });
}

void replication_history::unregister_user(std::string_view user_id) {
    guarded([&] { drop_user(user_id); });
}

bool replication_history::unregister_user_if(std::string_view user_id, std::string_view boot_id) {
    auto it = users_.find(std::string(user_id));
    if (it == users_.end() || it->second.suffix != boot_id) return false;
    guarded([&] { drop_user(user_id); });
    return true;
}

std::vector<std::string> replication_history::prune(std::int64_t now_ms, std::chrono::milliseconds user_idle) {
    return guarded([&] {
        const std::int64_t keep_from = last_history_id_ - static_cast<std::int64_t>(cfg_.max_rows);
        const std::int64_t too_old = now_ms - cfg_.max_age.count();
        // Ids grow with time, so what goes is always a prefix of the ids.
        std::int64_t pruned_to = 0, through_id = 0;
        {
            auto c = db_->prepare("SELECT coalesce(max(lsn), 0), count(*), coalesce(max(id), 0) FROM history "
                                  "WHERE id <= ? OR recorded_at < ?")
                         .query(keep_from, too_old);
            if (c.next()) {
                pruned_to = c.get_int64(0);
                history_rows_ -= c.get_int64(1);
                through_id = c.get_int64(2);
            }
        }
        if (pruned_to) forget_through(through_id, lsn{static_cast<std::uint64_t>(pruned_to)});
        std::vector<std::string> dropped;
        for (auto& [id, a] : users_)
            if (a.last_updated_at < now_ms - user_idle.count()) dropped.push_back(id);
        for (auto& u : dropped) drop_user(u);
        return dropped;
    });
}

history_diagnostics replication_history::diagnostics() {
    history_diagnostics d;
    d.meta = meta_;
    auto scalar = [&](const char* sql) {
        auto c = db_->prepare(sql).query();
        return c.next() && !c.is_null(0) ? std::optional<std::int64_t>(c.get_int64(0)) : std::nullopt;
    };
    d.history_rows = scalar("SELECT count(*) FROM history").value_or(0);
    // Ids grow with LSNs: the ends of the primary key are the ends in LSN.
    if (auto v = scalar("SELECT lsn FROM history ORDER BY id LIMIT 1")) d.earliest = lsn{static_cast<std::uint64_t>(*v)};
    if (auto v = scalar("SELECT lsn FROM history ORDER BY id DESC LIMIT 1"))
        d.latest = lsn{static_cast<std::uint64_t>(*v)};
    d.active_users = scalar("SELECT count(*) FROM active_user").value_or(0);
    d.subscriptions = scalar("SELECT count(*) FROM user_file_subscription").value_or(0);
    return d;
}

} // namespace tlsync::core::pg
