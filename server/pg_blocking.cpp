#include "server/pg_blocking.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <utility>

namespace tlsync::server {

// ------------------------------------------------------------------ results

pg_result_set::pg_result_set(pg_result_set&& o) noexcept : r_(std::exchange(o.r_, nullptr)) {}

pg_result_set& pg_result_set::operator=(pg_result_set&& o) noexcept {
    if (this != &o) {
        if (r_) PQclear(r_);
        r_ = std::exchange(o.r_, nullptr);
    }
    return *this;
}

pg_result_set::~pg_result_set() {
    if (r_) PQclear(r_);
}

int pg_result_set::rows() const noexcept {
    return r_ ? PQntuples(r_) : 0;
}

bool pg_result_set::is_null(int row, int col) const noexcept {
    return !r_ || row >= PQntuples(r_) || col >= PQnfields(r_) || PQgetisnull(r_, row, col);
}

std::string_view pg_result_set::text(int row, int col) const noexcept {
    if (is_null(row, col)) return {};
    return {PQgetvalue(r_, row, col), static_cast<std::size_t>(PQgetlength(r_, row, col))};
}

std::int64_t pg_result_set::int64(int row, int col) const {
    const auto t = text(row, col);
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc{} || end != t.data() + t.size() || t.empty())
        throw pg_error("postgres: expected an integer, got '" + std::string(t.substr(0, 40)) + "'");
    return v;
}

std::int64_t pg_result_set::affected() const noexcept {
    if (!r_) return 0;
    const char* n = PQcmdTuples(r_);
    std::int64_t v = 0;
    if (n && *n) std::from_chars(n, n + std::char_traits<char>::length(n), v);
    return v;
}

// ------------------------------------------------------------------ connection

namespace {

// libpq's messages span lines ("...failed: Connection refused\n\tIs the
// server running..."): one line, for logs and close reasons.
std::string trimmed(const char* s) {
    std::string out;
    for (const char* p = s ? s : ""; *p; ++p) {
        if (*p == '\n' || *p == '\t') {
            if (!out.empty() && out.back() != ' ') out += ' ';
        } else {
            out += *p;
        }
    }
    while (!out.empty() && out.back() == ' ')
        out.pop_back();
    return out;
}

} // namespace

pg_blocking_connection::pg_blocking_connection(const pg_blocking_options& opts) {
    const std::string timeout =
        std::to_string(std::max<long long>(2, opts.connect_timeout.count()));
    // Ours come first: with expand_dbname, what the conninfo says wins over
    // the keywords before it. A peer that vanished without a FIN is noticed
    // by keepalives and tcp_user_timeout instead of hanging a thread.
    const char* keys[] = {"application_name",
                          "connect_timeout",
                          "keepalives",
                          "keepalives_idle",
                          "keepalives_interval",
                          "keepalives_count",
                          "tcp_user_timeout",
                          "dbname",
                          nullptr};
    const char* values[] = {
        opts.application_name.c_str(), timeout.c_str(), "1", "10", "5", "3", "30000",
        opts.conninfo.c_str(),         nullptr};
    c_ = PQconnectdbParams(keys, values, 1);
    if (!c_) throw pg_error("cannot connect to PostgreSQL: out of memory");
    if (PQstatus(c_) != CONNECTION_OK) {
        std::string why = trimmed(PQerrorMessage(c_));
        PQfinish(c_);
        c_ = nullptr;
        throw pg_error("cannot connect to PostgreSQL: " + why);
    }
    // Notices ("already exists, skipping", a shutdown's FATAL) would go to
    // stderr raw; errors reach the caller as pg_error instead.
    PQsetNoticeProcessor(
        c_, [](void*, const char*) {}, nullptr);
    exec_script("SET statement_timeout = " + std::to_string(opts.statement_timeout.count()));
}

pg_blocking_connection::~pg_blocking_connection() {
    if (c_) PQfinish(c_);
}

