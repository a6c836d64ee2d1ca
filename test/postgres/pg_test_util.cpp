#include "pg_test_util.hpp"

#include "server/pg_connection.hpp"
#include "server/pg_migrations.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>

#include <libpq-fe.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <sys/wait.h>

#ifndef TLSYNC_SOURCE_DIR
#error "TLSYNC_SOURCE_DIR must be defined"
#endif

namespace tlsync::test {

namespace {

const std::string script = std::string(TLSYNC_SOURCE_DIR) + "/scripts/pg-test-cluster";

// Runs a command, returns its exit status and stdout.
std::pair<int, std::string> run(const std::string& cmd) {
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return {-1, out};
    std::array<char, 4096> buf;
    while (auto n = fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
    int status = pclose(p);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string value_of(const std::string& out, const std::string& key) {
    auto at = out.find(key + "=");
    if (at == std::string::npos) return {};
    auto end = out.find('\n', at);
    auto v = out.substr(at + key.size() + 1, end - at - key.size() - 1);
    if (v.size() >= 2 && v.front() == '\'') v = v.substr(1, v.size() - 2);
    return v;
}

struct cluster_owner {
    pg_cluster c;
    cluster_owner() {
        auto [status, out] = run(script + " start");
        if (status == 77) {
            c.skip_reason = "PostgreSQL 15 + wal2json cannot be installed here (scripts/pg-test-cluster exit 77)";
            return;
        }
        if (status != 0) throw std::runtime_error("scripts/pg-test-cluster start failed (" + std::to_string(status) + ")");
        c.dir = value_of(out, "TLSYNC_PG_DIR");
        c.port = value_of(out, "TLSYNC_PG_PORT");
        c.conninfo = value_of(out, "TLSYNC_PG_CONNINFO");
    }
    ~cluster_owner() {
        if (!c.dir.empty()) (void)run(script + " stop '" + c.dir + "'");
    }
};

} // namespace

std::string pg_cluster::db(const std::string& name) const {
    return "host=127.0.0.1 port=" + port + " user=postgres dbname=" + name;
}

void pg_cluster::restart(const std::string& mode) const {
    auto [status, out] = run(script + " restart '" + dir + "' " + mode);
    if (status != 0) throw std::runtime_error("pg-test-cluster restart failed");
}

const pg_cluster& cluster() {
    static cluster_owner owner; // stopped when the process exits
    return owner.c;
}

boost::test_tools::assertion_result cluster_available(boost::unit_test::test_unit_id) {
    auto& c = cluster();
    boost::test_tools::assertion_result r(c.available());
    if (!c.available()) r.message() << c.skip_reason;
    return r;
}

pg_client::pg_client(const std::string& conninfo) : c_(PQconnectdb(conninfo.c_str())) {}
pg_client::~pg_client() { PQfinish(c_); }
bool pg_client::ok() const { return PQstatus(c_) == CONNECTION_OK; }

std::optional<std::string> pg_client::try_exec(const std::string& sql, std::string* error) {
    if (PQstatus(c_) != CONNECTION_OK) PQreset(c_);
    if (PQstatus(c_) != CONNECTION_OK) {
        if (error) *error = PQerrorMessage(c_);
        return std::nullopt;
    }
    std::unique_ptr<PGresult, void (*)(PGresult*)> r(PQexec(c_, sql.c_str()), PQclear);
    auto st = PQresultStatus(r.get());
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        if (error) *error = PQerrorMessage(c_);
        return std::nullopt;
    }
    if (st == PGRES_TUPLES_OK && PQntuples(r.get()) > 0 && !PQgetisnull(r.get(), 0, 0))
        return std::string(PQgetvalue(r.get(), 0, 0));
    return std::string();
}

std::optional<std::string> pg_client::exec(const std::string& sql) {
    std::string error;
    auto r = try_exec(sql, &error);
    if (!r) throw std::runtime_error("SQL failed: " + sql + ": " + error);
    return r;
}

std::string fresh_database(const std::string& name) {
    {
        pg_client admin(cluster().conninfo);
        admin.exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
        admin.exec("CREATE DATABASE " + name);
    }
    auto conninfo = cluster().db(name);
    boost::asio::io_context io;
    auto f = boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<server::migrate_report> {
            server::pg_connection c(io.get_executor());
            auto s = co_await c.connect(conninfo, std::chrono::seconds(10));
            if (!s) co_return server::migrate_report{s};
            co_return co_await server::migrate(c, server::app_migrations());
        },
        boost::asio::use_future);
    io.run();
    auto rep = f.get();
    if (!rep.status) throw std::runtime_error("migrations failed: " + rep.status.error);
    return conninfo;
}

} // namespace tlsync::test
