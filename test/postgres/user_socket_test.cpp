// User sockets (/app/{userId}/connect) against the test cluster, through a
// real listener and Beast websocket clients: changes reach exactly the right
// users, in order, numbered without gaps; a reconnect with an old LSN gets
// exactly what it missed; Postgres restarts lose and duplicate nothing; a
// dropped slot or too short a history makes users reload; mutations round
// trip (commit after the changes carrying them) or are rejected; a slow user
// is closed without holding up others; malformed frames close with 4099;
// /app and /replicator/diagnostics are guarded.

#include "user_test_server.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "server/metrics.hpp"

#include <map>
#include <set>

using namespace tlsync;
using namespace tlsync::test;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

void add_user(pg_client& db, const std::string& id) {
    db.exec("INSERT INTO \"user\" (id, name, \"createdAt\", \"updatedAt\") VALUES ('" + id + "', '" + id +
            "', 1, 1) ON CONFLICT DO NOTHING");
}

void add_file(pg_client& db, const std::string& id, const std::string& owner, const std::string& name = "F") {
    db.exec("INSERT INTO file (id, \"ownerId\", name, \"publishedSlug\", \"createdAt\", \"updatedAt\") VALUES ('" + id +
            "', '" + owner + "', '" + name + "', 'slug-" + id + "', 1, 1)");
}

// The ids of file rows inserted, in the order `changes` events carried them.
std::vector<std::string> file_inserts(const std::vector<json::object>& changes) {
    std::vector<std::string> out;
    for (auto& c : changes)
        for (auto& e : c.at("changes").as_array()) {
            auto& o = e.as_object();
            if (o.at("type").as_string() == "row_update" && o.at("table").as_string() == "file" &&
                o.at("event").as_string() == "insert")
                out.emplace_back(o.at("row").as_object().at("id").as_string());
        }
    return out;
}

bool contiguous_from(const std::vector<std::int64_t>& n, std::int64_t first) {
    for (std::size_t i = 0; i < n.size(); ++i)
        if (n[i] != first + static_cast<std::int64_t>(i)) return false;
    return true;
}

std::string connect_target(const std::string& user, const std::string& lsn = {}) {
    return "/app/" + user + "/connect" + (lsn.empty() ? "" : "?lsn=" + lsn);
}

} // namespace

BOOST_AUTO_TEST_SUITE(user_socket_suite, *boost::unit_test::precondition(cluster_available))

