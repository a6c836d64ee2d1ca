#include "core/replication_files.hpp"

namespace tlsync::core::pg {

namespace {

const boost::json::value* field(const boost::json::object& row, std::string_view key) {
    auto it = row.find(key);
    return it == row.end() ? nullptr : &it->value();
}

bool is_true(const boost::json::object& row, std::string_view key) {
    const auto* v = field(row, key);
    return v && v->is_bool() && v->get_bool();
}

bool is_false(const boost::json::object& row, std::string_view key) {
    const auto* v = field(row, key);
    return v && v->is_bool() && !v->get_bool();
}

std::string text(const boost::json::object& row, std::string_view key) {
    const auto* v = field(row, key);
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

} // namespace

std::vector<file_event> file_events(const transaction& t) {
    std::vector<file_event> out;
    for (const auto& tr : t.truncates)
        if (tr.schema == "public" && tr.table == "file") out.push_back(file_event{file_event::truncated, {}, false, {}});
    for (const auto& ch : t.changes) {
        if (ch.schema != "public" || ch.table != "file") continue;
        auto id = text(ch.row, "id");
        if (id.empty()) continue;
        file_event e;
        e.file_id = std::move(id);
        if (ch.op == row_op::remove || is_true(ch.row, "isDeleted")) {
            e.what = file_event::deleted;
        } else {
            e.what = file_event::live;
            e.readonly = is_false(ch.row, "shared") || text(ch.row, "sharedLinkType") == "view";
            e.name = text(ch.row, "name");
        }
        out.push_back(std::move(e));
    }
    return out;
}

} // namespace tlsync::core::pg
