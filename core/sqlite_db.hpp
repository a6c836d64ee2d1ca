#pragma once
// A small RAII layer over the sqlite3 C API: one connection, a cache of
// prepared statements, cursors that always reset their statement, and
// BEGIN IMMEDIATE transactions that roll back when the body throws.
// A connection is used by one thread at a time.

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>

struct sqlite3;
struct sqlite3_stmt;

namespace tlsync::core {

// Every failing sqlite3 call surfaces as this, with SQLite's own message.
struct sqlite_error : std::runtime_error {
    sqlite_error(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
    [[nodiscard]] int code() const noexcept { return code_; } // the (extended) SQLite result code

  private:
    int code_;
};

// A value to bind. Blobs are borrowed for the duration of the bind call only.
struct sqlite_null {};
using sqlite_param =
    std::variant<sqlite_null, std::int64_t, std::string_view, std::span<const std::byte>>;

class sqlite_cursor;

// A prepared statement. Parameters are bound by position (1-based ?).
class sqlite_statement {
  public:
    sqlite_statement(sqlite3* db, std::string_view sql);
    ~sqlite_statement();
    sqlite_statement(const sqlite_statement&) = delete;
    sqlite_statement& operator=(const sqlite_statement&) = delete;

    // Binds, steps to completion, resets. For statements without rows.
    template <class... A> void run(const A&... args) {
        auto c = query(args...);
        while (c.next()) {
        }
    }

    // Binds and returns a cursor that resets the statement when it dies, so a
    // half-read SELECT never keeps a read transaction open.
    template <class... A> [[nodiscard]] sqlite_cursor query(const A&... args);

  private:
    friend class sqlite_cursor;
    void begin_use();
    void bind(int index, const sqlite_param& p);
    bool step();
    void end_use() noexcept;

    sqlite3* db_;
    sqlite3_stmt* stmt_ = nullptr;
    std::string sql_;
    bool busy_ = false;
};

class sqlite_cursor {
  public:
    explicit sqlite_cursor(sqlite_statement& s) : s_(&s) {}
    sqlite_cursor(sqlite_cursor&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    sqlite_cursor& operator=(sqlite_cursor&&) = delete;
    ~sqlite_cursor() {
        if (s_) s_->end_use();
    }

    // Steps to the next row; false when done.
    [[nodiscard]] bool next() { return s_->step(); }

    [[nodiscard]] bool is_null(int col) const;
    [[nodiscard]] std::int64_t get_int64(int col) const;
    [[nodiscard]] std::string_view get_text(int col) const;           // valid until next()
    [[nodiscard]] std::span<const std::byte> get_blob(int col) const; // valid until next()

  private:
    sqlite_statement* s_;
};

template <class... A> sqlite_cursor sqlite_statement::query(const A&... args) {
    begin_use();
    sqlite_cursor c(*this);
    int i = 0;
    (bind(++i, sqlite_param(args)), ...);
    return c;
}

enum class sqlite_synchronous { normal, full };

struct sqlite_options {
    // NORMAL under WAL survives a killed process; FULL also survives power loss.
    sqlite_synchronous synchronous = sqlite_synchronous::normal;
    std::chrono::milliseconds busy_timeout{5000};
    // A server keeps one handle per loaded room, most of them small and idle:
    // SQLite's defaults (a page cache of up to 2 MB and 120 KB of lookaside
    // per handle) would cost more than the room's own data. Reads past the
    // cache come from the OS page cache.
    int cache_kib = 256;
    bool small_lookaside = true;
    // false: commits never checkpoint the WAL (wal_autocheckpoint=0); the
    // owner checkpoints from another handle, off its write path.
    bool auto_checkpoint = true;
};

class sqlite_db {
  public:
    // Opens (creating) the file and switches it to WAL.
    explicit sqlite_db(const std::string& path, const sqlite_options& opts = {});
    ~sqlite_db();
    sqlite_db(const sqlite_db&) = delete;
    sqlite_db& operator=(const sqlite_db&) = delete;

    // Runs one or more statements without results (DDL, scripts).
    void exec(std::string_view sql);
    // The cached statement for this SQL text; prepared on first use.
    sqlite_statement& prepare(std::string_view sql);
    [[nodiscard]] bool table_exists(std::string_view name);
    [[nodiscard]] bool in_transaction() const noexcept;
    [[nodiscard]] sqlite3* handle() const noexcept { return db_; }
    // Gives back the page cache and other memory SQLite can do without; for
    // handles that sit idle between bursts (a room between flushes).
    void release_memory() noexcept;

    // Runs `f` inside BEGIN IMMEDIATE ... COMMIT (a SAVEPOINT when nested);
    // rolls back and rethrows when `f` or the commit throws.
    template <class F> decltype(auto) transaction(F&& f) {
        const bool nested = in_transaction();
        begin(nested);
        try {
            if constexpr (std::is_void_v<decltype(f())>) {
                f();
                commit(nested);
            } else {
                decltype(auto) r = f();
                commit(nested);
                return r;
            }
        } catch (...) {
            rollback(nested);
            throw;
        }
    }

  private:
    void begin(bool nested);
    void commit(bool nested);
    void rollback(bool nested) noexcept;

    sqlite3* db_ = nullptr;
    std::unordered_map<std::string, std::unique_ptr<sqlite_statement>> statements_;
};

} // namespace tlsync::core
