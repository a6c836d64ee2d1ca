// --schema files as tlsyncd loads them (errors name the file, the JSON path
// and the reason), and stored rooms upgrading to the served schema on real
// SQLite files: a backup of the old state first, then one transaction.

#include "server/room_store.hpp"
#include "server/schema_loading.hpp"

#include "core/schema_file.hpp"
#include "core/tldraw_schema.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace tlsync;
using namespace tlsync::server;
namespace fs = std::filesystem;

namespace {

const fs::path sticker_json = fs::path(TLSYNC_SOURCE_DIR) / "examples/schemas/sticker.json";

struct temp_dir {
    fs::path path;
    temp_dir() {
        std::string t = (fs::temp_directory_path() / "tlsync-schema-XXXXXX").string();
        path = ::mkdtemp(t.data());
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    fs::path write(const std::string& name, std::string_view text) const {
        std::ofstream(path / name) << text;
        return path / name;
    }
};

config with_files(std::vector<fs::path> files) {
    config cfg;
    for (const auto& f : files) cfg.schema_files.push_back(f.string());
    return cfg;
}

json::object sticker_v0(std::string_view id, std::string_view label) {
    auto r = json::parse(R"({"typeName": "shape", "type": "sticker", "x": 0, "y": 0, "rotation": 0,
                             "index": "a1", "parentId": "page:page", "isLocked": false, "opacity": 1,
                             "meta": {}, "props": {"w": 10, "h": 10, "emoji": "x"}})")
                 .as_object();
    r["id"] = id;
    r["props"].as_object()["label"] = label;
    return r;
}

// The served schema with the sticker sequence set to `version`.
json::object schema_at(const core::schema& s, int version) {
    json::object out = s.serialize();
    out["sequences"].as_object()["com.tldraw.shape.sticker"] = version;
    return out;
}

// Writes a room file the way an older server would have left it.
void seed_room(const config& cfg, const std::string& room, core::room_snapshot snap) {
    fs::create_directories(fs::path(cfg.data_dir) / "rooms");
    auto db = std::make_shared<core::sqlite_db>((fs::path(cfg.data_dir) / "rooms" / (room + ".sqlite")).string());
    core::sqlite_storage storage(db, {}, std::move(snap));
}

core::room_snapshot read_room(const fs::path& file) {
    auto db = std::make_shared<core::sqlite_db>(file.string());
    return core::sqlite_storage(db).get_snapshot();
}

const json::object* find(const core::room_snapshot& s, std::string_view id) {
    for (const auto& d : s.documents)
        if (const auto* v = d.state.if_contains("id"); v && v->is_string() && v->get_string() == id) return &d.state;
    return nullptr;
}

std::vector<fs::path> backups(const config& cfg) {
    std::vector<fs::path> out;
    const fs::path dir = fs::path(cfg.data_dir) / "rooms" / "backup";
    if (fs::exists(dir))
        for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path());
    return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(schema_loading)

BOOST_AUTO_TEST_CASE(no_files_serve_the_builtin_tldraw_schema) {
    auto r = load_server_schema(config{});
    BOOST_TEST(r.error.empty());
    BOOST_TEST(r.schema == core::make_tldraw_schema());
}

BOOST_AUTO_TEST_CASE(the_example_file_extends_the_schema) {
    auto r = load_server_schema(with_files({sticker_json}));
    BOOST_TEST_REQUIRE(r.error.empty(), r.error);
    BOOST_TEST(r.schema->serialize().at("sequences").at("com.tldraw.shape.sticker") == 2);
}

BOOST_AUTO_TEST_CASE(errors_name_the_file_the_path_and_the_reason) {
    temp_dir tmp;
    auto missing = tmp.path / "missing.json";
    auto r = load_server_schema(with_files({missing}));
    BOOST_TEST(!r.schema);
    BOOST_TEST(r.error.starts_with("--schema: " + missing.string() + ": "), r.error);

    r = load_server_schema(with_files({tmp.path}));
    BOOST_TEST(r.error == "--schema: " + tmp.path.string() + ": not a regular file");

    auto typo = tmp.write("typo.json", R"({"tlsyncSchema": 1, "shapes": {"s": {"props": {"w": {"kind": "nmber"}}}}})");
    r = load_server_schema(with_files({typo}));
    BOOST_TEST(r.error == "--schema: " + typo.string() + ": /shapes/s/props/w: unknown kind \"nmber\"");

    auto empty = tmp.write("empty.json", "");
    r = load_server_schema(with_files({empty}));
    BOOST_TEST(r.error.starts_with("--schema: " + empty.string() + ": invalid JSON at line 1, column 1"), r.error);

    // The second file redefines the first one's shape: the error names the second.
    auto again = tmp.write("again.json", R"({"tlsyncSchema": 1, "shapes": {"sticker": {"props": {}}}})");
    r = load_server_schema(with_files({sticker_json, again}));
    BOOST_TEST(r.error == "--schema: " + again.string() + ": /shapes/sticker: shape type \"sticker\" already exists");

    // A dependency on a migration no file defines: the file and the place in it.
    auto deps = tmp.write("deps.json", R"({"tlsyncSchema": 1, "migrations": [{"sequenceId": "x",
                                           "versions": [{"up": [], "dependsOn": ["nope/1"]}]}]})");
    r = load_server_schema(with_files({sticker_json, deps}));
    BOOST_TEST(r.error == "--schema: " + deps.string() +
                              ": /migrations/0/versions/0/dependsOn/0: depends on missing migration \"nope/1\"",
               r.error);
}