BOOST_AUTO_TEST_CASE(changes_reach_exactly_the_right_users_in_order) {
    auto conninfo = fresh_database("t_users_route");
    pg_client db(conninfo);
    add_user(db, "alice");
    add_user(db, "bob");
    add_file(db, "fa0", "alice");
    user_test_server srv(conninfo, "t_users_route");
    BOOST_REQUIRE(srv.wait_streaming());
    ws_client a, b;
    BOOST_REQUIRE(a.connect(srv.port(), connect_target("alice")));
    BOOST_REQUIRE(b.connect(srv.port(), connect_target("bob")));
    BOOST_REQUIRE(a.wait_for("initial_data", 1));
    BOOST_REQUIRE(b.wait_for("initial_data", 1));
    auto init = a.of_type("initial_data")[0];
    BOOST_TEST(init.at("data").at("user").at("id").as_string() == "alice");
    BOOST_TEST(init.at("data").at("files").as_array().size() == 1u);
    BOOST_TEST(init.at("sequenceNumber").as_int64() == 0);

    for (int i = 1; i <= 20; ++i) add_file(db, "fa" + std::to_string(i), "alice");
    db.exec("UPDATE \"user\" SET name = 'Bobby' WHERE id = 'bob'");
    BOOST_REQUIRE(a.wait_for("changes", 20));
    BOOST_REQUIRE(b.wait_for("changes", 1));
    std::this_thread::sleep_for(300ms); // nothing else may arrive
    auto ac = a.of_type("changes");
    auto bc = b.of_type("changes");
    BOOST_TEST(ac.size() == 20u);
    BOOST_TEST(bc.size() == 1u);
    std::vector<std::string> want;
    for (int i = 1; i <= 20; ++i) want.push_back("fa" + std::to_string(i));
    BOOST_TEST(file_inserts(ac) == want, boost::test_tools::per_element());
    BOOST_TEST(contiguous_from(sequence_numbers(ac), 1));
    for (auto& c : ac) BOOST_TEST(c.at("sequenceId") == init.at("sequenceId"));
    BOOST_TEST(bc[0].at("changes").at(0).at("row").at("name").as_string() == "Bobby");
    BOOST_TEST(bc[0].at("sequenceNumber").as_int64() == 1);

    // A guest follows a file once it is shared with them.
    db.exec(R"(INSERT INTO file_state ("userId", "fileId", "isFileOwner") VALUES ('bob', 'fa1', false))");
    BOOST_REQUIRE(b.wait_for("changes", 2));
    db.exec("UPDATE file SET name = 'renamed' WHERE id = 'fa1'");
    BOOST_REQUIRE(b.wait_for("changes", 3));
    BOOST_REQUIRE(a.wait_for("changes", 21));
    BOOST_TEST(b.of_type("changes")[2].at("changes").at(0).at("row").at("name").as_string() == "renamed");
    BOOST_TEST(contiguous_from(sequence_numbers(b.of_type("changes")), 1));

    // requestLsnUpdate (transactional or not) reaches only its user, as an
    // empty changes event at the recorded LSN, numbered like the others.
    db.exec("SELECT pg_logical_emit_message(true, 'requestLsnUpdate', 'bob')");
    db.exec("SELECT pg_logical_emit_message(false, 'requestLsnUpdate', 'bob')");
    BOOST_REQUIRE(b.wait_for("changes", 5));
    auto bch = b.of_type("changes");
    BOOST_TEST(bch[3].at("changes").as_array().empty());
    BOOST_TEST(bch[4].at("changes").as_array().empty());
    BOOST_TEST(contiguous_from(sequence_numbers(bch), 1));
    std::this_thread::sleep_for(200ms);
    BOOST_TEST(a.of_type("changes").size() == 21u);
}

BOOST_AUTO_TEST_CASE(a_reconnect_with_an_old_lsn_gets_exactly_what_it_missed) {
    auto conninfo = fresh_database("t_users_resume");
    pg_client db(conninfo);
    add_user(db, "alice");
    user_test_server srv(conninfo, "t_users_resume");
    BOOST_REQUIRE(srv.wait_streaming());
    std::string last_lsn;
    {
        ws_client a;
        BOOST_REQUIRE(a.connect(srv.port(), connect_target("alice")));
        BOOST_REQUIRE(a.wait_for("initial_data", 1));
        add_file(db, "f1", "alice");
        add_file(db, "f2", "alice");
        BOOST_REQUIRE(a.wait_for("changes", 2));
        last_lsn = std::string(a.of_type("changes").back().at("lsn").as_string());
        a.close();
        BOOST_REQUIRE(a.wait_closed());
    }
    add_file(db, "f3", "alice");
    add_file(db, "f4", "alice");
    db.exec("UPDATE file SET name = 'four' WHERE id = 'f4'");
    std::this_thread::sleep_for(500ms); // recorded while alice is away

    ws_client a;
    BOOST_REQUIRE(a.connect(srv.port(), connect_target("alice", last_lsn)));
    BOOST_REQUIRE(a.wait_for("changes", 3));
    std::this_thread::sleep_for(300ms);
    auto frames = a.frames();
    BOOST_REQUIRE(!frames.empty());
    BOOST_TEST(frames[0].at("type").as_string() == "hello");
    BOOST_TEST(frames[0].at("resumed").as_bool());
    auto ch = a.of_type("changes");
    BOOST_REQUIRE(ch.size() == 3u); // exactly the missed ones
    BOOST_TEST(sequence_numbers(ch) == (std::vector<std::int64_t>{1, 2, 3}), boost::test_tools::per_element());
    BOOST_TEST(file_inserts(ch) == (std::vector<std::string>{"f3", "f4"}), boost::test_tools::per_element());
    BOOST_TEST(ch[2].at("changes").at(0).at("row").at("name").as_string() == "four");
    BOOST_TEST(a.of_type("initial_data").empty());
    // Live changes continue the numbering.
    add_file(db, "f5", "alice");
    BOOST_REQUIRE(a.wait_for("changes", 4));
    BOOST_TEST(a.of_type("changes")[3].at("sequenceNumber").as_int64() == 4);
}

