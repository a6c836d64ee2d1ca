#include "server/app_mutations.hpp"

#include "core/app_mutation.hpp"

#include <algorithm>
#include <optional>

namespace tlsync::server::app {

namespace json = boost::json;
using core::app::app_table;
using core::app::error_code;
using core::app::row_event;
using core::app::row_update;

namespace {

using clock = std::chrono::steady_clock;

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::optional<std::string> param_of(const json::value& v) {
    switch (v.kind()) {
    case json::kind::null: return std::nullopt;
    case json::kind::bool_: return std::string(v.get_bool() ? "true" : "false");
    case json::kind::int64: return std::to_string(v.get_int64());
    case json::kind::uint64: return std::to_string(v.get_uint64());
    case json::kind::string: return std::string(v.get_string());
    default: return std::nullopt; // the validator admits nothing else
    }
}

// One statement under construction: SQL text and its $n parameters.
struct statement {
    std::string sql;
    pg_params params;

    // Adds a parameter, returns "$n::type".
    std::string arg(std::optional<std::string> value, std::string_view sql_type) {
        params.push_back(std::move(value));
        return "$" + std::to_string(params.size()) + "::" + std::string(sql_type);
    }
};

std::string ident(std::string_view column) { return "\"" + std::string(column) + "\""; }

// The columns of `u` that are not keys, as (quoted name, $n::type) pairs.
std::vector<std::pair<std::string, std::string>> value_columns(const row_update& u, statement& st) {
    std::vector<std::pair<std::string, std::string>> out;
    for (auto& c : core::app::columns_of(u.table)) {
        if (c.key) continue;
        auto* v = u.row.if_contains(c.name);
        if (!v) continue;
        out.emplace_back(ident(c.name), st.arg(param_of(*v), c.sql_type));
    }
    return out;
}

std::string key_text(const row_update& u, std::string_view col) { return std::string(u.row.at(col).as_string()); }

// Each builder returns one statement whose single result row tells what
// happened; classify() reads it. Column order of that row:
//   file insert:        ok
//   file update/delete: owner (of the row before), affected
//   file_state insert:  owner, shared, affected
//   file_state update:  affected
//   file_state delete:  is_owner (of the row before), affected
//   user update:        affected
// The SET list of an UPDATE: the row's columns, plus updatedAt = now unless
// the row gives it.
std::string update_set(const row_update& u, statement& st, const std::string& now) {
    std::string set;
    bool updated = false;
    for (auto& [n, v] : value_columns(u, st)) {
        set += (set.empty() ? "" : ", ") + n + " = " + v;
        updated = updated || n == "\"updatedAt\"";
    }
    if (!updated) set += (set.empty() ? "" : ", ") + std::string("\"updatedAt\" = ") + st.arg(now, "bigint");
    return set;
}

statement build(const row_update& u, std::string_view user, const std::string& now) {
    statement st;
    switch (u.table) {
    case app_table::file: {
        auto id = st.arg(key_text(u, "id"), "text");
        if (u.event == row_event::insert) {
            // The validator set ownerId to the user.
            auto cols = value_columns(u, st);
            std::string names = "id", values = id;
            bool slug = false, created = false, updated = false;
            for (auto& [n, v] : cols) {
                names += ", " + n;
                values += ", " + v;
                slug = slug || n == "\"publishedSlug\"";
                created = created || n == "\"createdAt\"";
                updated = updated || n == "\"updatedAt\"";
            }
            if (!slug) {
                names += ", \"publishedSlug\"";
                values += ", gen_random_uuid()::text";
            }
            // Every parameter must be used (an unused one has no type).
            if (!created || !updated) {
                auto now_arg = st.arg(now, "bigint");
                if (!created) names += ", \"createdAt\"", values += ", " + now_arg;
                if (!updated) names += ", \"updatedAt\"", values += ", " + now_arg;
            }
            st.sql = "WITH f AS (INSERT INTO file (" + names + ") VALUES (" + values + ") RETURNING id, \"ownerId\") " +
                     "INSERT INTO file_state (\"userId\", \"fileId\", \"isFileOwner\") " +
                     "SELECT \"ownerId\", id, true FROM f RETURNING 1";
            return st;
        }
        auto owner = st.arg(std::string(user), "text");
        const std::string before = "(SELECT \"ownerId\" FROM file WHERE id = " + id + ")";
        if (u.event == row_event::update) {
            const auto set = update_set(u, st, now);
            st.sql = "WITH u AS (UPDATE file SET " + set + " WHERE id = " + id + " AND \"ownerId\" = " + owner +
                     " RETURNING 1) SELECT " + before + ", (SELECT count(*) FROM u)";
        } else {
            st.sql = "WITH d AS (DELETE FROM file WHERE id = " + id + " AND \"ownerId\" = " + owner +
                     " RETURNING 1) SELECT " + before + ", (SELECT count(*) FROM d)";
        }
        return st;
    }
    case app_table::file_state: {
        auto uid = st.arg(std::string(user), "text");
        auto fid = st.arg(key_text(u, "fileId"), "text");
        const std::string where = "\"userId\" = " + uid + " AND \"fileId\" = " + fid;
        auto cols = value_columns(u, st);
        if (u.event == row_event::insert) {
            std::string names = "\"userId\", \"fileId\", \"isFileOwner\"";
            std::string values = uid + ", " + fid + ", f.\"ownerId\" = " + uid;
            std::string set = "\"isFileOwner\" = EXCLUDED.\"isFileOwner\"";
            for (auto& [n, v] : cols) {
                names += ", " + n;
                values += ", " + v;
                set += ", " + n + " = EXCLUDED." + n;
            }
            // FOR SHARE: the file cannot be deleted or unshared under us.
            st.sql = "WITH f AS (SELECT \"ownerId\", shared FROM file WHERE id = " + fid + " FOR SHARE), " +
                     "i AS (INSERT INTO file_state (" + names + ") SELECT " + values + " FROM f WHERE f.\"ownerId\" = " +
                     uid + " OR f.shared ON CONFLICT (\"userId\", \"fileId\") DO UPDATE SET " + set +
                     " RETURNING 1) SELECT (SELECT \"ownerId\" FROM f), (SELECT shared FROM f), (SELECT count(*) FROM i)";
        } else if (u.event == row_event::update) {
            if (cols.empty()) {
                st.sql = "SELECT count(*) FROM (SELECT 1 FROM file_state WHERE " + where + " FOR UPDATE) s";
            } else {
                std::string set;
                for (auto& [n, v] : cols) set += (set.empty() ? "" : ", ") + n + " = " + v;
                st.sql = "WITH u AS (UPDATE file_state SET " + set + " WHERE " + where +
                         " RETURNING 1) SELECT count(*) FROM u";
            }
        } else {
            st.sql = "WITH d AS (DELETE FROM file_state WHERE " + where + " AND NOT \"isFileOwner\" RETURNING 1) " +
                     "SELECT (SELECT \"isFileOwner\" FROM file_state WHERE " + where + "), (SELECT count(*) FROM d)";
        }
        return st;
    }
    case app_table::user: {
        auto id = st.arg(std::string(user), "text");
        const auto set = update_set(u, st, now);
        st.sql = "WITH u AS (UPDATE \"user\" SET " + set + " WHERE id = " + id + " RETURNING 1) SELECT count(*) FROM u";
        return st;
    }
    }
    return st;
}

struct failure {
    error_code code;
    std::string reason;
};

bool affected(const pg_rows& r, int col) { return r.get(0, col).value_or("0") != "0"; }

// What the statement's result row says, or nullopt when the update applied.
std::optional<failure> classify(const row_update& u, std::string_view user, const pg_rows& r) {
    auto missing = [&](std::string what) { return failure{error_code::not_found, what + " does not exist"}; };
    switch (u.table) {
    case app_table::file: {
        if (u.event == row_event::insert) return std::nullopt; // errors come as SQLSTATEs
        if (affected(r, 1)) return std::nullopt;
        if (!r.get(0, 0)) return missing("file \"" + key_text(u, "id") + "\"");
        return failure{error_code::forbidden, "file \"" + key_text(u, "id") + "\" belongs to another user"};
    }
    case app_table::file_state: {
        const std::string file = "\"" + key_text(u, "fileId") + "\"";
        if (u.event == row_event::insert) {
            auto owner = r.get(0, 0);
            if (!owner) return missing("file " + file);
            if (u.claims_owner && *owner != user)
                return failure{error_code::forbidden, "isFileOwner: file " + file + " belongs to another user"};
            if (affected(r, 2)) return std::nullopt;
            return failure{error_code::forbidden, "file " + file + " is not shared"};
        }
        if (u.event == row_event::update) {
            if (affected(r, 0)) return std::nullopt;
            return missing("the user's file_state for file " + file);
        }
        if (affected(r, 1)) return std::nullopt;
        if (!r.get(0, 0)) return missing("the user's file_state for file " + file);
        return failure{error_code::forbidden,
                       "the owner's file_state of file " + file + " goes only with the file (delete the file)"};
    }
    case app_table::user:
        if (affected(r, 0)) return std::nullopt;
        return missing("user \"" + std::string(user) + "\"");
    }
    return std::nullopt;
}

// A failed statement's code: SQLSTATEs first, connection trouble otherwise.
failure from_status(const pg_status& s, const pg_connection& c) {
    const std::string& st = s.sqlstate;
    auto cls = st.substr(0, 2);
    if (st == "23505") return {error_code::conflict, "already exists: " + s.error};
    if (st == "23503") return {error_code::not_found, "a referenced row does not exist: " + s.error};
    if (st == "40001" || st == "40P01") return {error_code::conflict, "concurrent change, retry: " + s.error};
    if (cls == "22" || st == "23502" || st == "23514" || cls == "42")
        return {error_code::bad_request, "invalid value: " + s.error};
    if (s.timed_out) return {error_code::unavailable, "the database did not answer in time"};
    if (!c.status() || !c.is_open() || cls == "08" || cls == "57" || cls == "53")
        return {error_code::unavailable, "the database is unavailable: " + s.error};
    return {error_code::unavailable, "the database refused the mutation: " + s.error};
}

std::string where_of(std::size_t i, const row_update& u) {
    return "updates[" + std::to_string(i) + "] (" + std::string(core::app::to_string(u.table)) + " " +
           std::string(core::app::to_string(u.event)) + "): ";
}

} // namespace

net::awaitable<mutation_result> apply_mutation(pg_connection& c, std::string_view user_id, const json::value& message,
                                               std::chrono::milliseconds timeout) {
    const auto deadline = clock::now() + timeout;
    auto parsed = core::app::parse_mutation(message, user_id);
    mutation_result out;
    out.mutation_id = parsed.mutation_id;
    auto reject = [&](error_code code, std::string reason) {
        out.committed = false;
        out.error_code = std::string(core::app::to_string(code));
        out.reason = std::move(reason);
        return out;
    };
    if (!parsed.ok()) co_return reject(parsed.error->code, std::move(parsed.error->reason));
    if (!c.is_open() || !c.status())
        co_return reject(error_code::unavailable, "no database connection: " + c.status().error);

    if (auto s = co_await c.exec_simple("BEGIN", nullptr, pg_time_left(deadline)); !s) {
        auto f = from_status(s, c);
        co_return reject(f.code, std::move(f.reason));
    }
    std::optional<failure> failed;
    const std::string now = std::to_string(now_ms());
    for (std::size_t i = 0; i < parsed.updates.size() && !failed; ++i) {
        auto& u = parsed.updates[i];
        auto st = build(u, user_id, now);
        pg_rows rows;
        auto s = co_await c.exec(st.sql, st.params, &rows, pg_time_left(deadline));
        if (!s) failed = from_status(s, c);
        else failed = classify(u, user_id, rows);
        if (failed) failed->reason = where_of(i, u) + failed->reason;
    }
    if (!failed) {
        pg_rows rows;
        pg_params params{std::string(user_id)};
        auto s = co_await c.exec(
            "INSERT INTO user_mutation_number (\"userId\", \"mutationNumber\") VALUES ($1::text, 1) "
            "ON CONFLICT (\"userId\") DO UPDATE SET \"mutationNumber\" = user_mutation_number.\"mutationNumber\" + 1 "
            "RETURNING \"mutationNumber\"",
            params, &rows, pg_time_left(deadline));
        if (!s) {
            failed = from_status(s, c);
            if (s.sqlstate == "23503") failed->reason = "user \"" + std::string(user_id) + "\" does not exist";
        } else if (auto n = rows.get(0, 0)) {
            out.mutation_number = std::stoll(std::string(*n));
        } else {
            failed = failure{error_code::unavailable, "user_mutation_number: no number returned"};
        }
    }
    if (!failed) {
        if (auto s = co_await c.exec_simple("COMMIT", nullptr, pg_time_left(deadline)); !s) {
            // Whether a COMMIT whose answer was lost took effect is unknown;
            // the replication stream will tell (a mutation_commit, or none).
            auto f = from_status(s, c);
            co_return reject(f.code, "commit failed: " + f.reason);
        }
        out.committed = true;
        co_return out;
    }
    // The rollback gets a moment even when the budget is spent, so a
    // rejected mutation leaves a reusable connection.
    if (c.status())
        (void)co_await c.exec_simple("ROLLBACK", nullptr, std::max(pg_time_left(deadline), std::chrono::milliseconds(1000)));
    co_return reject(failed->code, std::move(failed->reason));
}

} // namespace tlsync::server::app
