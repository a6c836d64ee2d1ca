#include "server/pg_connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <libpq-fe.h>

namespace tlsync::server {

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
using wait_type = net::posix::descriptor_base::wait_type;

std::string trimmed(const char* s) {
    std::string out = s ? s : "";
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
}

} // namespace

pg_rows& pg_rows::operator=(pg_rows&& o) noexcept {
    if (this != &o) {
        if (r_) PQclear(r_);
        r_ = std::exchange(o.r_, nullptr);
    }
    return *this;
}
pg_rows::~pg_rows() {
    if (r_) PQclear(r_);
}
bool pg_rows::is_copy_both() const noexcept { return r_ && PQresultStatus(r_) == PGRES_COPY_BOTH; }
int pg_rows::rows() const noexcept { return r_ ? PQntuples(r_) : 0; }
int pg_rows::columns() const noexcept { return r_ ? PQnfields(r_) : 0; }
std::optional<std::string_view> pg_rows::get(int row, int col) const noexcept {
    if (!r_ || row < 0 || col < 0 || row >= PQntuples(r_) || col >= PQnfields(r_)) return std::nullopt;
    if (PQgetisnull(r_, row, col)) return std::nullopt;
    return std::string_view(PQgetvalue(r_, row, col), static_cast<std::size_t>(PQgetlength(r_, row, col)));
}

pg_copy_buffer& pg_copy_buffer::operator=(pg_copy_buffer&& o) noexcept {
    if (this != &o) {
        if (p_) PQfreemem(p_);
        p_ = std::exchange(o.p_, nullptr);
        n_ = std::exchange(o.n_, 0);
    }
    return *this;
}
pg_copy_buffer::~pg_copy_buffer() {
    if (p_) PQfreemem(p_);
}

struct pg_connection::impl {
    explicit impl(net::any_io_executor ex) : sock(ex), timer(ex) {}
    net::posix::stream_descriptor sock;
    net::steady_timer timer;
    int fd = -1;

    // Wraps libpq's socket; libpq may open a new one between connect-poll
    // steps (it tries each address in turn), so this is redone every time.
    void wrap(int new_fd) {
        if (fd == new_fd && sock.is_open()) return;
        unwrap();
        sock.assign(new_fd);
        fd = new_fd;
    }
    void unwrap() noexcept {
        if (sock.is_open()) {
            boost::system::error_code ec;
            sock.cancel(ec);
            (void)sock.release();
        }
        fd = -1;
    }

    // Waits for `w` (or either direction when `either`) until `deadline`.
    // Returns: 0 ready (read), 1 ready (write), -1 timed out, -2 error.
    net::awaitable<int> wait(wait_type w, bool either, clock::time_point deadline) {
        using namespace net::experimental::awaitable_operators;
        timer.expires_at(deadline);
        if (either) {
            auto r = co_await (sock.async_wait(wait_type::wait_read, use_tuple) ||
                               sock.async_wait(wait_type::wait_write, use_tuple) ||
                               timer.async_wait(use_tuple));
            if (r.index() == 2) co_return -1;
            auto [ec] = r.index() == 0 ? std::get<0>(r) : std::get<1>(r);
            co_return ec ? -2 : static_cast<int>(r.index());
        }
        auto r = co_await (sock.async_wait(w, use_tuple) || timer.async_wait(use_tuple));
        if (r.index() == 1) co_return -1;
        auto [ec] = std::get<0>(r);
        co_return ec ? -2 : (w == wait_type::wait_read ? 0 : 1);
    }
};

pg_connection::pg_connection(net::any_io_executor ex) : impl_(std::make_unique<impl>(std::move(ex))) {}

pg_connection::~pg_connection() { close(); }

net::any_io_executor pg_connection::get_executor() const { return impl_->sock.get_executor(); }

void pg_connection::close() noexcept {
    impl_->unwrap();
    if (conn_) {
        PQfinish(conn_);
        conn_ = nullptr;
    }
}

