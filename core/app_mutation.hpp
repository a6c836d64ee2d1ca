#pragma once
// Validation of a user's mutate message, sans-io:
//
//   {"type":"mutate","mutationId":"m1","updates":[
//     {"table":"file","event":"insert","row":{"id":"f1","name":"Plan"}},
//     {"table":"file_state","event":"update","row":{"userId":"u1","fileId":"f1","isPinned":true}},
//     {"table":"user","event":"update","row":{"id":"u1","name":"Alice"}}]}
//
// parse_mutation checks everything that needs no database: the tables and
// events a user may send, the columns of each table (a whitelist with JSON
// types, in the shape the replicator streams rows: camelCase keys, bigint as
// a number, jsonb as its text), the key columns each event needs, that the
// row names the sending user where it must (user.id, file.ownerId,
// file_state.userId), and size limits. What needs the database (does the file
// exist, who owns it, is it shared) is checked by server/app_mutations in
// the mutation's transaction.
//
// Columns a user may not write but that a client echoing a whole row sends
// anyway (user.email, createdAt on updates, file.ownerId on updates,
// file_state.isFileOwner) are type-checked and then left out of the typed
// row; ownerId and isFileOwner must still tell the truth (see below).

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tlsync::core::app {

enum class app_table { user, file, file_state };
enum class row_event { insert, update, remove };
// The reject codes of the user socket protocol.
enum class error_code { bad_request, forbidden, not_found, conflict, unavailable };

[[nodiscard]] std::string_view to_string(app_table t) noexcept;  // "user", "file", "file_state"
[[nodiscard]] std::string_view to_string(row_event e) noexcept;  // "insert", "update", "delete"
[[nodiscard]] std::string_view to_string(error_code c) noexcept; // "bad_request", ...

enum class column_type {
    text,              // JSON string
    text_or_null,      // JSON string or null
    boolean,           // JSON true/false
    integer,           // JSON integer (int64)
    integer_or_null,   // JSON integer or null
    json_text_or_null, // jsonb: its text as a JSON string (as wal2json streams it), null, or an object/array
    link_type,         // "view" or "edit"
};

struct column_spec {
    std::string_view name;     // the column, as quoted in SQL and as the JSON key
    column_type type;
    std::string_view sql_type; // for the $n::type cast: "text", "boolean", "bigint", "jsonb"
    bool key = false;          // identifies the row (required by every event)
    bool on_insert = false;    // a user may set it when inserting
    bool on_update = false;    // a user may change it
};

// Every column a row of `t` may carry in a mutation, in table order.
[[nodiscard]] std::span<const column_spec> columns_of(app_table t) noexcept;
[[nodiscard]] const column_spec* find_column(app_table t, std::string_view name) noexcept;

struct mutation_limits {
    std::size_t max_updates = 100;
    std::size_t max_id_bytes = 256;            // mutationId and key columns
    std::size_t max_value_bytes = 64 * 1024;   // any one text value
    std::size_t max_total_bytes = 1024 * 1024; // all text values together
};

struct mutation_error {
    error_code code = error_code::bad_request;
    std::string reason; // human readable, names the update ("updates[2]: ...")
};

struct row_update {
    app_table table = app_table::user;
    row_event event = row_event::update;
    // Keys, plus what the event may write: validated values, jsonb as text.
    // file insert: ownerId is always present (the user).
    boost::json::object row;
    // file_state insert: the client claimed isFileOwner = true (allowed only
    // when the user owns the file, which the database decides).
    bool claims_owner = false;
};

struct parsed_mutation {
    std::string mutation_id; // set whenever the message had a usable one, even on error
    std::vector<row_update> updates;
    std::optional<mutation_error> error;

    [[nodiscard]] bool ok() const noexcept { return !error.has_value(); }
};

// Never throws for bad input. `user_id` is who sends the mutation.
[[nodiscard]] parsed_mutation parse_mutation(const boost::json::value& message, std::string_view user_id,
                                             const mutation_limits& limits = {});

} // namespace tlsync::core::app
