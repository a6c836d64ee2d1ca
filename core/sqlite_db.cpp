#include "core/sqlite_db.hpp"

#include <sqlite3.h>

namespace tlsync::core {
namespace {

[[noreturn]] void fail(sqlite3* db, int rc, std::string_view context) {
    std::string msg(context);
    msg += ": ";
    msg += db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    throw sqlite_error(db ? sqlite3_extended_errcode(db) : rc, msg);
}

} // namespace

// ---------------------------------------------------------------- statement

sqlite_statement::sqlite_statement(sqlite3* db, std::string_view sql) : db_(db), sql_(sql) {
    const int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
    if (rc != SQLITE_OK) fail(db, rc, "prepare '" + sql_ + "'");
}

sqlite_statement::~sqlite_statement() {
    sqlite3_finalize(stmt_);
}

void sqlite_statement::begin_use() {
    // Re-entering a statement that a live cursor is reading would silently
    // restart that cursor's scan.
    if (busy_) throw std::logic_error("sqlite statement already in use: " + sql_);
    busy_ = true;
}

void sqlite_statement::bind(int index, const sqlite_param& p) {
    int rc = SQLITE_OK;
    if (std::holds_alternative<sqlite_null>(p)) {
        rc = sqlite3_bind_null(stmt_, index);
    } else if (const auto* i = std::get_if<std::int64_t>(&p)) {
        rc = sqlite3_bind_int64(stmt_, index, *i);
    } else if (const auto* s = std::get_if<std::string_view>(&p)) {
        rc = sqlite3_bind_text64(stmt_, index, s->data(), s->size(), SQLITE_TRANSIENT, SQLITE_UTF8);
    } else {
        const auto& b = std::get<std::span<const std::byte>>(p);
        // A zero-length blob must still be a blob, not NULL.
        rc = b.empty() ? sqlite3_bind_zeroblob(stmt_, index, 0)
                       : sqlite3_bind_blob64(stmt_, index, b.data(), b.size(), SQLITE_TRANSIENT);
    }
    if (rc != SQLITE_OK) fail(db_, rc, "bind '" + sql_ + "'");
}

bool sqlite_statement::step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail(db_, rc, "step '" + sql_ + "'");
}

void sqlite_statement::end_use() noexcept {
    // reset() repeats the last step's error, which step() already reported.
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    busy_ = false;
}

bool sqlite_cursor::is_null(int col) const {
    return sqlite3_column_type(s_->stmt_, col) == SQLITE_NULL;
}

std::int64_t sqlite_cursor::get_int64(int col) const {
    return sqlite3_column_int64(s_->stmt_, col);
}

std::string_view sqlite_cursor::get_text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_->stmt_, col));
    const int n = sqlite3_column_bytes(s_->stmt_, col);
    return p ? std::string_view(p, static_cast<std::size_t>(n)) : std::string_view();
}

std::span<const std::byte> sqlite_cursor::get_blob(int col) const {
    // Works for TEXT columns too: a v1 database stored states as TEXT.
    const auto* p = static_cast<const std::byte*>(sqlite3_column_blob(s_->stmt_, col));
    const int n = sqlite3_column_bytes(s_->stmt_, col);
    return p ? std::span<const std::byte>(p, static_cast<std::size_t>(n))
             : std::span<const std::byte>();
}

// ---------------------------------------------------------------- connection

namespace {

// Process-wide, before SQLite initializes: no up-front bulk page-cache
// allocation per connection (20 pages, ~87 KB, held for the handle's life
// whether a room ever reads that much or not). Pages are allocated as used.
// A no-op (SQLITE_MISUSE) if someone initialized SQLite first.
void configure_sqlite_once() {
    static const bool done = [] {
        sqlite3_config(SQLITE_CONFIG_PAGECACHE, nullptr, 0, 0);
        return true;
    }();
    (void)done;
}

} // namespace

sqlite_db::sqlite_db(const std::string& path, const sqlite_options& opts) {
    configure_sqlite_once();
    const int rc =
        sqlite3_open_v2(path.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
        const std::string msg =
            "open '" + path + "': " + (db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
        sqlite3_close_v2(db_);
        throw sqlite_error(rc, msg);
    }
    try {
        sqlite3_extended_result_codes(db_, 1);
        // Before the first statement: lookaside cannot change while in use.
        if (opts.small_lookaside) sqlite3_db_config(db_, SQLITE_DBCONFIG_LOOKASIDE, nullptr, 128, 32);
        if (const int r = sqlite3_busy_timeout(db_, static_cast<int>(opts.busy_timeout.count()));
            r != SQLITE_OK)
            fail(db_, r, "busy_timeout");
        // journal_mode answers with a row; check it really switched (it cannot
        // for :memory: databases, which is fine for them).
        {
            auto& s = prepare("PRAGMA journal_mode=WAL");
            auto c = s.query();
            if (!c.next()) throw sqlite_error(SQLITE_ERROR, "PRAGMA journal_mode returned nothing");
            const auto mode = c.get_text(0);
            if (mode != "wal" && mode != "memory")
                throw sqlite_error(SQLITE_ERROR, "cannot switch '" + path + "' to WAL (mode " +
                                                     std::string(mode) + ")");
        }
        exec(opts.synchronous == sqlite_synchronous::full ? "PRAGMA synchronous=FULL"
                                                          : "PRAGMA synchronous=NORMAL");
        exec("PRAGMA cache_size=-" + std::to_string(opts.cache_kib));
        if (!opts.auto_checkpoint) exec("PRAGMA wal_autocheckpoint=0");
    } catch (...) {
        statements_.clear();
        sqlite3_close_v2(db_);
        throw;
    }
}

sqlite_db::~sqlite_db() {
    statements_.clear(); // finalize before close, or close reports SQLITE_BUSY
    sqlite3_close_v2(db_);
}

void sqlite_db::release_memory() noexcept { sqlite3_db_release_memory(db_); }

void sqlite_db::exec(std::string_view sql) {
    const std::string s(sql);
    char* err = nullptr;
    const int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
        std::string msg = "exec '" + s + "': " + (err ? err : sqlite3_errstr(rc));
        sqlite3_free(err);
        throw sqlite_error(sqlite3_extended_errcode(db_), msg);
    }
}

sqlite_statement& sqlite_db::prepare(std::string_view sql) {
    const std::string key(sql);
    auto it = statements_.find(key);
    if (it == statements_.end())
        it = statements_.emplace(key, std::make_unique<sqlite_statement>(db_, sql)).first;
    return *it->second;
}

bool sqlite_db::table_exists(std::string_view name) {
    auto c = prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").query(name);
    return c.next();
}

bool sqlite_db::in_transaction() const noexcept {
    return sqlite3_get_autocommit(db_) == 0;
}

void sqlite_db::begin(bool nested) {
    exec(nested ? "SAVEPOINT tlsync_nested" : "BEGIN IMMEDIATE");
}

void sqlite_db::commit(bool nested) {
    exec(nested ? "RELEASE tlsync_nested" : "COMMIT");
}

void sqlite_db::rollback(bool nested) noexcept {
    // Already unwinding with the error that matters; SQLite may also have
    // rolled back by itself (e.g. after SQLITE_FULL), hence the checks.
    if (nested) {
        sqlite3_exec(db_, "ROLLBACK TO tlsync_nested; RELEASE tlsync_nested", nullptr, nullptr,
                     nullptr);
    } else if (in_transaction()) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
}

} // namespace tlsync::core