int pg_connection::server_version() const noexcept { return conn_ ? PQserverVersion(conn_) : 0; }

pg_status pg_connection::fail_from_conn(std::string_view what) {
    auto s = pg_status::fail(std::string(what) + ": " + trimmed(conn_ ? PQerrorMessage(conn_) : "not connected"));
    if (status_) status_ = s;
    return s;
}

net::awaitable<pg_status> pg_connection::connect(std::string conninfo, std::chrono::milliseconds timeout,
                                                 conn_params overrides) {
    close();
    status_ = {};
    const auto deadline = clock::now() + timeout;
    // The first "dbname" is expanded as a whole conninfo (expand_dbname);
    // later keywords override it.
    std::vector<const char*> keys{"dbname"}, values{conninfo.c_str()};
    for (auto& [k, v] : overrides) {
        keys.push_back(k.c_str());
        values.push_back(v.c_str());
    }
    keys.push_back(nullptr);
    values.push_back(nullptr);
    conn_ = PQconnectStartParams(keys.data(), values.data(), 1);
    if (!conn_) co_return status_ = pg_status::fail("connect: out of memory");
    if (PQstatus(conn_) == CONNECTION_BAD) co_return fail_from_conn("connect");
    if (PQsetnonblocking(conn_, 1) != 0) co_return fail_from_conn("connect: PQsetnonblocking");

    // Per libpq's contract, the first step behaves as if PGRES_POLLING_WRITING.
    PostgresPollingStatusType poll = PGRES_POLLING_WRITING;
    for (;;) {
        if (poll == PGRES_POLLING_OK) break;
        if (poll == PGRES_POLLING_FAILED) co_return fail_from_conn("connect");
        int fd = PQsocket(conn_);
        if (fd < 0) co_return fail_from_conn("connect: no socket");
        impl_->wrap(fd);
        int r = co_await impl_->wait(poll == PGRES_POLLING_READING ? wait_type::wait_read : wait_type::wait_write,
                                     false, deadline);
        if (r == -1) {
            auto s = pg_status::fail("connect: timed out after " + std::to_string(timeout.count()) + " ms");
            s.timed_out = true;
            close();
            co_return status_ = s;
        }
        if (r == -2) co_return fail_from_conn("connect: wait failed");
        poll = PQconnectPoll(conn_);
    }
    impl_->wrap(PQsocket(conn_));
    co_return pg_status{};
}

net::awaitable<pg_status> pg_connection::flush(clock::time_point deadline) {
    // libpq: when PQflush returns 1, wait for either direction; if readable,
    // consume input (the server may be blocked sending to us) and try again.
    for (;;) {
        int f = PQflush(conn_);
        if (f == 0) co_return pg_status{};
        if (f < 0) co_return fail_from_conn("flush");
        int r = co_await impl_->wait(wait_type::wait_write, true, deadline);
        if (r == -1) {
            auto s = pg_status::fail("flush: timed out");
            s.timed_out = true;
            co_return s;
        }
        if (r == -2) co_return fail_from_conn("flush: wait failed");
        if (r == 0 && !PQconsumeInput(conn_)) co_return fail_from_conn("flush: read");
    }
}

net::awaitable<pg_status> pg_connection::finish_query(pg_rows* out, clock::time_point deadline) {
    if (auto s = co_await flush(deadline); !s) co_return s;
    pg_status result;
    for (;;) {
        while (PQisBusy(conn_)) {
            int r = co_await impl_->wait(wait_type::wait_read, false, deadline);
            if (r == -1) {
                // The connection is mid-query: it cannot be reused.
                auto s = pg_status::fail("query timed out");
                s.timed_out = true;
                if (status_) status_ = s;
                co_return s;
            }
            if (r == -2 || !PQconsumeInput(conn_)) co_return fail_from_conn("query: read");
        }
        pg_rows res(PQgetResult(conn_));
        if (!res.native()) break;
        auto st = PQresultStatus(res.native());
        if (st == PGRES_COPY_BOTH) {
            if (out) *out = std::move(res);
            co_return result; // the stream follows; no further results until it ends
        }
        if (st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE || st == PGRES_NONFATAL_ERROR) {
            if (result) {
                const char* state = PQresultErrorField(res.native(), PG_DIAG_SQLSTATE);
                result = pg_status::fail(trimmed(PQresultErrorMessage(res.native())), state ? state : "");
            }
        } else if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT) {
            result = pg_status::fail("unexpected COPY result");
            if (status_) status_ = result;
            co_return result;
        }
        if (out) *out = std::move(res);
    }
    co_return result;
}