BOOST_AUTO_TEST_CASE(history_too_short_or_a_dropped_slot_makes_users_reload) {
    auto conninfo = fresh_database("t_users_reload");
    pg_client db(conninfo);
    add_user(db, "alice");
    user_test_server srv(conninfo, "t_users_reload");
    BOOST_REQUIRE(srv.wait_streaming());
    ws_client a;
    BOOST_REQUIRE(a.connect(srv.port(), connect_target("alice", "0/1"))); // before the slot existed
    BOOST_REQUIRE(a.wait_for("initial_data", 1));
    auto f = a.frames();
    BOOST_TEST(f[0].at("type").as_string() == "reload");
    BOOST_TEST(f[0].at("reason").as_string() == "history_too_short");
    BOOST_TEST(f[1].at("type").as_string() == "initial_data");
    auto first_sequence = f[1].at("sequenceId");

    // The slot goes (its walsender first): the replicator starts a new epoch.
    db.exec("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = 't_users_reload' "
            "AND active_pid IS NOT NULL");
    BOOST_REQUIRE(eventually([&] {
        return db.try_exec("SELECT pg_drop_replication_slot('t_users_reload')").has_value();
    }, 10s));
    BOOST_REQUIRE(a.wait_for("reload", 2, 30s));
    BOOST_TEST(a.of_type("reload")[1].at("reason").as_string() == "sequence_break");
    BOOST_REQUIRE(a.wait_for("initial_data", 2, 30s));
    auto again = a.of_type("initial_data")[1];
    BOOST_TEST(again.at("sequenceId") != first_sequence);
    add_file(db, "f1", "alice");
    BOOST_REQUIRE(eventually([&] {
        for (auto& c : a.of_type("changes"))
            if (c.at("sequenceId") == again.at("sequenceId")) return true;
        return false;
    }, 20s));
}

BOOST_AUTO_TEST_CASE(postgres_restarts_lose_and_duplicate_no_user_event) {
    auto conninfo = fresh_database("t_users_restart");
    pg_client setup(conninfo);
    add_user(setup, "alice");
    user_test_server srv(conninfo, "t_users_restart");
    BOOST_REQUIRE(srv.wait_streaming());
    ws_client a;
    BOOST_REQUIRE(a.connect(srv.port(), connect_target("alice")));
    BOOST_REQUIRE(a.wait_for("initial_data", 1));

    constexpr int n = 300;
    std::atomic<int> written{0};
    std::atomic<bool> stop{false};
    std::thread writer([&] {
        pg_client db(conninfo);
        for (int i = 1; i <= n && !stop; ++i) {
            auto sql = "INSERT INTO file (id, \"ownerId\", name, \"publishedSlug\", \"createdAt\", \"updatedAt\") "
                       "VALUES ('r" + std::to_string(i) + "', 'alice', 'x', 's" + std::to_string(i) +
                       "', 1, 1) ON CONFLICT (id) DO NOTHING";
            auto until = std::chrono::steady_clock::now() + 30s;
            while (!stop && !db.try_exec(sql) && std::chrono::steady_clock::now() < until)
                std::this_thread::sleep_for(20ms);
            written = i;
            std::this_thread::sleep_for(2ms);
        }
    });
    struct joiner {
        std::atomic<bool>& stop;
        std::thread& t;
        ~joiner() {
            stop = true;
            if (t.joinable()) t.join();
        }
    } join_writer{stop, writer};
    BOOST_REQUIRE(eventually([&] { return written >= n / 2; }, 60s));
    cluster().restart("immediate");
    writer.join();
    BOOST_REQUIRE(a.wait_for("changes", n, 60s));
    std::this_thread::sleep_for(500ms);
    auto ch = a.of_type("changes");
    auto ids = file_inserts(ch);
    BOOST_REQUIRE(ids.size() == static_cast<std::size_t>(n));
    std::set<std::string> unique(ids.begin(), ids.end());
    BOOST_TEST(unique.size() == static_cast<std::size_t>(n));
    for (int i = 1; i <= n; ++i) BOOST_TEST(ids[i - 1] == "r" + std::to_string(i));
    BOOST_TEST(contiguous_from(sequence_numbers(ch), 1));
    BOOST_TEST(a.of_type("reload").empty());
}

