#include "core/app_mutation.hpp"

#include "proto/json.hpp"

#include <boost/json/serialize.hpp>

#include <array>
#include <cmath>
#include <limits>

namespace tlsync::core::app {

namespace json = boost::json;

std::string_view to_string(app_table t) noexcept {
    switch (t) {
    case app_table::user: return "user";
    case app_table::file: return "file";
    case app_table::file_state: return "file_state";
    }
    return "?";
}

std::string_view to_string(row_event e) noexcept {
    switch (e) {
    case row_event::insert: return "insert";
    case row_event::update: return "update";
    case row_event::remove: return "delete";
    }
    return "?";
}

std::string_view to_string(error_code c) noexcept {
    switch (c) {
    case error_code::bad_request: return "bad_request";
    case error_code::forbidden: return "forbidden";
    case error_code::not_found: return "not_found";
    case error_code::conflict: return "conflict";
    case error_code::unavailable: return "unavailable";
    }
    return "?";
}

namespace {

using ct = column_type;

//                                  name              type                 sql        key    ins    upd
constexpr std::array<column_spec, 10> user_columns{{
    {"id", ct::text, "text", true, false, false},
    {"name", ct::text, "text", false, false, true},
    {"email", ct::text, "text", false, false, false}, // from the identity provider, not the client
    {"avatar", ct::text, "text", false, false, true},
    {"color", ct::text, "text", false, false, true},
    {"locale", ct::text_or_null, "text", false, false, true},
    {"flags", ct::text, "text", false, false, true},
    {"preferences", ct::json_text_or_null, "jsonb", false, false, true},
    {"createdAt", ct::integer, "bigint", false, false, false},
    {"updatedAt", ct::integer, "bigint", false, false, true},
}};

constexpr std::array<column_spec, 13> file_columns{{
    {"id", ct::text, "text", true, false, false},
    {"ownerId", ct::text, "text", false, true, false}, // must be the user; never changes
    {"name", ct::text, "text", false, true, true},
    {"thumbnail", ct::text, "text", false, true, true},
    {"shared", ct::boolean, "boolean", false, true, true},
    {"sharedLinkType", ct::link_type, "text", false, true, true},
    {"published", ct::boolean, "boolean", false, true, true},
    {"lastPublished", ct::integer, "bigint", false, true, true},
    {"publishedSlug", ct::text, "text", false, true, true},
    {"isEmpty", ct::boolean, "boolean", false, true, true},
    {"isDeleted", ct::boolean, "boolean", false, true, true},
    {"createdAt", ct::integer, "bigint", false, true, false},
    {"updatedAt", ct::integer, "bigint", false, true, true},
}};

constexpr std::array<column_spec, 8> file_state_columns{{
    {"userId", ct::text, "text", true, false, false}, // must be the user
    {"fileId", ct::text, "text", true, false, false},
    {"isFileOwner", ct::boolean, "boolean", false, false, false}, // decided by the database
    {"isPinned", ct::boolean, "boolean", false, true, true},
    {"firstVisitAt", ct::integer_or_null, "bigint", false, true, true},
    {"lastVisitAt", ct::integer_or_null, "bigint", false, true, true},
    {"lastEditAt", ct::integer_or_null, "bigint", false, true, true},
    {"lastSessionState", ct::text_or_null, "text", false, true, true},
}};

struct reject {
    error_code code;
    std::string reason;
};

std::optional<app_table> table_from(std::string_view s) {
    if (s == "user") return app_table::user;
    if (s == "file") return app_table::file;
    if (s == "file_state") return app_table::file_state;
    return std::nullopt;
}

std::optional<row_event> event_from(std::string_view s) {
    if (s == "insert") return row_event::insert;
    if (s == "update") return row_event::update;
    if (s == "delete") return row_event::remove;
    return std::nullopt;
}

std::string quoted(std::string_view s) {
    // Names in reasons are truncated so a reason stays small.
    std::string out = "\"";
    out.append(s.substr(0, 64));
    if (s.size() > 64) out += "...";
    return out + "\"";
}

std::optional<std::int64_t> as_integer(const json::value& v) {
    if (v.is_int64()) return v.get_int64();
    if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        return static_cast<std::int64_t>(v.get_uint64());
    // JavaScript clients may print integral numbers as 1e12; accept what a
    // double holds exactly.
    if (v.is_double()) {
        double d = v.get_double();
        if (std::isfinite(d) && std::trunc(d) == d && std::fabs(d) <= 9007199254740992.0)
            return static_cast<std::int64_t>(d);
    }
    return std::nullopt;
}

class validator {
public:
    validator(std::string_view user_id, const mutation_limits& limits) : user_(user_id), limits_(limits) {}