net::awaitable<pg_status> pg_connection::exec(std::string_view sql, const pg_params& params, pg_rows* out,
                                              std::chrono::milliseconds timeout) {
    if (!conn_ || !status_) co_return pg_status::fail("exec: connection not usable: " + status_.error);
    const auto deadline = clock::now() + timeout;
    std::string text(sql);
    std::vector<const char*> values;
    values.reserve(params.size());
    for (auto& p : params) values.push_back(p ? p->c_str() : nullptr);
    if (!PQsendQueryParams(conn_, text.c_str(), static_cast<int>(values.size()), nullptr, values.data(),
                           nullptr, nullptr, 0))
        co_return fail_from_conn("exec");
    co_return co_await finish_query(out, deadline);
}

net::awaitable<pg_status> pg_connection::exec_simple(std::string_view sql, pg_rows* out,
                                                     std::chrono::milliseconds timeout) {
    if (!conn_ || !status_) co_return pg_status::fail("exec: connection not usable: " + status_.error);
    const auto deadline = clock::now() + timeout;
    std::string text(sql);
    if (!PQsendQuery(conn_, text.c_str())) co_return fail_from_conn("exec");
    co_return co_await finish_query(out, deadline);
}

std::optional<pg_copy_buffer> pg_connection::try_read_copy() {
    if (!conn_ || !status_) return std::nullopt;
    char* buf = nullptr;
    int n = PQgetCopyData(conn_, &buf, 1);
    if (n > 0) return pg_copy_buffer(buf, n);
    if (n == 0) return std::nullopt;
    if (n == -1) {
        // The server ended the copy; its final result says why.
        pg_rows res(PQgetResult(conn_));
        std::string why = res.native() ? trimmed(PQresultErrorMessage(res.native())) : "";
        status_ = pg_status::fail("replication stream ended" + (why.empty() ? std::string() : ": " + why));
        while (PGresult* r = PQgetResult(conn_)) PQclear(r);
        return std::nullopt;
    }
    fail_from_conn("read");
    return std::nullopt;
}

net::awaitable<pg_status> pg_connection::wait_readable(clock::time_point deadline) {
    if (!conn_ || !status_) co_return status_ ? pg_status::fail("not connected") : status_;
    int r = co_await impl_->wait(wait_type::wait_read, false, deadline);
    if (r == -1) {
        pg_status s;
        s.timed_out = true;
        co_return s;
    }
    if (r == -2 || !PQconsumeInput(conn_)) co_return fail_from_conn("read");
    co_return pg_status{};
}

net::awaitable<pg_status> pg_connection::write_copy(std::string_view bytes, clock::time_point deadline) {
    if (!conn_ || !status_) co_return status_ ? pg_status::fail("not connected") : status_;
    for (;;) {
        int r = PQputCopyData(conn_, bytes.data(), static_cast<int>(bytes.size()));
        if (r == 1) break;
        if (r < 0) co_return fail_from_conn("write");
        // 0: libpq's buffer is full in non-blocking mode: drain it first.
        if (auto s = co_await flush(deadline); !s) co_return s;
    }
    co_return co_await flush(deadline);
}

std::string pg_connection::quote_literal(std::string_view s) {
    std::string out = "'";
    for (char c : s) {
        if (c == '\'') out += '\'';
        out += c;
    }
    return out + "'";
}

std::string pg_connection::quote_identifier(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + "\"";
}

} // namespace tlsync::server