BOOST_AUTO_TEST_CASE(a_mutation_round_trips_and_a_foreign_one_is_rejected) {
    auto conninfo = fresh_database("t_users_mutate");
    pg_client db(conninfo);
    add_user(db, "alice");
    add_user(db, "mallory");
    add_file(db, "private", "alice");
    db.exec("UPDATE file SET shared = false WHERE id = 'private'");
    user_test_server srv(conninfo, "t_users_mutate");
    BOOST_REQUIRE(srv.wait_streaming());
    ws_client a, m;
    BOOST_REQUIRE(a.connect(srv.port(), connect_target("alice")));
    BOOST_REQUIRE(m.connect(srv.port(), connect_target("mallory")));
    BOOST_REQUIRE(a.wait_for("initial_data", 1));
    BOOST_REQUIRE(m.wait_for("initial_data", 1));

    a.send(R"({"type":"ping"})");
    BOOST_REQUIRE(a.wait_for("pong", 1));
    a.send(R"({"type":"mutate","mutationId":"m1","updates":[{"table":"file","event":"insert","row":{"id":"new1","name":"Plan","ownerId":"alice"}}]})");
    BOOST_REQUIRE(a.wait_for("commit", 1));
    auto frames = a.frames();
    // The commit comes right after the changes event that carried mutation_commit.
    std::size_t commit_at = 0;
    for (std::size_t i = 0; i < frames.size(); ++i)
        if (frames[i].at("type").as_string() == "commit") commit_at = i;
    BOOST_REQUIRE(commit_at > 0);
    BOOST_TEST(frames[commit_at].at("mutationIds").as_array() == json::array{"m1"});
    auto& before = frames[commit_at - 1];
    BOOST_REQUIRE(before.at("type").as_string() == "changes");
    bool has_commit = false, has_file = false;
    for (auto& e : before.at("changes").as_array()) {
        has_commit = has_commit || e.at("type").as_string() == "mutation_commit";
        has_file = has_file || (e.at("type").as_string() == "row_update" && e.at("table").as_string() == "file");
    }
    BOOST_TEST(has_commit);
    BOOST_TEST(has_file);
    BOOST_TEST(*db.exec("SELECT name FROM file WHERE id = 'new1'") == "Plan");

    // Mallory renames alice's private file: refused, nothing changes.
    m.send(R"({"type":"mutate","mutationId":"evil","updates":[{"table":"file","event":"update","row":{"id":"private","name":"pwned"}}]})");
    BOOST_REQUIRE(m.wait_for("reject", 1));
    auto r = m.of_type("reject")[0];
    BOOST_TEST(r.at("mutationId").as_string() == "evil");
    BOOST_TEST(r.at("errorCode").as_string() == "forbidden");
    BOOST_TEST(*db.exec("SELECT name FROM file WHERE id = 'private'") == "F");
    BOOST_TEST(m.of_type("commit").empty());
}

