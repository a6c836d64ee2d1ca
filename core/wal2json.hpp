#pragma once
// wal2json format-version 2: one JSON object per record, in WAL order
//   {"action":"B","xid":731,"lsn":"0/1521B58","nextlsn":"0/1521B88"}
//   {"action":"I","xid":731,"lsn":"0/1521A48","schema":"public","table":"user",
//    "columns":[{"name":"id","type":"text","value":"u1"}, ...]}
//   {"action":"U", ... "columns":[...], "identity":[...]}      (identity: old key, or old row with FULL)
//   {"action":"D", ... "identity":[...]}
//   {"action":"M","xid":735,"lsn":"0/15224E0","transactional":true,"prefix":"p","content":"c"}
//   {"action":"T", ... truncate}
//   {"action":"C","xid":731,"lsn":"0/1521B58","nextlsn":"0/1521B88"}
// "lsn"/"nextlsn" come with include-lsn, "xid" with include-xids; "type" with
// include-types (the default). decode_wal2json turns one line into a typed
// record; transaction_collator groups the records between B and C into one
// transaction whose end LSN is what may be acknowledged once it is recorded.
// Sans-io, no clock.

#include "core/replication_protocol.hpp"

#include <boost/json/object.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace tlsync::core::pg {

enum class row_op { insert, update, remove };
[[nodiscard]] std::string_view to_string(row_op op) noexcept; // "insert", "update", "delete"

struct row_change {
    row_op op = row_op::insert;
    std::string schema;
    std::string table;
    // insert/update: the new row (for an update, columns wal2json left out
    // because their TOASTed value did not change are taken from `identity`
    // when it has them); delete: the old key (or old row), same as identity.
    boost::json::object row;
    // update/delete: the old key columns, or the whole old row with REPLICA
    // IDENTITY FULL. Empty for inserts, and for updates that kept the key
    // under REPLICA IDENTITY DEFAULT.
    boost::json::object identity;
    lsn position; // the change's own WAL position (zero without include-lsn)
};

struct logical_message {
    bool transactional = false;
    std::string prefix;
    std::string content;
    lsn position;
};

struct begin_record {
    std::optional<std::uint64_t> xid;
    lsn commit_lsn; // start of the commit record (zero without include-lsn)
    lsn end_lsn;    // end of the commit record: "nextlsn"
};

struct commit_record {
    std::optional<std::uint64_t> xid;
    lsn commit_lsn;
    lsn end_lsn;
};

struct truncate_record {
    std::string schema;
    std::string table;
    lsn position;
};

struct decode_error {
    std::string what;
};

using wal_record = std::variant<begin_record, row_change, commit_record, logical_message,
                                truncate_record, decode_error>;

// Decodes one wal2json v2 object. Never throws for bad input.
[[nodiscard]] wal_record decode_wal2json(std::string_view json);

// One committed transaction.
struct transaction {
    std::optional<std::uint64_t> xid;
    lsn commit_lsn; // start of the commit record (zero without include-lsn)
    lsn end_lsn;    // acknowledge this, and only after the transaction is recorded
    std::vector<row_change> changes;          // in WAL order
    std::vector<logical_message> messages;    // transactional messages, in order
    std::vector<truncate_record> truncates;
};

using collator_output = std::variant<std::monostate, transaction, logical_message, decode_error>;

// Groups records between B and C. feed() returns a completed transaction on
// C, a non-transactional logical message at once, nothing for the records
// in between, or an error (a record outside a transaction, a nested B, a C
// for another xid, a transaction over max_transaction_bytes of JSON). After
// an error the collator has dropped what it held; the caller is expected to
// reconnect, which redelivers the transaction from its start.
class transaction_collator {
public:
    explicit transaction_collator(std::size_t max_transaction_bytes = 256u << 20)
        : max_bytes_(max_transaction_bytes) {}

    // `data_start` is the XLogData start of the payload: for the C record it
    // equals the commit's end LSN, used when the payload has no "nextlsn".
    [[nodiscard]] collator_output feed(lsn data_start, std::string_view payload);

    [[nodiscard]] bool in_transaction() const noexcept { return open_.has_value(); }
    // Forgets a half-received transaction (the connection was lost).
    void reset() noexcept;

private:
    std::size_t max_bytes_;
    std::size_t bytes_ = 0;
    std::optional<transaction> open_;
};

} // namespace tlsync::core::pg
