#pragma once
// The replicator's local state, in one SQLite file: the last recorded LSN and
// the slot it came from, a bounded history of routed row changes for users
// that reconnect, the active users with their per-user sequence numbers, and
// which guest files each active user follows. Append-only migrations.
//
// Routing (which user sees which change), as the app defines it:
//   user                  -> the user (row.id)
//   file                  -> its owner and every active user following it as a guest
//   file_state            -> row.userId; an active guest's insert/delete
//                            follows/unfollows the file
//   user_mutation_number  -> row.userId, as a mutation_commit (deletes ignored)
// A user gets one `changes` delivery per transaction that touched them, with
// a sequence number that is contiguous per (user, sequence id).
//
// Not thread-safe; the server uses it from one thread at a time (its
// blocking pool). No clock: times are arguments (milliseconds since epoch).
//
// Cost: record() does one history INSERT per routed change and, per batch,
// one UPDATE per user whose sequence moved plus the meta row; who is active
// and who follows which file are answered from memory.

#include "core/replication_protocol.hpp"
#include "core/sqlite_db.hpp"
#include "core/wal2json.hpp"

#include <boost/json/array.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace tlsync::core::pg {

struct history_config {
    std::size_t max_rows = 20'000;
    std::chrono::milliseconds max_age{std::chrono::hours(24)};
};

struct history_meta {
    std::string slot_name;
    std::string system_id; // IDENTIFY_SYSTEM's systemid: another cluster means a new epoch
    lsn recorded;          // everything up to here is recorded (a commit end LSN)
    lsn floor;             // history is complete for LSNs above this
    std::string epoch;     // prefix of every sequence id; changes when continuity breaks
};

// One `changes` event for one user.
struct user_delivery {
    std::string user_id;
    lsn at; // the end LSN of the transaction it comes from
    // The row_update / mutation_commit events as a JSON array, "[]" for an
    // LSN update. Text, written once from the change's serialized row: a
    // JSON object per event and target, serialized again per socket, was
    // most of what fanning out a transaction cost.
    std::string changes_json = "[]";
    // The highest mutationNumber among its mutation_commit events.
    std::optional<std::int64_t> mutation_number;
    std::string sequence_id;
    std::int64_t sequence_number = 0;

    [[nodiscard]] bool empty() const noexcept { return changes_json == "[]"; }
    // The events parsed (tests and tools).
    [[nodiscard]] boost::json::array changes() const;
};

// One user's events of one transaction while they are written: the
// `changes` array without its closing bracket.
struct user_events {
    std::string json = "[";
    std::optional<std::int64_t> mutation_number;
};

struct registration {
    bool reload = false; // history does not reach back to the user's LSN
    std::string sequence_id;
    std::vector<user_delivery> replay; // sequence numbers 1..n, then live ones continue
};

struct history_diagnostics {
    history_meta meta;
    std::int64_t history_rows = 0;
    std::optional<lsn> earliest;
    std::optional<lsn> latest;
    std::int64_t active_users = 0;
    std::int64_t subscriptions = 0;
};

class replication_history {
public:
    explicit replication_history(const std::string& path, const sqlite_options& opts = {},
                                 history_config cfg = {});
    ~replication_history();

    [[nodiscard]] history_meta meta();

    // The replicator is about to stream from `slot` whose confirmed position
    // is `confirmed`. Continuity holds when the slot and cluster are the ones
    // recorded and nothing between our LSN and the slot's was skipped;
    // otherwise a new epoch starts (history and users cleared, recorded =
    // floor = confirmed) and true is returned: every user must reload.
    bool begin_slot(std::string_view slot, std::string_view system_id, lsn confirmed, std::string_view new_epoch);

    // Records committed transactions (in order, one SQLite transaction) and
    // returns the deliveries for active users in order. Afterwards meta().recorded
    // is the last transaction's end LSN: safe to acknowledge.
    std::vector<user_delivery> record(std::span<const transaction> txs, std::int64_t now_ms);

    // The stream was idle up to `to` (nothing open, everything recorded):
    // recorded = to, so that acknowledging `to` keeps continuity.
    void advance(lsn to);