BOOST_AUTO_TEST_CASE(malformed_frames_close_with_4099) {
    auto conninfo = fresh_database("t_users_malformed");
    pg_client db(conninfo);
    add_user(db, "alice");
    user_test_server srv(conninfo, "t_users_malformed");
    BOOST_REQUIRE(srv.wait_streaming());
    for (const char* bad : {"not json", R"({"type":"explode"})", R"({"type":"mutate"})"}) {
        ws_client a;
        BOOST_REQUIRE(a.connect(srv.port(), connect_target("alice")));
        BOOST_REQUIRE(a.wait_for("initial_data", 1));
        a.send(bad);
        BOOST_REQUIRE(a.wait_closed());
        BOOST_TEST(a.close_code() == 4099);
        BOOST_TEST(!a.close_reason().empty());
    }
}

BOOST_AUTO_TEST_CASE(a_flooding_user_socket_is_closed_with_1008) {
    auto conninfo = fresh_database("t_users_flood");
    pg_client db(conninfo);
    add_user(db, "flood");
    add_user(db, "calm");
    user_test_server srv(conninfo, "t_users_flood", [](server::config& c) { c.max_messages_per_second = 5; });
    BOOST_REQUIRE(srv.wait_streaming());
    ws_client flood, calm;
    BOOST_REQUIRE(flood.connect(srv.port(), connect_target("flood")));
    BOOST_REQUIRE(calm.connect(srv.port(), connect_target("calm")));
    BOOST_REQUIRE(flood.wait_for("initial_data", 1));
    BOOST_REQUIRE(calm.wait_for("initial_data", 1));
    const auto limited = server::global_metrics().rejections[static_cast<std::size_t>(server::reject_reason::rate_limited)].value();
    calm.send(R"({"type":"ping"})"); // within the rate: answered
    BOOST_REQUIRE(calm.wait_for("pong", 1));
    for (int i = 0; i < 40; ++i) flood.send(R"({"type":"ping"})"); // a burst is 2 x 5
    BOOST_REQUIRE(flood.wait_closed());
    BOOST_TEST(flood.close_code() == 1008);
    BOOST_TEST(flood.close_reason().find("rate limited") != std::string::npos);
    BOOST_TEST(flood.of_type("pong").size() <= 10u); // nothing past the burst reached the actor
    BOOST_TEST(server::global_metrics().rejections[static_cast<std::size_t>(server::reject_reason::rate_limited)].value() > limited);
    // the other socket goes on
    calm.send(R"({"type":"ping"})");
    BOOST_TEST(calm.wait_for("pong", 2));
    BOOST_TEST(!calm.closed());
}

BOOST_AUTO_TEST_CASE(a_slow_user_is_closed_without_holding_up_others) {
    auto conninfo = fresh_database("t_users_slow");
    pg_client db(conninfo);
    add_user(db, "slow");
    add_user(db, "fast");
    // A small outbound bound so that a few large rows overflow it.
    user_test_server srv(conninfo, "t_users_slow", [](server::config& c) { c.max_outbound_queue_bytes = 256 * 1024; });
    BOOST_REQUIRE(srv.wait_streaming());
    ws_client slow, fast;
    BOOST_REQUIRE(slow.connect(srv.port(), connect_target("slow")));
    BOOST_REQUIRE(fast.connect(srv.port(), connect_target("fast")));
    BOOST_REQUIRE(slow.wait_for("initial_data", 1));
    BOOST_REQUIRE(fast.wait_for("initial_data", 1));
    const auto slow_closes = server::global_metrics().user_slow_closes.value();
    slow.pause_reading(true);
    const std::string big(100 * 1024, 'x');
    for (int i = 0; i < 150; ++i) {
        db.exec("UPDATE \"user\" SET name = '" + big + std::to_string(i) + "' WHERE id = 'slow'");
        db.exec("UPDATE \"user\" SET name = 'n" + std::to_string(i) + "' WHERE id = 'fast'");
    }
    BOOST_REQUIRE(fast.wait_for("changes", 150, 60s));
    BOOST_TEST(contiguous_from(sequence_numbers(fast.of_type("changes")), 1));
    // The server gave up on the slow socket (1008) while the fast one got everything.
    BOOST_TEST(eventually([&] { return server::global_metrics().user_slow_closes.value() > slow_closes; }, 30s));
    // ...and let it go: the slow user is no longer connected (unregistered).
    BOOST_TEST(eventually([&] {
        auto d = json::parse(http_get(srv.port(), "/replicator/diagnostics", "secret").second).as_object();
        return d.at("connectedUsers").as_int64() == 1 &&
               d.at("users").at(0).at("userId").as_string() == "fast";
    }, 30s));
    slow.pause_reading(false);
}