    // A value of column `c`, normalized; throws reject.
    json::value column_value(const column_spec& c, const json::value& v, const std::string& where) {
        auto bad_type = [&](const char* want) {
            return reject{error_code::bad_request,
                          where + ": column " + quoted(c.name) + " must be " + want + ", not " + kind_name(v)};
        };
        switch (c.type) {
        case ct::text_or_null:
            if (v.is_null()) return nullptr;
            [[fallthrough]];
        case ct::text:
            if (!v.is_string()) throw bad_type(c.type == ct::text ? "a string" : "a string or null");
            text(v.get_string(), c.key ? limits_.max_id_bytes : limits_.max_value_bytes, where, c.name);
            if (c.key && v.get_string().empty())
                throw reject{error_code::bad_request, where + ": column " + quoted(c.name) + " is empty"};
            return v;
        case ct::link_type:
            if (!v.is_string() || (v.get_string() != "view" && v.get_string() != "edit"))
                throw reject{error_code::bad_request, where + ": column " + quoted(c.name) + " must be \"view\" or \"edit\""};
            return v;
        case ct::boolean:
            if (!v.is_bool()) throw bad_type("a boolean");
            return v;
        case ct::integer_or_null:
            if (v.is_null()) return nullptr;
            [[fallthrough]];
        case ct::integer: {
            auto i = as_integer(v);
            if (!i) throw bad_type(c.type == ct::integer ? "an integer" : "an integer or null");
            return *i;
        }
        case ct::json_text_or_null:
            if (v.is_null()) return nullptr;
            if (v.is_string()) {
                text(v.get_string(), limits_.max_value_bytes, where, c.name);
                return v; // Postgres's jsonb cast checks the text is JSON
            }
            if (v.is_object() || v.is_array()) {
                auto s = json::serialize(v);
                text(s, limits_.max_value_bytes, where, c.name);
                return json::string(s);
            }
            throw bad_type("JSON text, an object, an array or null");
        }
        throw bad_type("?");
    }

