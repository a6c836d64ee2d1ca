#pragma once
// One libpq connection driven by Asio: libpq in non-blocking mode, Asio
// waiting on its socket (posix::stream_descriptor::async_wait), so no io
// thread ever blocks on Postgres. Every wait has a deadline.
//
// Not thread-safe: one coroutine at a time uses a connection, on the
// executor it was made with (a strand). Errors are values (pg_status);
// a failed connection stays failed: close it and make a new one.
//
//   pg_connection c(strand);
//   if (auto s = co_await c.connect(conninfo, 10s); !s) ...
//   pg_rows r;
//   auto s = co_await c.exec("SELECT $1::int + 1", {"41"}, &r, 5s);
//   r.get(0, 0) == "42"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct pg_conn;
struct pg_result;

namespace tlsync::server {

namespace net = boost::asio;

struct pg_status {
    std::string error;    // empty: success
    std::string sqlstate; // five characters when the server reported the error
    bool timed_out = false;

    [[nodiscard]] explicit operator bool() const noexcept { return error.empty(); }
    [[nodiscard]] static pg_status fail(std::string e, std::string state = {}) {
        return pg_status{std::move(e), std::move(state)};
    }
};

// An owned PGresult, text format.
class pg_rows {
public:
    pg_rows() = default;
    explicit pg_rows(::pg_result* r) noexcept : r_(r) {}
    pg_rows(pg_rows&& o) noexcept : r_(std::exchange(o.r_, nullptr)) {}
    pg_rows& operator=(pg_rows&& o) noexcept;
    ~pg_rows();

    [[nodiscard]] int rows() const noexcept;
    [[nodiscard]] int columns() const noexcept;
    // nullopt for SQL NULL (or out of range).
    [[nodiscard]] std::optional<std::string_view> get(int row, int col) const noexcept;
    [[nodiscard]] ::pg_result* native() const noexcept { return r_; }
    // Whether this is the result that starts COPY BOTH (START_REPLICATION).
    [[nodiscard]] bool is_copy_both() const noexcept;

private:
    ::pg_result* r_ = nullptr;
};

// A CopyData message owned by libpq's allocator.
class pg_copy_buffer {
public:
    pg_copy_buffer() = default;
    pg_copy_buffer(char* p, int n) noexcept : p_(p), n_(n) {}
    pg_copy_buffer(pg_copy_buffer&& o) noexcept
        : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
    pg_copy_buffer& operator=(pg_copy_buffer&& o) noexcept;
    ~pg_copy_buffer();
    [[nodiscard]] std::string_view view() const noexcept { return {p_, static_cast<std::size_t>(n_)}; }

private:
    char* p_ = nullptr;
    int n_ = 0;
};

// What is left of a caller's budget for the next statement: at least 1 ms,
// so an exhausted budget fails as a timeout rather than waiting forever.
[[nodiscard]] inline std::chrono::milliseconds pg_time_left(std::chrono::steady_clock::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    return left < std::chrono::milliseconds(1) ? std::chrono::milliseconds(1) : left;
}

// Parameters in text form; nullopt is NULL.
using pg_params = std::vector<std::optional<std::string>>;

class pg_connection {
public:
    using clock = std::chrono::steady_clock;

    explicit pg_connection(net::any_io_executor ex);
    ~pg_connection();
    pg_connection(const pg_connection&) = delete;
    pg_connection& operator=(const pg_connection&) = delete;

    [[nodiscard]] net::any_io_executor get_executor() const;

    // PQconnectStartParams/PQconnectPoll. `conninfo` is a key=value string
    // or a postgresql:// URI; `overrides` (e.g. {"replication", "database"})
    // win over what it says.
    using conn_params = std::vector<std::pair<std::string, std::string>>;
    net::awaitable<pg_status> connect(std::string conninfo, std::chrono::milliseconds timeout,
                                      conn_params overrides = {});

    // Runs one statement with $1.. parameters (PQsendQueryParams) and keeps
    // the last result in `out` when given. A COPY BOTH result (START_REPLICATION)
    // is success and leaves the connection in copy-both mode.
    net::awaitable<pg_status> exec(std::string_view sql, const pg_params& params, pg_rows* out,
                                   std::chrono::milliseconds timeout);
    // Simple-query protocol (PQsendQuery): several statements, no parameters;
    // the only way to send replication commands.
    net::awaitable<pg_status> exec_simple(std::string_view sql, pg_rows* out,
                                          std::chrono::milliseconds timeout);

    // Copy-both mode. A message already received, without waiting: nullopt
    // when none is buffered (then wait_readable), or when the copy ended or
    // failed (status() says which).
    [[nodiscard]] std::optional<pg_copy_buffer> try_read_copy();
    // Waits until the socket is readable or `deadline`, then reads what
    // arrived. timed_out is set (and no error) when the deadline passed.
    net::awaitable<pg_status> wait_readable(clock::time_point deadline);
    // Queues a CopyData message and flushes it before `deadline`.
    net::awaitable<pg_status> write_copy(std::string_view bytes, clock::time_point deadline);

    // The first error the connection met, or success.
    [[nodiscard]] const pg_status& status() const noexcept { return status_; }
    [[nodiscard]] bool is_open() const noexcept { return conn_ != nullptr; }
    [[nodiscard]] int server_version() const noexcept;

    // Releases the descriptor (Asio must never close libpq's socket) and
    // calls PQfinish. Idempotent; also done by the destructor.
    void close() noexcept;

    // Escapes for the replication protocol's own grammar (identifiers and
    // literals in START_REPLICATION options).
    [[nodiscard]] static std::string quote_literal(std::string_view s);
    [[nodiscard]] static std::string quote_identifier(std::string_view s);

private:
    struct impl;
    net::awaitable<pg_status> finish_query(pg_rows* out, clock::time_point deadline);
    net::awaitable<pg_status> flush(clock::time_point deadline);
    pg_status fail_from_conn(std::string_view what);

    std::unique_ptr<impl> impl_;
    ::pg_conn* conn_ = nullptr;
    pg_status status_;
};

} // namespace tlsync::server