BOOST_AUTO_TEST_CASE(rc3_a_stored_room_is_backed_up_then_migrated_in_place) {
    temp_dir tmp;
    config cfg;
    cfg.data_dir = (tmp.path / "data").string();
    auto served = load_server_schema(with_files({sticker_json}));
    BOOST_TEST_REQUIRE(served.error.empty(), served.error);

    core::room_snapshot old = core::default_initial_snapshot();
    old.schema = schema_at(*served.schema, 0);
    old.documents.push_back({sticker_v0("shape:a", "first"), 3});
    old.documents.push_back({sticker_v0("shape:b", "second"), 4});
    old.document_clock = 4;
    seed_room(cfg, "room1", old);

    json::object migrated_a;
    {
        sqlite_room_store store(cfg, "room1");
        auto loaded = store.load(*served.schema);
        BOOST_TEST(loaded.schema->at("sequences").at("com.tldraw.shape.sticker") == 2);
        BOOST_REQUIRE(find(loaded, "shape:a"));
        migrated_a = *find(loaded, "shape:a");
        BOOST_TEST(migrated_a.at("props") ==
                   json::parse(R"({"w": 10, "h": 10, "emoji": "x", "caption": "first", "color": "black"})"));
        BOOST_TEST_REQUIRE(!store.backup_path().empty());
        BOOST_TEST(store.backup_path().parent_path() == fs::path(cfg.data_dir) / "rooms" / "backup");
        BOOST_TEST(store.backup_path().filename().string().starts_with("room1."));
        for (const auto& d : loaded.documents) served.schema->validate_record(d.state);
    }
    // On disk: the room file holds the migrated state, the backup the old one.
    auto now = read_room(fs::path(cfg.data_dir) / "rooms" / "room1.sqlite");
    BOOST_TEST(*find(now, "shape:a") == migrated_a);
    BOOST_TEST(find(now, "shape:b")->at("props").at("caption") == "second");
    BOOST_TEST(now.schema->at("sequences").at("com.tldraw.shape.sticker") == 2);
    auto saved = backups(cfg);
    BOOST_TEST_REQUIRE(saved.size() == 1u);
    auto before = read_room(saved[0]);
    BOOST_TEST(*before.schema == *old.schema);
    BOOST_TEST(*find(before, "shape:a") == sticker_v0("shape:a", "first"));
    BOOST_TEST(before.document_clock == 4);

    // Loading again with the same schema migrates nothing and keeps no new copy.
    {
        sqlite_room_store store(cfg, "room1");
        auto loaded = store.load(*served.schema);
        BOOST_TEST(store.backup_path().empty());
        BOOST_TEST(*find(loaded, "shape:a") == migrated_a);
    }
    BOOST_TEST(backups(cfg).size() == 1u);
}

BOOST_AUTO_TEST_CASE(rc3_only_new_sequences_need_no_backup) {
    temp_dir tmp;
    config cfg;
    cfg.data_dir = (tmp.path / "data").string();
    auto served = load_server_schema(with_files({sticker_json}));
    seed_room(cfg, "plain", core::default_initial_snapshot()); // stored by a server without --schema
    {
        sqlite_room_store store(cfg, "plain");
        auto loaded = store.load(*served.schema);
        BOOST_TEST(store.backup_path().empty());
        BOOST_TEST(*loaded.schema == served.schema->serialize());
    }
    BOOST_TEST(backups(cfg).empty());
    BOOST_TEST(*read_room(fs::path(cfg.data_dir) / "rooms" / "plain.sqlite").schema == served.schema->serialize());

    // A sequence only the stored schema knows (a shape whose file was
    // removed) is kept, and the new ones are added next to it.
    core::room_snapshot extra = core::default_initial_snapshot();
    extra.schema->at("sequences").as_object()["com.tldraw.shape.gone"] = 3;
    seed_room(cfg, "extra", extra);
    {
        sqlite_room_store store(cfg, "extra");
        (void)store.load(*served.schema);
    }
    auto stored = *read_room(fs::path(cfg.data_dir) / "rooms" / "extra.sqlite").schema;
    BOOST_TEST(stored.at("sequences").at("com.tldraw.shape.gone") == 3);
    BOOST_TEST(stored.at("sequences").at("com.tldraw.shape.sticker") == 2);
    BOOST_TEST(backups(cfg).empty());
}

BOOST_AUTO_TEST_CASE(rc3_a_room_that_cannot_migrate_is_left_untouched) {
    temp_dir tmp;
    config cfg;
    cfg.data_dir = (tmp.path / "data").string();
    auto served = load_server_schema(with_files({sticker_json}));
    core::room_snapshot old = core::default_initial_snapshot();
    old.schema = schema_at(*served.schema, 0);
    old.documents.push_back({json::parse(R"({"id": "mystery:1", "typeName": "mystery"})").as_object(), 1});
    seed_room(cfg, "odd", old);
    {
        sqlite_room_store store(cfg, "odd");
        BOOST_CHECK_THROW((void)store.load(*served.schema), std::runtime_error);
    }
    BOOST_TEST(backups(cfg).empty());
    BOOST_TEST(*read_room(fs::path(cfg.data_dir) / "rooms" / "odd.sqlite").schema == *old.schema);
}

BOOST_AUTO_TEST_SUITE_END()