    row_update update(const json::value& u, std::size_t index) {
        const std::string where = "updates[" + std::to_string(index) + "]";
        if (!u.is_object()) throw reject{error_code::bad_request, where + " is not an object"};
        auto& o = u.get_object();
        auto* t = o.if_contains("table");
        auto* e = o.if_contains("event");
        auto* r = o.if_contains("row");
        if (!t || !t->is_string()) throw reject{error_code::bad_request, where + ": \"table\" must be a string"};
        if (!e || !e->is_string()) throw reject{error_code::bad_request, where + ": \"event\" must be a string"};
        if (!r || !r->is_object()) throw reject{error_code::bad_request, where + ": \"row\" must be an object"};
        for (auto& kv : o)
            if (kv.key() != "table" && kv.key() != "event" && kv.key() != "row")
                throw reject{error_code::bad_request, where + ": unknown field " + quoted(kv.key())};
        auto table = table_from(t->get_string());
        if (!table) throw reject{error_code::bad_request, where + ": unknown table " + quoted(t->get_string())};
        auto event = event_from(e->get_string());
        if (!event) throw reject{error_code::bad_request, where + ": unknown event " + quoted(e->get_string())};
        const std::string what = where + " (" + std::string(to_string(*table)) + " " + std::string(to_string(*event)) + ")";
        if (*table == app_table::user && *event != row_event::update)
            throw reject{error_code::forbidden, what + ": a user row can only be updated"};

        row_update out{*table, *event, {}, false};
        auto& row = r->get_object();
        for (auto& kv : row) {
            auto* c = find_column(*table, kv.key());
            if (!c) throw reject{error_code::bad_request, what + ": unknown column " + quoted(kv.key())};
            auto v = column_value(*c, kv.value(), what);
            const bool writes = c->key || (*event == row_event::insert && c->on_insert) ||
                                (*event == row_event::update && c->on_update);
            if (writes) out.row[c->name] = std::move(v);
        }
        for (auto& c : columns_of(*table))
            if (c.key && !out.row.contains(c.name))
                throw reject{error_code::bad_request, what + ": the row needs its key column " + quoted(c.name)};

        // Who the row belongs to, where the row itself says.
        auto says = [&](std::string_view col) -> std::optional<std::string_view> {
            auto* v = row.if_contains(col);
            if (!v || !v->is_string()) return std::nullopt;
            return std::string_view(v->get_string());
        };
        switch (*table) {
        case app_table::user:
            if (*says("id") != user_)
                throw reject{error_code::forbidden, what + ": a user may only update their own user row"};
            break;
        case app_table::file:
            if (auto owner = says("ownerId"); owner && *owner != user_)
                throw reject{error_code::forbidden, what + ": ownerId must be the user (files are not transferred)"};
            if (*event == row_event::insert) out.row["ownerId"] = user_;
            break;
        case app_table::file_state:
            if (*says("userId") != user_)
                throw reject{error_code::forbidden, what + ": a user may only change their own file states"};
            if (auto* v = row.if_contains("isFileOwner"); v && v->is_bool() && v->get_bool() && *event == row_event::insert)
                out.claims_owner = true;
            break;
        }
        return out;
    }

private:
    void text(std::string_view s, std::size_t max, const std::string& where, std::string_view column) {
        if (s.size() > max)
            throw reject{error_code::bad_request, where + ": column " + quoted(column) + " is longer than " +
                                                      std::to_string(max) + " bytes"};
        total_ += s.size();
        if (total_ > limits_.max_total_bytes)
            throw reject{error_code::bad_request,
                         "the mutation's values exceed " + std::to_string(limits_.max_total_bytes) + " bytes"};
    }

    std::string user_;
    const mutation_limits& limits_;
    std::size_t total_ = 0;
};

} // namespace

std::span<const column_spec> columns_of(app_table t) noexcept {
    switch (t) {
    case app_table::user: return user_columns;
    case app_table::file: return file_columns;
    case app_table::file_state: return file_state_columns;
    }
    return {};
}

const column_spec* find_column(app_table t, std::string_view name) noexcept {
    for (auto& c : columns_of(t))
        if (c.name == name) return &c;
    return nullptr;
}

parsed_mutation parse_mutation(const json::value& message, std::string_view user_id, const mutation_limits& limits) {
    parsed_mutation out;
    auto fail = [&](error_code code, std::string reason) {
        out.updates.clear();
        out.error = mutation_error{code, std::move(reason)};
        return std::move(out);
    };
    if (!message.is_object()) return fail(error_code::bad_request, "the message is not an object");
    auto& m = message.get_object();
    auto* id = m.if_contains("mutationId");
    if (!id || !id->is_string() || id->get_string().empty())
        return fail(error_code::bad_request, "\"mutationId\" must be a non-empty string");
    if (id->get_string().size() > limits.max_id_bytes)
        return fail(error_code::bad_request, "\"mutationId\" is longer than " + std::to_string(limits.max_id_bytes) + " bytes");
    out.mutation_id = id->get_string();
    if (auto* t = m.if_contains("type"); !t || !t->is_string() || t->get_string() != "mutate")
        return fail(error_code::bad_request, "\"type\" must be \"mutate\"");
    if (user_id.empty()) return fail(error_code::forbidden, "no user");
    auto* updates = m.if_contains("updates");
    if (!updates || !updates->is_array()) return fail(error_code::bad_request, "\"updates\" must be an array");
    auto& list = updates->get_array();
    if (list.size() > limits.max_updates)
        return fail(error_code::bad_request, "a mutation may carry at most " + std::to_string(limits.max_updates) +
                                                 " updates, this one has " + std::to_string(list.size()));
    validator v(user_id, limits);
    try {
        out.updates.reserve(list.size());
        for (std::size_t i = 0; i < list.size(); ++i) out.updates.push_back(v.update(list[i], i));
    } catch (reject& r) {
        return fail(r.code, std::move(r.reason));
    }
    return out;
}

} // namespace tlsync::core::app
