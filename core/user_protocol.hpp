#pragma once
// The user socket protocol (GET /app/{userId}/connect), sans-io: decoding of
// client frames, encoding of server events, and the per-user stream state
// that decides what a socket receives. No sockets, no clock; the server's
// user actor feeds it and sends what it returns. See docs/REPLICATOR.md.
//
// Server -> client (JSON text frames):
//   {"type":"hello","sequenceId":S,"sequenceNumber":N,"lsn":L,"resumed":true}
//   {"type":"reload","reason":"history_too_short"|"sequence_break"}
//   {"type":"initial_data","lsn":L,"sequenceId":S,"sequenceNumber":N,"data":{...}}
//   {"type":"changes","changes":[...],"lsn":L,"sequenceId":S,"sequenceNumber":N}
//   {"type":"commit","mutationIds":[...]}
//   {"type":"reject","mutationId":M,"errorCode":E,"reason":R}
//   {"type":"pong"}
// Client -> server:
//   {"type":"ping"}
//   {"type":"mutate","mutationId":M, ...}     (the rest is the mutation itself)
// After hello or initial_data, `changes` numbers continue from its
// sequenceNumber + 1 without gaps for as long as the sequence id holds.

#include "core/replication_history.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace tlsync::core::user {

namespace json = boost::json;

// ---- client -> server --------------------------------------------------------

struct ping {};
struct mutate {
    std::string mutation_id;
    json::value message; // the whole frame, for the mutation code
};
// A frame that breaks the protocol: the socket closes with 4099 and `reason`.
struct protocol_error {
    std::string reason;
};
using client_message = std::variant<ping, mutate, protocol_error>;

inline constexpr std::size_t default_max_client_frame = 256 * 1024;

[[nodiscard]] client_message decode_client(std::string_view text,
                                           std::size_t max_bytes = default_max_client_frame);

// ---- server -> client --------------------------------------------------------

[[nodiscard]] std::string encode_pong();
[[nodiscard]] std::string encode_hello(std::string_view sequence_id, std::int64_t sequence_number, pg::lsn at);
[[nodiscard]] std::string encode_reload(std::string_view reason);
[[nodiscard]] std::string encode_initial_data(pg::lsn at, std::string_view sequence_id,
                                              std::int64_t sequence_number, const json::object& data);
[[nodiscard]] std::string encode_changes(const pg::user_delivery& d);
[[nodiscard]] std::string encode_commit(const std::vector<std::string>& mutation_ids);
[[nodiscard]] std::string encode_reject(std::string_view mutation_id, std::string_view error_code,
                                        std::string_view reason);

// ---- per-user stream ---------------------------------------------------------

// What the user actor does with one delivery from the replicator.
struct delivery_verdict {
    enum kind {
        send,  // send `frames` in order (the changes event, maybe a commit after it)
        stale, // another registration's, or already seen: drop
        gap,   // a number is missing: the registration is broken, reload the user
    } what = stale;
    std::vector<std::shared_ptr<const std::string>> frames;
};

// One registration's numbering plus the mutations waiting for their commit
// to come back through the stream. The mutation_commit event can overtake
// the reply of apply_mutation (replication is fast), so the highest number
// already seen is remembered and a later reply commits at once.
class user_stream {
public:
    // A new registration (register_user): numbering restarts after `number`.
    void reset(std::string sequence_id, std::int64_t number);
    void clear(); // unregistered: every delivery is stale
    [[nodiscard]] bool active() const noexcept { return !sequence_id_.empty(); }
    [[nodiscard]] const std::string& sequence_id() const noexcept { return sequence_id_; }
    [[nodiscard]] std::int64_t last_number() const noexcept { return last_; }
    [[nodiscard]] pg::lsn last_lsn() const noexcept { return last_lsn_; }

    [[nodiscard]] delivery_verdict on_delivery(const pg::user_delivery& d);

    // apply_mutation committed `mutation_id` as the user's `number`. Returns
    // a commit frame when the stream already carried that number.
    [[nodiscard]] std::shared_ptr<const std::string> on_mutation_applied(std::string mutation_id,
                                                                         std::int64_t number);
    [[nodiscard]] std::size_t pending_mutations() const noexcept { return pending_.size(); }

private:
    std::string sequence_id_;
    std::int64_t last_ = 0;
    pg::lsn last_lsn_;
    std::int64_t committed_number_ = 0;               // highest mutation_commit seen
    std::multimap<std::int64_t, std::string> pending_; // mutation number -> id
};

// The highest mutationNumber among the mutation_commit events of `changes`.
[[nodiscard]] std::optional<std::int64_t> max_mutation_commit(const json::array& changes);

} // namespace tlsync::core::user
