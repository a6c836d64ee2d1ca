// The WAL decoder: CopyData parsing (core/replication_protocol) and wal2json
// v2 decoding and transaction collation (core/wal2json). The input is a
// stream of CopyData messages, each prefixed by its length (2 bytes, big
// endian), as the replicator receives them from PQgetCopyData. Checked:
// nothing crashes or throws; an XLogData payload is the bytes after the
// header; the collator holds nothing after an error, never exceeds its byte
// bound; LSN text and
// status updates survive a round trip.

#include "check.hpp"
#include "core/replication_protocol.hpp"
#include "core/wal2json.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

using namespace tlsync::core;

namespace {

void check_lsn_text(std::string_view text) {
    const auto l = pg::lsn::parse(text);
    if (!l) return;
    const std::string printed = l->to_string();
    const auto again = pg::lsn::parse(printed);
    FUZZ_CHECK(again && *again == *l, "lsn %s printed as %s does not parse back", std::string(text).c_str(),
               printed.c_str());
}

// A delete's row is its identity; an update's row has every identity column
// the new tuple left out (unchanged TOASTed values).
// Returns whether the record is a row change.
bool check_record(std::string_view payload) {
    const auto r = pg::decode_wal2json(payload);
    const auto* c = std::get_if<pg::row_change>(&r);
    if (!c) return false;
    if (c->op == pg::row_op::remove)
        FUZZ_CHECK(c->row == c->identity, "a delete's row is not its identity");
    for (const auto& kv : c->identity) FUZZ_CHECK(c->row.contains(kv.key()), "identity column missing from the row");
    return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    constexpr std::size_t max_bytes = 4096;
    pg::transaction_collator collator(max_bytes);
    std::size_t pending_changes = 0; // row changes fed since the open transaction's BEGIN

    std::size_t at = 0;
    while (at + 2 <= input.size()) {
        const std::size_t len = static_cast<unsigned char>(input[at]) << 8 | static_cast<unsigned char>(input[at + 1]);
        at += 2;
        const std::string_view bytes = input.substr(at, len);
        at += bytes.size();

        const auto msg = pg::parse_copy_data(bytes);
        if (const auto* x = std::get_if<pg::xlog_data>(&msg)) {
            FUZZ_CHECK(x->payload.data() == bytes.data() + pg::xlog_data_header_size &&
                           x->payload.size() == bytes.size() - pg::xlog_data_header_size,
                       "XLogData payload is not the bytes after the header");
            const bool is_change = check_record(x->payload);
            const bool was_open = collator.in_transaction();
            const auto out = collator.feed(x->data_start, x->payload);
            if (std::holds_alternative<pg::decode_error>(out)) {
                FUZZ_CHECK(!collator.in_transaction(), "the collator kept a transaction after an error");
            } else if (const auto* t = std::get_if<pg::transaction>(&out)) {
                FUZZ_CHECK(!collator.in_transaction(), "still in a transaction after its commit");
                FUZZ_CHECK(t->changes.size() == pending_changes, "transaction of %zu changes, %zu fed",
                           t->changes.size(), pending_changes);
            }
            if (!was_open) pending_changes = 0;
            if (was_open && is_change && collator.in_transaction()) ++pending_changes;
        } else if (std::holds_alternative<pg::primary_keepalive>(msg)) {
            FUZZ_CHECK(bytes.size() == pg::keepalive_size, "keepalive of %zu bytes", bytes.size());
        }

        if (const auto s = pg::parse_status_update(bytes)) {
            const auto encoded = pg::encode_status_update(*s);
            const auto again = pg::parse_status_update(std::string_view(encoded.data(), encoded.size()));
            FUZZ_CHECK(again && again->written == s->written && again->flushed == s->flushed &&
                           again->applied == s->applied && again->client_time == s->client_time &&
                           again->reply_requested == s->reply_requested,
                       "status update does not survive a round trip");
        }
        if (bytes.size() <= 24) check_lsn_text(bytes);
    }
    return 0;
}
