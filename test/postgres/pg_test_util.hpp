#pragma once
// The throwaway PostgreSQL cluster of the test_postgres suites (started once
// per process through scripts/pg-test-cluster, stopped at exit), blocking
// libpq helpers for the test's own writes, and an io_context on threads.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

struct pg_conn;

namespace tlsync::test {

struct pg_cluster {
    std::string dir;
    std::string port;
    std::string conninfo; // to database postgres
    std::string skip_reason; // set when Postgres cannot be installed

    [[nodiscard]] bool available() const { return !conninfo.empty(); }
    // conninfo of another database of the cluster.
    [[nodiscard]] std::string db(const std::string& name) const;
    // Stops (fast or immediate) and starts the server on the same port.
    void restart(const std::string& mode = "fast") const;
};

// The process's cluster (started on first use).
const pg_cluster& cluster();
// Boost.Test precondition: skip when Postgres cannot be installed.
boost::test_tools::assertion_result cluster_available(boost::unit_test::test_unit_id);

// Runs the coroutine `f(executor)` returns to completion on a private
// io_context; returns its result (rethrows its exception).
template <class F> auto run_co(F f) {
    boost::asio::io_context io;
    auto fut = boost::asio::co_spawn(io, f(io.get_executor()), boost::asio::use_future);
    io.run();
    return fut.get();
}

// Blocking libpq, for the test's side only.
class pg_client {
public:
    explicit pg_client(const std::string& conninfo);
    ~pg_client();
    pg_client(const pg_client&) = delete;
    pg_client& operator=(const pg_client&) = delete;
    // Runs SQL; throws std::runtime_error on failure. Returns the first
    // column of the first row of the last result, if any.
    std::optional<std::string> exec(const std::string& sql);
    // As exec, nullopt instead of throwing (the server may be restarting).
    std::optional<std::string> try_exec(const std::string& sql, std::string* error = nullptr);
    bool ok() const;

private:
    ::pg_conn* c_ = nullptr;
};

// A fresh database with the app schema (server/sql) applied.
std::string fresh_database(const std::string& name);

// Io threads and a blocking pool, as a server runs them. The pool is
// destroyed after the io_context: handlers the io_context destroys unfinished
// may still post storage work.
struct io_threads {
    boost::asio::thread_pool blocking{1};
    boost::asio::io_context io;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard{io.get_executor()};
    std::vector<std::thread> threads;
    explicit io_threads(int n = 2) {
        for (int i = 0; i < n; ++i) threads.emplace_back([this] { io.run(); });
    }
    // Stops and joins the io threads (again: nothing); the pool goes on.
    void stop_io() {
        guard.reset();
        io.stop();
        for (auto& t : threads) t.join();
        threads.clear();
    }
    ~io_threads() {
        stop_io();
        blocking.join();
    }
};

// Polls `pred` every 10 ms until true or `timeout`.
inline bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return pred();
}

} // namespace tlsync::test