    // A user (re)connects having seen everything up to `seen`. Replaces any
    // previous registration of the user.
    registration register_user(std::string_view user_id, lsn seen, std::span<const std::string> guest_file_ids,
                               std::string_view boot_id, std::int64_t now_ms);
    void unregister_user(std::string_view user_id);
    // Unregisters only the registration made with `boot_id`: a late
    // unregister of an earlier connection must not undo a newer one.
    // Returns whether it did.
    bool unregister_user_if(std::string_view user_id, std::string_view boot_id);
    [[nodiscard]] bool is_active(std::string_view user_id);
    // requestLsnUpdate: an empty delivery at the recorded LSN, or nullopt when
    // the user is not active.
    std::optional<user_delivery> lsn_update(std::string_view user_id, std::int64_t now_ms);

    // Drops history beyond max_rows or older than max_age (raising the floor),
    // and unregisters users without a delivery or registration for `user_idle`.
    // Returns the users dropped.
    std::vector<std::string> prune(std::int64_t now_ms, std::chrono::milliseconds user_idle);

    [[nodiscard]] history_diagnostics diagnostics();

private:
    // The routing state record() consults for every change, kept in memory
    // and written through: the tables are the durable copy, read once at
    // open and again after a failed transaction (which rolled them back).
    struct active_user {
        std::int64_t sequence_number = 0;
        std::string suffix;
        std::int64_t last_updated_at = 0;
    };
    template <class F> decltype(auto) guarded(F&& f);
    void migrate();
    void load_state();
    void set_meta(const history_meta& m);
    void follow(const std::string& user, std::string_view file);
    void unfollow(std::string_view user, std::string_view file);
    void unfollow_file(std::string_view file);
    void drop_user(std::string_view user);
    // Keeps the history within max_rows as it grows (one range delete);
    // the periodic prune() handles age.
    void trim_history();
    // Deletes the history through `id` (a prefix of the ids), whose last row
    // is at `last_forgotten`: the floor rises to it.
    void forget_through(std::int64_t id, lsn last_forgotten);
    // Writes the sequence numbers next_delivery moved (one UPDATE per user).
    void write_touched();
    std::optional<user_delivery> next_delivery(const std::string& user, lsn at, user_events events,
                                               std::int64_t now_ms);

    std::unique_ptr<sqlite_db> db_;
    history_config cfg_;
    history_meta meta_;
    std::unordered_map<std::string, active_user> users_;
    std::unordered_map<std::string, std::unordered_set<std::string>> followers_;  // file -> guests
    std::unordered_map<std::string, std::unordered_set<std::string>> following_;  // guest -> files
    std::unordered_set<std::string> touched_; // users whose sequence number moved in this record()
    // Which history rows concern whom, for replay: ids in ascending order
    // per user (its own rows) and per file (the rows of the file). In
    // memory rather than as SQLite indexes, which dirtied a random page of
    // each index per row and multiplied the WAL written per commit.
    struct history_ref {
        std::int64_t id;
        lsn at;
    };
    std::unordered_map<std::string, std::deque<history_ref>> by_user_, by_file_;
    void index_row(std::int64_t id, lsn at, std::string_view user, std::string_view file);
    void unindex_through(std::int64_t id); // forgets rows with ids <= id
    std::int64_t history_rows_ = 0;
    std::int64_t last_history_id_ = 0;
};

// The event a user receives for a row change, or nullopt when the change
// means nothing to that user (a deleted user_mutation_number row).
[[nodiscard]] std::optional<boost::json::object> user_event(std::string_view table, row_op op,
                                                            const boost::json::object& row,
                                                            std::string_view user_id);

// A change as the history stores it: {"table":T,"event":E,"row":{...}}.
void append_stored_change(std::string& out, std::string_view table, row_op op, const boost::json::object& row);

// Appends user_event's JSON text to `out`, reusing `stored` (the change's
// append_stored_change text) for the row. Returns false, appending nothing,
// when there is no event; otherwise sets `mutation_number` for a
// mutation_commit with a numeric number.
bool append_user_event(std::string& out, std::string_view table, row_op op, const boost::json::object& row,
                       std::string_view stored, std::string_view user_id,
                       std::optional<std::int64_t>& mutation_number);

} // namespace tlsync::core::pg
