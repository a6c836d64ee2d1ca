#include "core/user_protocol.hpp"

#include "proto/codec.hpp"

#include <boost/json/array.hpp>

namespace tlsync::core::user {

namespace {

std::shared_ptr<const std::string> share(std::string s) {
    return std::make_shared<const std::string>(std::move(s));
}

std::string encode(const json::object& o) {
    std::string out;
    proto::append_json(out, o);
    return out;
}

} // namespace

client_message decode_client(std::string_view text, std::size_t max_bytes) {
    proto::decode_limits limits;
    limits.max_message_bytes = max_bytes;
    auto parsed = proto::parse_json(text, limits);
    if (!parsed) return protocol_error{"invalid message: " + parsed.error().detail};
    auto& v = parsed.value();
    if (!v.is_object()) return protocol_error{"invalid message: not a JSON object"};
    const auto& o = v.get_object();
    const auto* type = o.if_contains("type");
    if (!type || !type->is_string()) return protocol_error{"invalid message: missing type"};
    if (type->get_string() == "ping") return ping{};
    if (type->get_string() == "mutate") {
        const auto* id = o.if_contains("mutationId");
        if (!id || !id->is_string() || id->get_string().empty())
            return protocol_error{"invalid mutate: missing mutationId"};
        std::string mid(id->get_string());
        return mutate{std::move(mid), std::move(v)};
    }
    // Bounded echo: the type is untrusted input.
    return protocol_error{"unknown message type: " + std::string(type->get_string()).substr(0, 64)};
}

std::string encode_pong() { return R"({"type":"pong"})"; }

std::string encode_hello(std::string_view sequence_id, std::int64_t sequence_number, pg::lsn at) {
    return encode({{"type", "hello"},
                   {"sequenceId", sequence_id},
                   {"sequenceNumber", sequence_number},
                   {"lsn", at.to_string()},
                   {"resumed", true}});
}

std::string encode_reload(std::string_view reason) { return encode({{"type", "reload"}, {"reason", reason}}); }

std::string encode_initial_data(pg::lsn at, std::string_view sequence_id, std::int64_t sequence_number,
                                const json::object& data) {
    return encode({{"type", "initial_data"},
                   {"lsn", at.to_string()},
                   {"sequenceId", sequence_id},
                   {"sequenceNumber", sequence_number},
                   {"data", data}});
}

// Written straight from the delivery: building an object first copied every
// row of the delivery twice.
std::string encode_changes(const pg::user_delivery& d) {
    std::string out;
    out.reserve(d.changes_json.size() + d.sequence_id.size() + 96);
    out += R"({"type":"changes","changes":)";
    out += d.changes_json;
    out += R"(,"lsn":")";
    out += d.at.to_string();
    out += R"(","sequenceId":)";
    proto::append_json_string(out, d.sequence_id);
    out += R"(,"sequenceNumber":)";
    out += std::to_string(d.sequence_number);
    out += '}';
    return out;
}

std::string encode_commit(const std::vector<std::string>& mutation_ids) {
    json::array ids;
    for (const auto& id : mutation_ids) ids.emplace_back(id);
    return encode({{"type", "commit"}, {"mutationIds", std::move(ids)}});
}

std::string encode_reject(std::string_view mutation_id, std::string_view error_code, std::string_view reason) {
    return encode({{"type", "reject"}, {"mutationId", mutation_id}, {"errorCode", error_code}, {"reason", reason}});
}

std::optional<std::int64_t> max_mutation_commit(const json::array& changes) {
    std::optional<std::int64_t> best;
    for (const auto& c : changes) {
        if (!c.is_object()) continue;
        const auto& o = c.get_object();
        const auto* t = o.if_contains("type");
        if (!t || !t->is_string() || t->get_string() != "mutation_commit") continue;
        const auto* n = o.if_contains("mutationNumber");
        if (!n) continue;
        std::optional<std::int64_t> v;
        // wal2json renders bigint as a number; be lenient with text too.
        if (n->is_int64()) v = n->get_int64();
        else if (n->is_uint64()) v = static_cast<std::int64_t>(n->get_uint64());
        else if (n->is_double()) v = static_cast<std::int64_t>(n->get_double());
        else if (n->is_string()) {
            try {
                v = std::stoll(std::string(n->get_string()));
            } catch (...) {
            }
        }
        if (v && (!best || *v > *best)) best = v;
    }
    return best;
}

void user_stream::reset(std::string sequence_id, std::int64_t number) {
    sequence_id_ = std::move(sequence_id);
    last_ = number;
    // Pending mutations survive a re-registration: their commit still comes
    // through the stream (or was already folded into a fresh snapshot).
}

void user_stream::clear() {
    sequence_id_.clear();
    last_ = 0;
}

delivery_verdict user_stream::on_delivery(const pg::user_delivery& d) {
    delivery_verdict v;
    if (sequence_id_.empty() || d.sequence_id != sequence_id_ || d.sequence_number <= last_) return v;
    if (d.sequence_number != last_ + 1) {
        v.what = delivery_verdict::gap;
        return v;
    }
    last_ = d.sequence_number;
    if (d.at > last_lsn_) last_lsn_ = d.at;
    v.what = delivery_verdict::send;
    v.frames.push_back(share(encode_changes(d)));
    if (auto n = d.mutation_number) {
        committed_number_ = std::max(committed_number_, *n);
        std::vector<std::string> ids;
        auto end = pending_.upper_bound(committed_number_);
        for (auto it = pending_.begin(); it != end; ++it) ids.push_back(std::move(it->second));
        pending_.erase(pending_.begin(), end);
        if (!ids.empty()) v.frames.push_back(share(encode_commit(ids)));
    }
    return v;
}

std::shared_ptr<const std::string> user_stream::on_mutation_applied(std::string mutation_id, std::int64_t number) {
    if (number <= committed_number_) return share(encode_commit({std::move(mutation_id)}));
    pending_.emplace(number, std::move(mutation_id));
    return nullptr;
}

} // namespace tlsync::core::user