BOOST_AUTO_TEST_CASE(app_sockets_and_diagnostics_are_guarded) {
    auto conninfo = fresh_database("t_users_guard");
    {
        user_test_server srv(conninfo, "t_users_guard", [](server::config& c) { c.app_users_insecure = false; });
        auto [status, body] = http_get(srv.port(), "/app/alice/connect", {}, true);
        BOOST_TEST(status == 403);
        BOOST_TEST(body.find("access token") != std::string::npos);
        BOOST_REQUIRE(srv.wait_streaming());
        BOOST_TEST(http_get(srv.port(), "/replicator/diagnostics").first == 401);
        BOOST_TEST(http_get(srv.port(), "/replicator/diagnostics", "wrong").first == 401);
        auto [ok, diag] = http_get(srv.port(), "/replicator/diagnostics", "secret");
        BOOST_TEST(ok == 200);
        auto d = json::parse(diag).as_object();
        BOOST_TEST(d.at("replicator").at("state").as_string() == "streaming");
        BOOST_TEST(d.contains("history"));
        BOOST_TEST(d.at("connectedUsers").as_int64() == 0);
    }
    {
        user_test_server srv(conninfo, "t_users_guard2");
        BOOST_REQUIRE(srv.wait_streaming());
        pg_client db(conninfo);
        add_user(db, "alice");
        ws_client a;
        BOOST_REQUIRE(a.connect(srv.port(), connect_target("alice")));
        BOOST_REQUIRE(a.wait_for("initial_data", 1));
        auto d = json::parse(http_get(srv.port(), "/replicator/diagnostics", "secret").second).as_object();
        BOOST_TEST(d.at("connectedUsers").as_int64() == 1);
        BOOST_TEST(d.at("users").at(0).at("userId").as_string() == "alice");
        BOOST_TEST(d.at("history").at("activeUsers").as_int64() == 1);
        // Every node's slot: this one streaming, the first server's dropped
        // (by its test teardown) but still registered.
        std::map<std::string, json::object> slots;
        for (const auto& v : d.at("slots").as_array())
            slots[std::string(v.at("slot").as_string())] = v.as_object();
        BOOST_REQUIRE(slots.count("t_users_guard2"));
        const auto& mine = slots["t_users_guard2"];
        BOOST_TEST(mine.at("exists").as_bool());
        BOOST_TEST(mine.at("active").as_bool());
        BOOST_TEST(!mine.at("node").as_string().empty());
        BOOST_TEST(mine.at("seenAt").as_string().size() == 24u); // 2026-12-06T05:57:32.123Z
        BOOST_TEST(mine.at("retainedWalBytes").as_int64() >= 0);
        BOOST_REQUIRE(slots.count("t_users_guard"));
        BOOST_TEST(!slots["t_users_guard"].at("exists").as_bool());
        BOOST_TEST(slots["t_users_guard"].at("active").is_null());
    }
    {
        // Without --postgres: no replicator, /app is 404 and so is diagnostics.
        user_test_server srv("", "unused");
        BOOST_TEST(http_get(srv.port(), "/app/alice/connect", {}, true).first == 404);
        BOOST_TEST(http_get(srv.port(), "/replicator/diagnostics", "secret").first == 404);
    }
}

BOOST_AUTO_TEST_SUITE_END()
