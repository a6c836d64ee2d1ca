#include "server/pg_migrations.hpp"

#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <charconv>

namespace tlsync::server {

namespace {

// pg_advisory_xact_lock key: "tlsy" "mig1".
constexpr std::string_view lock_key = "7815592547826216241";

int to_int(std::optional<std::string_view> s) {
    int v = 0;
    if (s) std::from_chars(s->data(), s->data() + s->size(), v);
    return v;
}

net::awaitable<void> rollback(pg_connection& c, std::chrono::milliseconds timeout) {
    if (c.status()) (void)co_await c.exec_simple("ROLLBACK", nullptr, timeout);
}

const pg_params no_params;

} // namespace

std::string check_migration_list(const std::vector<pg_migration>& list) {
    for (std::size_t i = 0; i < list.size(); ++i) {
        if (list[i].version != static_cast<int>(i) + 1)
            return "migration " + std::string(list[i].name) + " has version " + std::to_string(list[i].version) +
                   ", expected " + std::to_string(i + 1);
        if (list[i].sql.find_first_not_of(" \t\r\n") == std::string_view::npos)
            return "migration " + std::string(list[i].name) + " is empty";
    }
    return {};
}

net::awaitable<migrate_report> migrate(pg_connection& c, const std::vector<pg_migration>& list,
                                       std::chrono::milliseconds timeout) {
    migrate_report report;
    if (auto why = check_migration_list(list); !why.empty()) {
        report.status = pg_status::fail(why);
        co_return report;
    }
    report.status = co_await c.exec_simple(
        "CREATE TABLE IF NOT EXISTS tlsync_schema_migrations ("
        " version integer PRIMARY KEY, name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())",
        nullptr, timeout);
    if (!report.status) co_return report;

    for (auto& m : list) {
        if (report.status = co_await c.exec_simple("BEGIN", nullptr, timeout); !report.status) co_return report;
        pg_rows rows;
        report.status = co_await c.exec("SELECT pg_advisory_xact_lock(" + std::string(lock_key) + ")", no_params, nullptr,
                                        timeout);
        if (report.status)
            report.status = co_await c.exec("SELECT coalesce(max(version), 0) FROM tlsync_schema_migrations", no_params,
                                            &rows, timeout);
        if (!report.status) {
            co_await rollback(c, timeout);
            co_return report;
        }
        int current = to_int(rows.get(0, 0));
        report.schema_version = current;
        if (current > static_cast<int>(list.size())) {
            co_await rollback(c, timeout);
            report.status = pg_status::fail("the database schema is at version " + std::to_string(current) +
                                            ", newer than this server knows (" + std::to_string(list.size()) + ")");
            co_return report;
        }
        if (current >= m.version) {
            co_await rollback(c, timeout);
            continue;
        }
        report.status = co_await c.exec_simple(m.sql, nullptr, timeout);
        if (report.status) {
            // (A braced list inside co_await trips GCC 12: build it first.)
            pg_params params{std::to_string(m.version), std::string(m.name)};
            report.status = co_await c.exec("INSERT INTO tlsync_schema_migrations (version, name) VALUES ($1, $2)",
                                            params, nullptr, timeout);
        }
        if (report.status) report.status = co_await c.exec_simple("COMMIT", nullptr, timeout);
        if (!report.status) {
            report.status.error = std::string(m.name) + ": " + report.status.error;
            co_await rollback(c, timeout);
            co_return report;
        }
        report.applied.push_back(m.version);
        report.schema_version = m.version;
    }
    co_return report;
}

} // namespace tlsync::server