void pg_blocking_connection::fail(std::string_view what, ::pg_result* r) {
    std::string state;
    std::string message;
    if (r) {
        if (const char* s = PQresultErrorField(r, PG_DIAG_SQLSTATE)) state = s;
        message = trimmed(PQresultErrorMessage(r));
        PQclear(r);
    }
    if (message.empty()) message = trimmed(PQerrorMessage(c_));
    throw pg_error(std::string(what) + ": " + message, std::move(state));
}

pg_result_set pg_blocking_connection::exec(std::string_view sql, const pg_text_params& params) {
    // PQexecParams reads text values up to their NUL: std::strings have one.
    const std::string statement(sql);
    std::vector<const char*> values(params.size(), nullptr);
    for (std::size_t i = 0; i < params.size(); ++i)
        if (params[i]) values[i] = params[i]->c_str();
    ::pg_result* r = PQexecParams(c_, statement.c_str(), static_cast<int>(params.size()), nullptr,
                                  values.data(), nullptr, nullptr, 0);
    const auto st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) fail("postgres", r);
    return pg_result_set(r);
}

void pg_blocking_connection::exec_script(std::string_view sql) {
    const std::string text(sql);
    ::pg_result* r = PQexec(c_, text.c_str());
    // PQexec returns the last statement's result; an earlier failure stops the script there.
    const auto st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) fail("postgres", r);
    PQclear(r);
}

bool pg_blocking_connection::reusable() const noexcept {
    return c_ && PQstatus(c_) == CONNECTION_OK && PQtransactionStatus(c_) == PQTRANS_IDLE;
}

bool pg_blocking_connection::alive() noexcept {
    if (!c_ || PQstatus(c_) != CONNECTION_OK) return false;
    // A notice or the FATAL of a server shutdown is read and dropped here.
    if (PQconsumeInput(c_) == 0) return false;
    while (PGnotify* n = PQnotifies(c_))
        PQfreemem(n);
    return PQstatus(c_) == CONNECTION_OK;
}

void pg_blocking_connection::reset_transaction() noexcept {
    if (!c_ || PQstatus(c_) != CONNECTION_OK) return;
    const auto ts = PQtransactionStatus(c_);
    if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) PQclear(PQexec(c_, "ROLLBACK"));
}

// ------------------------------------------------------------------ pool

pg_blocking_pool::pg_blocking_pool(pg_blocking_options opts, std::size_t max_connections,
                                   std::chrono::milliseconds acquire_timeout)
    : opts_(std::move(opts)), max_(std::max<std::size_t>(1, max_connections)),
      acquire_timeout_(acquire_timeout) {}

pg_blocking_pool::lease pg_blocking_pool::acquire() {
    std::unique_lock lock(mutex_);
    const auto deadline = std::chrono::steady_clock::now() + acquire_timeout_;
    for (;;) {
        while (!idle_.empty()) {
            auto c = std::move(idle_.back());
            idle_.pop_back();
            if (c->alive()) return lease(shared_from_this(), std::move(c));
            --open_; // closed by the server while idle: connect anew
        }
        if (open_ < max_) break;
        if (freed_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
            open_ >= max_)
            throw pg_error("postgres: no connection came free within " +
                           std::to_string(acquire_timeout_.count()) + " ms (" +
                           std::to_string(max_) + " in use)");
    }
    ++open_;
    ++connects_;
    lock.unlock();
    try {
        return lease(shared_from_this(), std::make_unique<pg_blocking_connection>(opts_));
    } catch (...) {
        lock.lock();
        --open_;
        freed_.notify_one();
        throw;
    }
}

void pg_blocking_pool::give_back(std::unique_ptr<pg_blocking_connection> c) noexcept {
    // A connection left inside a transaction (an exception mid-way) is
    // rolled back; one that lost its server is closed, and the next caller
    // connects anew.
    if (c) c->reset_transaction();
    const bool keep = c && c->reusable();
    if (!keep) c.reset();
    const std::lock_guard lock(mutex_);
    if (keep)
        idle_.push_back(std::move(c));
    else
        --open_;
    freed_.notify_one();
}

