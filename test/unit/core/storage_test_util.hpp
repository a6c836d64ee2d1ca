#pragma once
// Shared by the storage suites: record builders, temp directories, and one
// factory per implementation so the contract suite runs against both.

#include "core/memory_storage.hpp"
#include "core/sqlite_storage.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/mpl/list.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace tlsync::test {

using namespace tlsync::core;

// A record whose typeName is the id's prefix ("shape:a" -> "shape").
inline json::object rec(std::string_view id, json::object extra = {}) {
    json::object o;
    o["id"] = id;
    o["typeName"] = id.substr(0, id.find(':'));
    for (auto& [k, v] : extra)
        o[k] = v;
    return o;
}

inline json::object obj(std::string_view json_text) {
    return json::parse(json_text).as_object();
}

// A snapshot whose documents are stored texts (as sqlite_storage::get_snapshot
// with snapshot_form::texts gives them), all at `clock`.
inline room_snapshot snapshot_from_texts(const std::vector<std::pair<std::string, std::string>>& docs,
                                         std::int64_t clock) {
    room_snapshot s;
    s.document_clock = clock;
    s.schema = json::object{{"schemaVersion", 2}, {"sequences", json::object{}}};
    std::string puts;
    stored_texts t;
    for (const auto& [id, text] : docs) {
        if (!puts.empty()) puts += ',';
        const auto at = append_put(puts, id, text);
        t.documents.push_back({id, at, text.size(), clock});
    }
    t.puts = make_shared_text(std::move(puts));
    s.texts = std::move(t);
    return s;
}

// A unique directory under /tmp, removed with everything in it.
struct temp_dir {
    std::filesystem::path path;
    temp_dir() {
        std::string tmpl = "/tmp/tlsync-storage-XXXXXX";
        if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
        path = tmpl;
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    [[nodiscard]] std::string file(std::string_view name) const { return (path / name).string(); }
};

struct memory_factory {
    std::unique_ptr<sync_storage> make(std::optional<room_snapshot> s = std::nullopt) {
        return std::make_unique<memory_storage>(std::move(s));
    }
};

struct sqlite_factory {
    temp_dir dir;
    int n = 0;
    std::unique_ptr<sync_storage> make(std::optional<room_snapshot> s = std::nullopt) {
        auto db = std::make_shared<sqlite_db>(dir.file("room" + std::to_string(n++) + ".db"));
        return std::make_unique<sqlite_storage>(std::move(db), sqlite_storage_options{},
                                                std::move(s));
    }
};

using storage_factories = boost::mpl::list<memory_factory, sqlite_factory>;

inline const stored_document* find_doc(const room_snapshot& s, std::string_view id) {
    for (const auto& d : s.documents)
        if (d.state.at("id").as_string() == id) return &d;
    return nullptr;
}

// A room's observable state: documents by id, and only the tombstones a
// client could be told about (clock > history start; older ones only ever
// lead to wipe_all).
struct normalized_state {
    std::int64_t document_clock = 0;
    std::int64_t history_start = 0;
    std::map<std::string, std::pair<json::object, std::int64_t>> documents;
    std::map<std::string, std::int64_t> tombstones;
    std::optional<json::object> schema;

    explicit normalized_state(const room_snapshot& s)
        : document_clock(s.document_clock), history_start(s.tombstone_history_starts_at_clock),
          schema(s.schema) {
        for (const auto& d : s.documents)
            documents[std::string(d.state.at("id").as_string())] = {d.state, d.last_changed_clock};
        for (const auto& [id, c] : s.tombstones)
            if (c > history_start) tombstones[id] = c;
    }

    friend bool operator==(const normalized_state& a, const normalized_state& b) {
        if (a.document_clock != b.document_clock || a.history_start != b.history_start)
            return false;
        if (a.tombstones != b.tombstones || a.documents.size() != b.documents.size()) return false;
        if (a.schema.has_value() != b.schema.has_value() ||
            (a.schema && !deep_equal(*a.schema, *b.schema)))
            return false;
        for (const auto& [id, d] : a.documents) {
            const auto it = b.documents.find(id);
            if (it == b.documents.end() || it->second.second != d.second ||
                !deep_equal(it->second.first, d.first))
                return false;
        }
        return true;
    }
};

inline std::vector<std::string> sorted_ids(const forward_diff& d) {
    std::vector<std::string> out;
    for (const auto& [id, p] : d.puts)
        out.push_back(id);
    std::sort(out.begin(), out.end());
    return out;
}

inline std::vector<std::string> sorted(std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
}

} // namespace tlsync::test
