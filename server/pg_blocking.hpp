#pragma once
// Blocking libpq for the storage of rooms (--storage postgres://...): a
// connection, its results, and a small bounded pool shared by every room.
// Everything here blocks on the network and runs on the blocking thread
// pool, never on an io_context thread (server/pg_connection is the
// non-blocking libpq the user plane uses on io threads).
//
// Every wait has a deadline: connect_timeout for connecting, a server-side
// statement_timeout for each statement, and TCP keepalives plus
// tcp_user_timeout for a peer that vanished without closing the socket.
//
//   auto c = pool->acquire();           // throws pg_error when Postgres is unreachable
//   const std::string n = "41";
//   auto r = c->exec("SELECT $1::int + 1", {&n});
//   r.text(0, 0) == "42"
//   // the lease returns the connection; a broken one is closed instead.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

struct pg_conn;
struct pg_result;

namespace tlsync::server {

// A failed statement or connection. `sqlstate` is empty when the server did
// not report one (connection failures).
struct pg_error : std::runtime_error {
    pg_error(const std::string& what, std::string state = {})
        : std::runtime_error(what), sqlstate(std::move(state)) {}
    std::string sqlstate;
};

// An owned PGresult (text format).
class pg_result_set {
  public:
    pg_result_set() = default;
    explicit pg_result_set(::pg_result* r) noexcept : r_(r) {}
    pg_result_set(pg_result_set&& o) noexcept;
    pg_result_set& operator=(pg_result_set&& o) noexcept;
    ~pg_result_set();

    [[nodiscard]] int rows() const noexcept;
    [[nodiscard]] bool is_null(int row, int col) const noexcept;
    // The value's bytes, valid while this result lives; empty for NULL.
    [[nodiscard]] std::string_view text(int row, int col) const noexcept;
    // An integer column; throws pg_error when it is not one.
    [[nodiscard]] std::int64_t int64(int row, int col) const;
    // Number of rows an INSERT/UPDATE/DELETE touched.
    [[nodiscard]] std::int64_t affected() const noexcept;

  private:
    ::pg_result* r_ = nullptr;
};

// Parameters in text form, sent as they are (no quoting needed, not
// copied); nullptr is NULL.
using pg_text_params = std::vector<const std::string*>;

struct pg_blocking_options {
    std::string conninfo; // key=value or postgres:// URI
    std::string application_name = "tlsyncd_rooms";
    std::chrono::seconds connect_timeout{5};
    std::chrono::milliseconds statement_timeout{30000};
};

class pg_blocking_connection {
  public:
    // Connects; throws pg_error naming the reason.
    explicit pg_blocking_connection(const pg_blocking_options& opts);
    ~pg_blocking_connection();
    pg_blocking_connection(const pg_blocking_connection&) = delete;
    pg_blocking_connection& operator=(const pg_blocking_connection&) = delete;

    // One statement with $1.. parameters; throws pg_error.
    pg_result_set exec(std::string_view sql, const pg_text_params& params = {});
    // Several statements, no parameters (migrations, BEGIN/COMMIT).
    void exec_script(std::string_view sql);

    // Whether it can be reused: connected and outside any transaction.
    [[nodiscard]] bool reusable() const noexcept;
    // Reads what the server sent meanwhile without waiting (libpq's socket
    // is non-blocking underneath): false when the server closed the
    // connection (a restart, an idle timeout), which the pool then drops
    // instead of failing the caller's first statement.
    [[nodiscard]] bool alive() noexcept;
    // Rolls back an open transaction, if any (after an exception).
    void reset_transaction() noexcept;

  private:
    friend class pg_pipeline;
    [[noreturn]] void fail(std::string_view what, ::pg_result* r);
    ::pg_conn* c_ = nullptr;
};

// At most `max_connections` open at once, opened on demand, kept while
// healthy. A caller that finds none free waits up to `acquire_timeout`.
// Thread-safe.
class pg_blocking_pool : public std::enable_shared_from_this<pg_blocking_pool> {
  public:
    class lease {
      public:
        lease(lease&& o) noexcept = default;
        lease& operator=(lease&&) = delete;
        ~lease();
        pg_blocking_connection& operator*() const noexcept { return *conn_; }
        pg_blocking_connection* operator->() const noexcept { return conn_.get(); }