pg_blocking_pool::stats_t pg_blocking_pool::stats() const {
    const std::lock_guard lock(mutex_);
    return {open_, idle_.size(), connects_};
}

pg_blocking_pool::lease::~lease() {
    if (pool_) pool_->give_back(std::move(conn_));
}

// ------------------------------------------------------------------ pipelines

pg_pipeline::pg_pipeline(pg_blocking_connection& c) : c_(c) {
    if (PQenterPipelineMode(c_.c_) != 1) c_.fail("postgres: cannot start a pipeline", nullptr);
    active_ = true;
}

pg_pipeline::~pg_pipeline() {
    // Left by an exception: drain what is pending so the connection leaves
    // pipeline mode (or is found broken by the pool and closed).
    if (!active_) return;
    if (queued_ > 0) {
        (void)PQpipelineSync(c_.c_);
        for (;;) {
            ::pg_result* r = PQgetResult(c_.c_);
            if (!r) {
                if (PQstatus(c_.c_) != CONNECTION_OK) break;
                continue;
            }
            const auto st = PQresultStatus(r);
            PQclear(r);
            if (st == PGRES_PIPELINE_SYNC) break;
        }
    }
    (void)PQexitPipelineMode(c_.c_);
}

void pg_pipeline::add(std::string_view sql, const pg_text_params& params) {
    const std::string statement(sql);
    std::vector<const char*> values(params.size(), nullptr);
    for (std::size_t i = 0; i < params.size(); ++i)
        if (params[i]) values[i] = params[i]->c_str();
    if (PQsendQueryParams(c_.c_, statement.c_str(), static_cast<int>(params.size()), nullptr,
                          values.data(), nullptr, nullptr, 0) != 1)
        c_.fail("postgres", nullptr);
    ++queued_;
}

std::vector<pg_result_set> pg_pipeline::run() {
    if (PQpipelineSync(c_.c_) != 1) c_.fail("postgres", nullptr);
    const std::size_t expected = queued_;
    std::vector<pg_result_set> out;
    out.reserve(expected);
    ::pg_result* failed = nullptr;
    // Each statement's result is followed by a null; the sync ends it all.
    for (;;) {
        ::pg_result* r = PQgetResult(c_.c_);
        if (!r) {
            if (PQstatus(c_.c_) != CONNECTION_OK) break;
            continue;
        }
        const auto st = PQresultStatus(r);
        if (st == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            break;
        }
        if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
            out.emplace_back(r);
        } else if (st == PGRES_PIPELINE_ABORTED || failed) {
            PQclear(r);
        } else {
            failed = r;
        }
    }
    queued_ = 0;
    active_ = false;
    (void)PQexitPipelineMode(c_.c_);
    if (failed || out.size() != expected) c_.fail("postgres", failed);
    return out;
}

// ------------------------------------------------------------------ transactions

pg_transaction::pg_transaction(pg_blocking_connection& c, std::string_view begin) : c_(c) {
    c_.exec_script(begin);
}

pg_transaction::~pg_transaction() {
    if (!done_) c_.reset_transaction();
}

void pg_transaction::commit() {
    done_ = true;
    c_.exec_script("COMMIT");
}

// ------------------------------------------------------------------ helpers

void append_array_element(std::string& out, std::string_view s) {
    if (out.size() > 1) out += ',';
    out += '"';
    for (char ch : s) {
        if (ch == '"' || ch == '\\') out += '\\';
        out += ch;
    }
    out += '"';
}

bool looks_like_conninfo(std::string_view s) noexcept {
    return s.starts_with("postgres://") || s.starts_with("postgresql://") ||
           s.find('=') != std::string_view::npos;
}

std::string conninfo_error(const std::string& s) {
    char* err = nullptr;
    PQconninfoOption* opts = PQconninfoParse(s.c_str(), &err);
    std::string why;
    if (!opts) why = err ? trimmed(err) : "out of memory";
    if (opts) PQconninfoFree(opts);
    if (err) PQfreemem(err);
    return why;
}

} // namespace tlsync::server
