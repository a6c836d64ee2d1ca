// Rooms follow files (--postgres): deleting a file row (or soft-deleting it)
// closes its room's sessions with 4099 NOT_FOUND, removes the room's SQLite
// file and refuses new sessions until the file is back; a view-only file
// makes new sessions readonly.

#include "user_test_server.hpp"

#include <boost/json/parse.hpp>

using namespace tlsync;
using namespace tlsync::test;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

void seed(pg_client& db) {
    db.exec(R"(INSERT INTO "user" (id, "createdAt", "updatedAt") VALUES ('alice', 1, 1))");
    for (const char* f : {"f1", "f2", "f3"})
        db.exec(std::string(R"(INSERT INTO file (id, "ownerId", "publishedSlug", "createdAt", "updatedAt") VALUES (')") +
                f + "', 'alice', 'slug-" + f + "', 1, 1)");
}

std::string room_target(const std::string& room, const std::string& session) {
    return "/connect/" + room + "?sessionId=" + session + "&storeId=s";
}

json::object room_info(user_test_server& srv, const std::string& room) {
    auto [status, body] = http_get(srv.port(), "/admin/rooms/" + room, "secret");
    if (status != 200) return {};
    return json::parse(body).as_object();
}

} // namespace

BOOST_AUTO_TEST_SUITE(rooms_follow_files_suite, *boost::unit_test::precondition(cluster_available))

BOOST_AUTO_TEST_CASE(a_deleted_file_closes_its_room_with_not_found_and_removes_its_storage) {
    auto conninfo = fresh_database("t_rooms_delete");
    pg_client db(conninfo);
    seed(db);
    user_test_server srv(conninfo, "t_rooms_delete");
    BOOST_REQUIRE(srv.wait_streaming());
    const auto file = srv.data_dir() / "rooms" / "f1.sqlite";

    ws_client s1, other;
    BOOST_REQUIRE(s1.connect(srv.port(), room_target("f1", "s1")));
    BOOST_REQUIRE(other.connect(srv.port(), room_target("f2", "s2")));
    BOOST_REQUIRE(eventually([&] { return std::filesystem::exists(file); }, 10s));

    db.exec("DELETE FROM file WHERE id = 'f1'");
    BOOST_REQUIRE(s1.wait_closed(20s));
    BOOST_TEST(s1.close_code() == 4099);
    BOOST_TEST(s1.close_reason() == "NOT_FOUND");
    BOOST_TEST(eventually([&] { return !std::filesystem::exists(file); }, 10s));
    BOOST_TEST(std::filesystem::exists(srv.data_dir() / "rooms" / "f1.deleted"));
    BOOST_TEST(!other.closed()); // another file's room is untouched

    // New sessions are refused while the file row is absent.
    ws_client again;
    BOOST_REQUIRE(again.connect(srv.port(), room_target("f1", "s3")));
    BOOST_REQUIRE(again.wait_closed(10s));
    BOOST_TEST(again.close_code() == 4099);
    BOOST_TEST(again.close_reason() == "NOT_FOUND");
    std::this_thread::sleep_for(300ms);
    BOOST_TEST(!std::filesystem::exists(file)); // and nothing recreated it

    // Soft delete works the same way.
    ws_client s4;
    BOOST_REQUIRE(s4.connect(srv.port(), room_target("f3", "s4")));
    db.exec(R"(UPDATE file SET "isDeleted" = true WHERE id = 'f3')");
    BOOST_REQUIRE(s4.wait_closed(20s));
    BOOST_TEST(s4.close_reason() == "NOT_FOUND");

    // The file is back: its room opens again (empty).
    db.exec(R"(INSERT INTO file (id, "ownerId", "publishedSlug", "createdAt", "updatedAt") VALUES ('f1', 'alice', 'slug-f1b', 1, 1))");
    BOOST_REQUIRE(eventually([&] { return !srv.rooms().room_deleted("f1"); }, 10s));
    ws_client back;
    BOOST_REQUIRE(back.connect(srv.port(), room_target("f1", "s5")));
    std::this_thread::sleep_for(500ms);
    BOOST_TEST(!back.closed());
}

BOOST_AUTO_TEST_CASE(a_view_only_file_makes_new_sessions_readonly) {
    auto conninfo = fresh_database("t_rooms_view");
    pg_client db(conninfo);
    seed(db);
    user_test_server srv(conninfo, "t_rooms_view");
    BOOST_REQUIRE(srv.wait_streaming());
    ws_client before;
    BOOST_REQUIRE(before.connect(srv.port(), room_target("f1", "before")));
    db.exec(R"(UPDATE file SET "sharedLinkType" = 'view', name = 'Viewed' WHERE id = 'f1')");
    std::this_thread::sleep_for(500ms);
    ws_client after;
    BOOST_REQUIRE(after.connect(srv.port(), room_target("f1", "after")));
    json::object info;
    BOOST_REQUIRE(eventually([&] {
        info = room_info(srv, "f1");
        return info.contains("sessions") && info.at("sessions").as_array().size() == 2u;
    }, 10s));
    for (auto& s : info.at("sessions").as_array()) {
        auto& o = s.as_object();
        BOOST_TEST_CONTEXT(o.at("sessionId").as_string()) {
            BOOST_TEST(o.at("isReadonly").as_bool() == (o.at("sessionId").as_string() == "after"));
        }
    }
    // Editable again: new sessions may edit.
    db.exec(R"(UPDATE file SET "sharedLinkType" = 'edit' WHERE id = 'f1')");
    std::this_thread::sleep_for(500ms);
    ws_client third;
    BOOST_REQUIRE(third.connect(srv.port(), room_target("f1", "third")));
    BOOST_REQUIRE(eventually([&] {
        info = room_info(srv, "f1");
        return info.contains("sessions") && info.at("sessions").as_array().size() == 3u;
    }, 10s));
    for (auto& s : info.at("sessions").as_array())
        if (s.at("sessionId").as_string() == "third") BOOST_TEST(!s.at("isReadonly").as_bool());
}

BOOST_AUTO_TEST_SUITE_END()
