#pragma once
// What a user actor needs from Postgres, behind one small interface: the
// user's guest files, a snapshot of their data, and applying a mutation. The
// Postgres implementation (user_backend_pg.cpp) runs each call on a pooled
// connection (pg_pool) with a wait deadline and a query deadline; tests may
// substitute their own.

#include "core/replication_protocol.hpp"
#include "server/pg_connection.hpp"
#include "server/pg_pool.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace tlsync::server {

struct user_snapshot {
    core::pg::lsn at;                 // read before the snapshot: register with it
    boost::json::object data;         // {"user":{...},"files":[...],"fileStates":[...]}
    std::vector<std::string> guest_file_ids;
};

struct mutation_outcome {
    std::string mutation_id;
    bool committed = false;
    std::int64_t mutation_number = 0; // when committed
    std::string error_code;           // when not: e.g. "forbidden", "bad_request", "unavailable"
    std::string reason;
};

class user_backend {
public:
    virtual ~user_backend() = default;
    virtual net::awaitable<std::pair<pg_status, std::vector<std::string>>> guest_file_ids(std::string user_id) = 0;
    virtual net::awaitable<std::pair<pg_status, user_snapshot>> load_state(std::string user_id) = 0;
    virtual net::awaitable<mutation_outcome> mutate(std::string user_id, boost::json::value message) = 0;
};

struct user_backend_timeouts {
    std::chrono::milliseconds pool_wait{2000}; // for a free connection
    std::chrono::milliseconds query{10000};
};

// app::load_user_state / app::guest_file_ids / app::apply_mutation on `pool`.
[[nodiscard]] std::shared_ptr<user_backend> make_pg_user_backend(std::shared_ptr<pg_pool> pool,
                                                                 user_backend_timeouts t = {});

} // namespace tlsync::server