      private:
        friend class pg_blocking_pool;
        lease(std::shared_ptr<pg_blocking_pool> p, std::unique_ptr<pg_blocking_connection> c)
            : pool_(std::move(p)), conn_(std::move(c)) {}
        std::shared_ptr<pg_blocking_pool> pool_;
        std::unique_ptr<pg_blocking_connection> conn_;
    };

    pg_blocking_pool(pg_blocking_options opts, std::size_t max_connections,
                     std::chrono::milliseconds acquire_timeout = std::chrono::seconds(10));

    // An idle connection, or a new one. Throws pg_error when connecting
    // fails or none came free within acquire_timeout.
    [[nodiscard]] lease acquire();

    struct stats_t {
        std::size_t open = 0;
        std::size_t idle = 0;
        std::uint64_t connects = 0; // connections opened so far
    };
    [[nodiscard]] stats_t stats() const;

  private:
    void give_back(std::unique_ptr<pg_blocking_connection> c) noexcept;

    const pg_blocking_options opts_;
    const std::size_t max_;
    const std::chrono::milliseconds acquire_timeout_;
    mutable std::mutex mutex_;
    std::condition_variable freed_;
    std::vector<std::unique_ptr<pg_blocking_connection>> idle_;
    std::size_t open_ = 0;
    std::uint64_t connects_ = 0;
};

// Statements sent together and answered together (libpq pipeline mode):
// one round trip for a flush's dozen statements instead of one each. After
// the first failure the server skips the rest up to the sync; run() throws
// that failure. A pipeline that sends BEGIN ... COMMIT is one transaction;
// a failed one is left for the lease to roll back.
//
//   pg_pipeline p(*lease);
//   p.add("BEGIN"); p.add(sql, params); p.add("COMMIT");
//   auto results = p.run(); // one per add(), in order
class pg_pipeline {
  public:
    explicit pg_pipeline(pg_blocking_connection& c);
    ~pg_pipeline();
    pg_pipeline(const pg_pipeline&) = delete;
    pg_pipeline& operator=(const pg_pipeline&) = delete;
    // Queues a statement; parameters are copied into libpq's buffer now.
    void add(std::string_view sql, const pg_text_params& params = {});
    // Sends everything, waits for every answer; throws pg_error at the first failure.
    std::vector<pg_result_set> run();

  private:
    pg_blocking_connection& c_;
    std::size_t queued_ = 0;
    bool active_ = false;
};

// A transaction on a lease: BEGIN now, ROLLBACK unless commit() was called.
class pg_transaction {
  public:
    explicit pg_transaction(pg_blocking_connection& c, std::string_view begin = "BEGIN");
    ~pg_transaction();
    pg_transaction(const pg_transaction&) = delete;
    pg_transaction& operator=(const pg_transaction&) = delete;
    void commit();

  private:
    pg_blocking_connection& c_;
    bool done_ = false;
};

// Appends `s` as one element of a Postgres array literal ("..." with \ and
// " escaped), preceded by a comma unless it is the first.
void append_array_element(std::string& out, std::string_view s);
// {"a","b"} for a text[] parameter.
template <class Range> std::string text_array(const Range& items) {
    std::string out = "{";
    for (const auto& s : items)
        append_array_element(out, s);
    out += '}';
    return out;
}

// Whether `s` is meant for Postgres: a postgres:// or postgresql:// URI, or
// a key=value conninfo. Empty when libpq accepts it, else libpq's reason.
[[nodiscard]] bool looks_like_conninfo(std::string_view s) noexcept;
[[nodiscard]] std::string conninfo_error(const std::string& s);

} // namespace tlsync::server
