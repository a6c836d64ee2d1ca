#include "server/pg_room_lease.hpp"

namespace tlsync::server {

namespace {
namespace sql {

// Taken when free (no row, released, expired) or already this node's; the
// token moves on with every acquisition. An acquisition that finds the row
// locked by a write's fence waits for that write, then decides on the row
// as the write left it.
constexpr std::string_view acquire = R"(
INSERT INTO tlsync_room_lease AS l (room_id, owner, token, expires_at)
VALUES ($1, $2, 1, clock_timestamp() + $3::bigint * interval '1 millisecond')
ON CONFLICT (room_id) DO UPDATE
   SET owner = excluded.owner, token = l.token + 1, expires_at = excluded.expires_at,
       wanted_by = NULL, wanted_at = NULL
 WHERE l.owner IS NULL OR l.owner = excluded.owner OR l.expires_at <= clock_timestamp()
RETURNING token)";

// Refused: the lease is marked wanted by this node (the holder hands the
// room over at its next renewal); who holds it and for how long.
constexpr std::string_view want = R"(
UPDATE tlsync_room_lease SET wanted_by = $2, wanted_at = clock_timestamp() WHERE room_id = $1
RETURNING coalesce(owner, ''),
          greatest(0, ceil(extract(epoch FROM expires_at - clock_timestamp()) * 1000))::bigint)";

// One statement per renewal round, whatever the number of rooms. A lease is
// extended only under the token it was granted with: one taken over since
// (even by this node id, in another process) is not. The third column says
// another node asked for the room within the last lease duration.
constexpr std::string_view renew = R"(
UPDATE tlsync_room_lease AS l
   SET expires_at = clock_timestamp() + $4::bigint * interval '1 millisecond'
  FROM unnest($2::text[], $3::bigint[]) AS h(room_id, token)
 WHERE l.room_id = h.room_id AND l.token = h.token AND l.owner = $1
RETURNING l.room_id, l.token,
          coalesce(l.wanted_by <> $1 AND l.wanted_at > clock_timestamp() - $4::bigint * interval '1 millisecond',
                   false))";

constexpr std::string_view release = R"(
UPDATE tlsync_room_lease SET owner = NULL, expires_at = clock_timestamp()
 WHERE room_id = $1 AND owner = $2 AND token = $3::bigint)";

} // namespace sql
} // namespace

pg_room_leases::pg_room_leases(std::shared_ptr<pg_blocking_pool> pool, std::string owner,
                               std::chrono::milliseconds duration)
    : pool_(std::move(pool)), owner_(std::move(owner)), duration_(duration),
      duration_ms_(std::to_string(duration.count())) {}

std::variant<std::int64_t, lease_refused> pg_room_leases::acquire(const std::string& room_id) {
    auto c = pool_->acquire();
    if (auto r = c->exec(sql::acquire, {&room_id, &owner_, &duration_ms_}); r.rows() == 1)
        return r.int64(0, 0);
    auto h = c->exec(sql::want, {&room_id, &owner_});
    if (h.rows() == 0)
        throw pg_error("postgres: the lease of room '" + room_id + "' vanished while taking it");
    return lease_refused{std::string(h.text(0, 0)), std::chrono::milliseconds(h.int64(0, 1))};
}

lease_renewal pg_room_leases::renew(const std::vector<core::lease_table::lease>& held) {
    lease_renewal out;
    if (held.empty()) return out;
    std::string rooms = "{", tokens = "{";
    for (const auto& l : held) {
        append_array_element(rooms, l.room);
        if (tokens.size() > 1) tokens += ',';
        tokens += std::to_string(l.token);
    }
    rooms += '}';
    tokens += '}';
    auto c = pool_->acquire();
    auto r = c->exec(sql::renew, {&owner_, &rooms, &tokens, &duration_ms_});
    out.kept.reserve(static_cast<std::size_t>(r.rows()));
    for (int i = 0; i < r.rows(); ++i) {
        core::lease_table::lease l{std::string(r.text(i, 0)), r.int64(i, 1)};
        if (r.text(i, 2) == "t") out.wanted.push_back(l);
        out.kept.push_back(std::move(l));
    }
    return out;
}

void pg_room_leases::release(const std::string& room_id, std::int64_t token) {
    const auto t = std::to_string(token);
    auto c = pool_->acquire();
    (void)c->exec(sql::release, {&room_id, &owner_, &t});
}

} // namespace tlsync::server
