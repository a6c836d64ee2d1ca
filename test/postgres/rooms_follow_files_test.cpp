// Rooms follow files (--postgres): deleting a file row (or soft-deleting it)
// closes its room's sessions with 4099 NOT_FOUND, removes the room's SQLite
// file and refuses new sessions until the file is back; a view-only file
// makes new sessions readonly.

#include "user_test_server.hpp"

#include <boost/json/parse.hpp>

#include <map>

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
    temp_data_dir dir; // shared by both servers: the second is a restart
    auto use_dir = [&](server::config& c) { c.data_dir = dir.path.string(); };
    const auto marker = dir.path / "rooms" / "f1.readonly";
    auto readonly_of = [](user_test_server& srv, std::size_t sessions) {
        std::map<std::string, bool> out;
        json::object info;
        if (!eventually([&] {
                info = room_info(srv, "f1");
                return info.contains("sessions") && info.at("sessions").as_array().size() == sessions;
            }, 10s))
            return out;
        for (auto& s : info.at("sessions").as_array())
            out[std::string(s.at("sessionId").as_string())] = s.at("isReadonly").as_bool();
        return out;
    };
    {
        user_test_server srv(conninfo, "t_rooms_view", use_dir);
        BOOST_REQUIRE(srv.wait_streaming());
        ws_client before;
        BOOST_REQUIRE(before.connect(srv.port(), room_target("f1", "before")));
        db.exec(R"(UPDATE file SET "sharedLinkType" = 'view', name = 'Viewed' WHERE id = 'f1')");
        BOOST_REQUIRE(eventually([&] { return std::filesystem::exists(marker); }, 10s));
        ws_client after;
        BOOST_REQUIRE(after.connect(srv.port(), room_target("f1", "after")));
        auto ro = readonly_of(srv, 2);
        BOOST_TEST(ro["before"] == false);
        BOOST_TEST(ro["after"] == true);
    }
    {
        // Restarted: the room is view-only at once, before any replication.
        user_test_server srv(conninfo, "t_rooms_view", use_dir);
        ws_client first;
        BOOST_REQUIRE(first.connect(srv.port(), room_target("f1", "first")));
        BOOST_TEST(readonly_of(srv, 1)["first"] == true);
        // Editable again: new sessions may edit, and the marker goes.
        BOOST_REQUIRE(srv.wait_streaming());
        db.exec(R"(UPDATE file SET "sharedLinkType" = 'edit' WHERE id = 'f1')");
        BOOST_REQUIRE(eventually([&] { return !std::filesystem::exists(marker); }, 10s));
        ws_client third;
        BOOST_REQUIRE(third.connect(srv.port(), room_target("f1", "third")));
        BOOST_TEST(readonly_of(srv, 2)["third"] == false);
    }
}

BOOST_AUTO_TEST_SUITE_END()
