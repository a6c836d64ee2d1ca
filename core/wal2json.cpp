#include "core/wal2json.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace tlsync::core::pg {
namespace json = boost::json;

std::string_view to_string(row_op op) noexcept {
    switch (op) {
    case row_op::insert: return "insert";
    case row_op::update: return "update";
    case row_op::remove: return "delete";
    }
    return "?";
}

namespace {

struct bad {
    std::string what;
};

const json::value* field(const json::object& o, std::string_view key) {
    auto it = o.find(key);
    return it == o.end() ? nullptr : &it->value();
}

std::string string_field(const json::object& o, std::string_view key) {
    auto* v = field(o, key);
    if (!v || !v->is_string()) throw bad{"missing or non-string \"" + std::string(key) + "\""};
    return std::string(v->get_string());
}

lsn lsn_field(const json::object& o, std::string_view key) {
    auto* v = field(o, key);
    if (!v) return {};
    if (!v->is_string()) throw bad{"non-string \"" + std::string(key) + "\""};
    auto l = lsn::parse(v->get_string());
    if (!l) throw bad{"malformed LSN in \"" + std::string(key) + "\": " + std::string(v->get_string())};
    return *l;
}

std::optional<std::uint64_t> xid_field(const json::object& o) {
    auto* v = field(o, "xid");
    if (!v || v->is_null()) return std::nullopt;
    if (v->is_uint64()) return v->get_uint64();
    if (v->is_int64() && v->get_int64() >= 0) return static_cast<std::uint64_t>(v->get_int64());
    throw bad{"\"xid\" is not a non-negative integer"};
}

// [{"name":..,"type":..,"value":..}, ...] -> {name: value}
json::object columns_field(const json::object& o, std::string_view key, bool required) {
    json::object out;
    auto* v = field(o, key);
    if (!v) {
        if (required) throw bad{"missing \"" + std::string(key) + "\""};
        return out;
    }
    if (!v->is_array()) throw bad{"\"" + std::string(key) + "\" is not an array"};
    out.reserve(v->get_array().size());
    for (auto& c : v->get_array()) {
        if (!c.is_object()) throw bad{"a column of \"" + std::string(key) + "\" is not an object"};
        auto& col = c.get_object();
        auto* name = field(col, "name");
        if (!name || !name->is_string()) throw bad{"a column without a string \"name\""};
        auto* value = field(col, "value");
        if (value) out.insert_or_assign(name->get_string(), *value);
        else out.insert_or_assign(name->get_string(), nullptr);
    }
    return out;
}

wal_record decode(const json::object& o) {
    auto action = string_field(o, "action");
    if (action.size() != 1) throw bad{"unknown action \"" + action + "\""};
    switch (action[0]) {
    case 'B': return begin_record{xid_field(o), lsn_field(o, "lsn"), lsn_field(o, "nextlsn")};
    case 'C': return commit_record{xid_field(o), lsn_field(o, "lsn"), lsn_field(o, "nextlsn")};
    case 'I':
    case 'U':
    case 'D': {
        row_change c;
        c.op = action[0] == 'I' ? row_op::insert : action[0] == 'U' ? row_op::update : row_op::remove;
        c.schema = string_field(o, "schema");
        c.table = string_field(o, "table");
        c.position = lsn_field(o, "lsn");
        if (c.op != row_op::insert) c.identity = columns_field(o, "identity", c.op == row_op::remove);
        if (c.op == row_op::remove) {
            c.row = c.identity;
        } else {
            c.row = columns_field(o, "columns", true);
            // An unchanged TOASTed column is left out of the new tuple; the
            // old row (REPLICA IDENTITY FULL) still has it.
            for (auto& kv : c.identity)
                if (!c.row.contains(kv.key())) c.row[kv.key()] = kv.value();
        }
        return c;
    }
    case 'M': {
        logical_message m;
        auto* t = field(o, "transactional");
        if (!t || !t->is_bool()) throw bad{"message without a boolean \"transactional\""};
        m.transactional = t->get_bool();
        m.prefix = string_field(o, "prefix");
        m.content = string_field(o, "content");
        m.position = lsn_field(o, "lsn");
        return m;
    }
    case 'T': return truncate_record{string_field(o, "schema"), string_field(o, "table"), lsn_field(o, "lsn")};
    default: throw bad{"unknown action \"" + action + "\""};
    }
}

} // namespace

wal_record decode_wal2json(std::string_view text) {
    // The parsed document is scratch: what the record keeps is copied out of
    // it into default-allocated objects. Parsing into a monotonic buffer
    // (the stack for a typical row) saves an allocation per JSON value.
    unsigned char scratch[8192];
    json::monotonic_resource mr(scratch, sizeof scratch);
    boost::system::error_code ec;
    json::value v = json::parse(text, ec, &mr);
    if (ec) return decode_error{"invalid JSON: " + ec.message()};
    if (!v.is_object()) return decode_error{"not a JSON object"};
    try {
        return decode(v.get_object());
    } catch (const bad& e) {
        return decode_error{e.what};
    }
}

void transaction_collator::reset() noexcept {
    open_.reset();
    bytes_ = 0;
}

collator_output transaction_collator::feed(lsn data_start, std::string_view payload) {
    auto record = decode_wal2json(payload);
    auto fail = [&](std::string what) -> collator_output {
        reset();
        return decode_error{std::move(what)};
    };
    if (auto* e = std::get_if<decode_error>(&record)) return fail(std::move(e->what));

    if (auto* m = std::get_if<logical_message>(&record); m && !m->transactional) {
        if (!m->position.value) m->position = data_start;
        return std::move(*m);
    }
    if (auto* b = std::get_if<begin_record>(&record)) {
        if (open_) return fail("BEGIN inside a transaction");
        open_.emplace();
        open_->xid = b->xid;
        open_->commit_lsn = b->commit_lsn;
        open_->end_lsn = b->end_lsn;
        bytes_ = 0;
        return std::monostate{};
    }
    if (!open_) return fail("a record outside BEGIN/COMMIT: " + std::string(payload.substr(0, 80)));

    bytes_ += payload.size();
    if (bytes_ > max_bytes_)
        return fail("transaction larger than " + std::to_string(max_bytes_) + " bytes of wal2json");

    return std::visit(
        [&](auto& r) -> collator_output {
            using T = std::decay_t<decltype(r)>;
            if constexpr (std::is_same_v<T, row_change>) {
                open_->changes.push_back(std::move(r));
            } else if constexpr (std::is_same_v<T, logical_message>) {
                open_->messages.push_back(std::move(r));
            } else if constexpr (std::is_same_v<T, truncate_record>) {
                open_->truncates.push_back(std::move(r));
            } else if constexpr (std::is_same_v<T, commit_record>) {
                if (r.xid && open_->xid && *r.xid != *open_->xid)
                    return fail("COMMIT of xid " + std::to_string(*r.xid) + " inside xid " +
                                std::to_string(*open_->xid));
                transaction t = std::move(*open_);
                reset();
                if (r.commit_lsn.value) t.commit_lsn = r.commit_lsn;
                // The C record's XLogData start is the commit's end; "nextlsn"
                // says the same when include-lsn is on.
                t.end_lsn = r.end_lsn.value ? r.end_lsn : data_start;
                return t;
            }
            return std::monostate{};
        },
        record);
}

} // namespace tlsync::core::pg
