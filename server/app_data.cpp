#include "server/app_data.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <algorithm>

namespace tlsync::server::app {

namespace json = boost::json;

namespace {

using clock = std::chrono::steady_clock;

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// The snapshot in one statement (one REPEATABLE READ snapshot anyway):
// user, files (owned or followed as a guest), file_states, guest file ids.
// jsonb columns are replaced by their text, as wal2json prints them.
constexpr std::string_view snapshot_sql = R"SQL(
SELECT
  (SELECT (to_jsonb(u) || jsonb_build_object('preferences', u.preferences::text))::text
     FROM "user" u WHERE u.id = $1),
  (SELECT coalesce(json_agg(row_to_json(f) ORDER BY f."createdAt", f.id), '[]'::json)::text
     FROM file f
    WHERE f."ownerId" = $1
       OR f.id IN (SELECT s."fileId" FROM file_state s WHERE s."userId" = $1 AND NOT s."isFileOwner")),
  (SELECT coalesce(json_agg(row_to_json(s) ORDER BY s."fileId"), '[]'::json)::text
     FROM file_state s WHERE s."userId" = $1),
  (SELECT coalesce(json_agg(s."fileId" ORDER BY s."fileId"), '[]'::json)::text
     FROM file_state s WHERE s."userId" = $1 AND NOT s."isFileOwner")
)SQL";

constexpr std::string_view guest_ids_sql =
    R"SQL(SELECT "fileId" FROM file_state WHERE "userId" = $1 AND NOT "isFileOwner" ORDER BY "fileId")SQL";

std::optional<json::value> parse_json(std::optional<std::string_view> text) {
    if (!text) return std::nullopt;
    boost::system::error_code ec;
    auto v = json::parse(*text, ec);
    if (ec) return std::nullopt;
    return v;
}

struct snapshot {
    pg_status status;
    bool user_found = false;
};

// Reads the LSN, then the snapshot in a REPEATABLE READ transaction.
net::awaitable<snapshot> read_snapshot(pg_connection& c, const std::string& user_id, user_state& out,
                                       clock::time_point deadline) {
    snapshot r;
    pg_rows rows;
    // Before the snapshot: anything committed later ends after this position.
    r.status = co_await c.exec_simple("SELECT pg_current_wal_lsn()::text", &rows, pg_time_left(deadline));
    if (!r.status) co_return r;
    out.lsn = std::string(rows.get(0, 0).value_or(""));

    r.status = co_await c.exec_simple("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", nullptr, pg_time_left(deadline));
    if (!r.status) co_return r;
    pg_params params{user_id};
    r.status = co_await c.exec(snapshot_sql, params, &rows, pg_time_left(deadline));
    if (!r.status) {
        if (c.status()) (void)co_await c.exec_simple("ROLLBACK", nullptr, pg_time_left(deadline));
        co_return r;
    }
    r.status = co_await c.exec_simple("COMMIT", nullptr, pg_time_left(deadline));
    if (!r.status) co_return r;

    auto user = parse_json(rows.get(0, 0));
    auto files = parse_json(rows.get(0, 1));
    auto states = parse_json(rows.get(0, 2));
    auto guests = parse_json(rows.get(0, 3));
    if (!files || !files->is_array() || !states || !states->is_array() || !guests || !guests->is_array() ||
        (user && !user->is_object())) {
        r.status = pg_status::fail("load_user_state: unexpected snapshot result");
        co_return r;
    }
    r.user_found = user.has_value();
    if (user) out.user = std::move(user->get_object());
    out.files = std::move(files->get_array());
    out.file_states = std::move(states->get_array());
    out.guest_file_ids.clear();
    for (auto& id : guests->get_array())
        if (id.is_string()) out.guest_file_ids.emplace_back(id.get_string());
    co_return r;
}

} // namespace

net::awaitable<std::pair<pg_status, user_state>> load_user_state(pg_connection& c, std::string_view user_id,
                                                                 bool create_missing,
                                                                 std::chrono::milliseconds timeout) {
    const auto deadline = clock::now() + timeout;
    const std::string id(user_id);
    user_state state;
    auto snap = co_await read_snapshot(c, id, state, deadline);
    if (!snap.status) co_return std::pair{snap.status, user_state{}};
    if (!snap.user_found && create_missing) {
        // Its own transaction, before a fresh snapshot: the new row is in
        // the snapshot and its WAL is after the new LSN or in the snapshot.
        pg_params params{id, std::to_string(now_ms())};
        auto s = co_await c.exec(
            R"SQL(INSERT INTO "user" (id, name, "createdAt", "updatedAt") VALUES ($1, $1, $2::bigint, $2::bigint)
                  ON CONFLICT (id) DO NOTHING)SQL",
            params, nullptr, pg_time_left(deadline));
        if (!s) co_return std::pair{s, user_state{}};
        state = user_state{};
        snap = co_await read_snapshot(c, id, state, deadline);
        if (!snap.status) co_return std::pair{snap.status, user_state{}};
    }
    if (!snap.user_found)
        co_return std::pair{pg_status::fail("user " + id + " does not exist", "P0002"), user_state{}};
    co_return std::pair{pg_status{}, std::move(state)};
}

net::awaitable<std::pair<pg_status, std::vector<std::string>>> guest_file_ids(pg_connection& c,
                                                                            std::string_view user_id,
                                                                            std::chrono::milliseconds timeout) {
    pg_rows rows;
    pg_params params{std::string(user_id)};
    auto s = co_await c.exec(guest_ids_sql, params, &rows, timeout);
    std::vector<std::string> ids;
    if (!s) co_return std::pair{s, std::move(ids)};
    ids.reserve(static_cast<std::size_t>(rows.rows()));
    for (int i = 0; i < rows.rows(); ++i)
        if (auto v = rows.get(i, 0)) ids.emplace_back(*v);
    co_return std::pair{s, std::move(ids)};
}

} // namespace tlsync::server::app
