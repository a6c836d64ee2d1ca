// One owner per room (--storage postgres; docs/SCALING.md), on the test
// cluster with two nodes sharing one database: a node is refused a room
// another holds (1013, retryable); a drained node releases its rooms, which
// the other loads at once with everything flushed; a node that dies without
// releasing is replaced once its lease has expired, and not before; a node
// whose lease was taken or expired writes nothing more and sends its sessions
// away with 1012; the write log never shows two writers of a room at once.

#include "pg_room_test_util.hpp"
#include "running_server.hpp"
#include "user_test_server.hpp"

#include "core/tldraw_schema.hpp"
#include "server/metrics.hpp"
#include "server/room_service.hpp"
#include "server/server.hpp"

#include <boost/json/serialize.hpp>

#include <future>
#include <thread>

using namespace tlsync;
using namespace tlsync::test;
using namespace std::chrono_literals;

namespace {

using steady = std::chrono::steady_clock;

double ms_since(steady::time_point t0) {
    return std::chrono::duration<double, std::milli>(steady::now() - t0).count();
}

std::string fresh_empty_database(const std::string& name) {
    pg_client admin(cluster().conninfo);
    admin.exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
    admin.exec("CREATE DATABASE " + name);
    return cluster().db(name);
}

server::config node_config(const std::string& conninfo, const std::string& node,
                           const std::string& data_dir, std::chrono::milliseconds lease) {
    auto cfg = storage_server_config(conninfo, data_dir, node);
    cfg.lease_duration = lease;
    cfg.room_unload_delay = 60s;
    return cfg;
}

// ---------------------------------------------------------------- whole servers

std::string rename_push(int clock, const std::string& name) {
    return R"({"type":"push","clientClock":)" + std::to_string(clock) +
           R"(,"diff":{"page:page":["patch",{"name":["put",")" + name + R"("]}]}})";
}

std::string page_name_in(const json::object& connect) {
    const auto* diff = connect.if_contains("diff");
    if (!diff || !diff->is_object()) return {};
    const auto* page = diff->as_object().if_contains("page:page");
    if (!page || !page->is_array() || page->as_array().size() < 2) return {};
    const auto& record = page->as_array()[1];
    if (!record.is_object() || !record.as_object().contains("name")) return {};
    return std::string(record.as_object().at("name").as_string());
}

std::string stored_page_name(pg_client& db, const std::string& room) {
    const auto state = db.exec("SELECT state FROM tlsync_room_document WHERE room_id = '" + room +
                               "' AND id = 'page:page'")
                           .value_or("");
    const auto at = state.find("\"name\":\"");
    if (at == std::string::npos) return {};
    return state.substr(at + 8, state.find('"', at + 8) - at - 8);
}

std::string lease_owner(pg_client& db, const std::string& room) {
    return db
        .exec("SELECT coalesce(owner, '(released)') FROM tlsync_room_lease WHERE room_id = '" +
              room + "'")
        .value_or("(none)");
}

// The room's writers in commit order, runs collapsed: "node-a,node-b" is one
// handover; "node-a,node-b,node-a" would be two writers interleaving.
std::string writer_runs(pg_client& db, const std::string& room) {
    const auto all =
        db.exec("SELECT string_agg(writer, ',' ORDER BY document_clock, written_at) FROM "
                "tlsync_room_write WHERE room_id = '" +
                room + "'")
            .value_or("");
    std::string out, last;
    std::size_t at = 0;
    while (at <= all.size()) {
        auto end = all.find(',', at);
        if (end == std::string::npos) end = all.size();
        const auto w = all.substr(at, end - at);
        if (w != last) {
            if (!out.empty()) out += ',';
            out += w;
            last = w;
        }
        at = end + 1;
    }
    return out;
}

// Each clock is written once: no two writers committed the same state.
bool clocks_written_once(pg_client& db, const std::string& room) {
    return db.exec("SELECT count(*) FROM (SELECT document_clock FROM tlsync_room_write WHERE "
                   "room_id = '" +
                   room + "' AND document_clock > 0 GROUP BY document_clock HAVING count(*) > 1) d")
               .value_or("") == "0";
}

// ---------------------------------------------------------------- room services

// A node as its room service alone, on its own threads; kill() stops it the
// way kill -9 would: no flush, no release, no more renewals.
struct service_node {
    // The rooms hold the config by reference, and their work goes on on both
    // pools until they are joined: the config is destroyed after the threads.
    server::config cfg;
    io_threads threads{2};
    std::shared_ptr<server::room_service> rooms;

    service_node(const std::string& conninfo, const std::string& node, const std::string& data_dir,
                 std::chrono::milliseconds lease)
        : cfg(node_config(conninfo, node, data_dir, lease)) {
        rooms =
            server::make_room_service(threads.io.get_executor(), threads.blocking.get_executor(),
                                      cfg, core::make_tldraw_schema());
    }
    void kill() { threads.stop_io(); }
};

// Records how a room closed it.
struct recording_sink final : server::session_sink {
    std::mutex m;
    std::optional<std::uint16_t> code;
    std::string reason;
    std::atomic<bool> closed{false};
    void deliver(core::outbound_message) override {}
    void close(std::optional<std::uint16_t> c, std::string r) override {
        std::lock_guard l(m);
        if (closed) return;
        code = c.value_or(1000);
        reason = std::move(r);
        closed = true;
    }
};

// The page's name as the loaded room has it, or nullopt when the room could
// not be loaded here (refused, failed).
std::optional<std::string> loaded_page_name(server::room_service& rooms, const std::string& room) {
    auto actor = rooms.acquire(room);
    if (!actor) return std::nullopt;
    auto p = std::make_shared<std::promise<std::optional<std::string>>>();
    auto f = p->get_future();
    actor->visit([p](core::room* r) {
        if (!r) {
            p->set_value(std::nullopt);
            return;
        }
        std::optional<std::string> name;
        r->update_store([&](core::store_update& u) {
            if (auto page = u.get("page:page")) name = std::string(page->at("name").as_string());
        });
        p->set_value(name);
    });
    if (f.wait_for(10s) != std::future_status::ready) return std::nullopt;
    return f.get();
}

// Renames the page in a loaded room (a server-side edit, flushed like any).
bool rename_page(server::room_service& rooms, const std::string& room, const std::string& name) {
    auto actor = rooms.acquire(room);
    if (!actor) return false;
    auto p = std::make_shared<std::promise<bool>>();
    auto f = p->get_future();
    actor->visit([p, name](core::room* r) {
        if (!r) {
            p->set_value(false);
            return;
        }
        r->update_store([&](core::store_update& u) {
            auto page = *u.get("page:page");
            page["name"] = name;
            u.put(page);
        });
        p->set_value(true);
    });
    return f.wait_for(10s) == std::future_status::ready && f.get();
}

} // namespace

BOOST_AUTO_TEST_SUITE(pg_room_lease_suite, *boost::unit_test::precondition(cluster_available))

BOOST_AUTO_TEST_CASE(a_second_node_is_refused_then_takes_the_room_at_once_when_the_first_drains) {
    const auto conninfo = fresh_empty_database("t_lease_handover");
    temp_data_dir dir_a, dir_b;
    running_server a(node_config(conninfo, "node-a", dir_a.path.string(), 3s));
    BOOST_TEST_REQUIRE(a.error.empty(), a.error);
    running_server b(node_config(conninfo, "node-b", dir_b.path.string(), 3s));
    BOOST_TEST_REQUIRE(b.error.empty(), b.error);
    pg_client db(conninfo);

    ws_client on_a;
    BOOST_REQUIRE(on_a.connect(a.srv.port(), "/connect/board?sessionId=s1&storeId=st1"));
    on_a.send(connect_message());
    BOOST_REQUIRE(on_a.wait_for("connect", 1));
    on_a.send(rename_push(1, "Edited on A"));
    BOOST_REQUIRE(on_a.wait_for("data", 1));
    BOOST_TEST(lease_owner(db, "board") == "node-a");

    // Node B must not serve it: 1013 (try again later).
    ws_client on_b;
    BOOST_REQUIRE(on_b.connect(b.srv.port(), "/connect/board?sessionId=s2&storeId=st2"));
    on_b.send(connect_message());
    BOOST_TEST_REQUIRE(on_b.wait_closed(10s));
    BOOST_TEST(on_b.close_code() == 1013);
    BOOST_TEST(on_b.close_reason() == "room is served by another server; retry");
    BOOST_TEST(on_b.of_type("connect").empty());
    BOOST_TEST(lease_owner(db, "board") == "node-a");

    // Drain A: it flushes, releases the lease, then closes with 1012.
    const auto t0 = steady::now();
    a.stop();
    BOOST_TEST_MESSAGE("node A drained in " << ms_since(t0) << " ms");
    BOOST_TEST_REQUIRE(on_a.wait_closed(5s));
    BOOST_TEST(on_a.close_code() == 1012);
    BOOST_TEST(lease_owner(db, "board") == "(released)");
    BOOST_TEST(stored_page_name(db, "board") == "Edited on A");

    // At once on B (no waiting for the lease to expire), with the edit.
    const auto t1 = steady::now();
    ws_client again;
    BOOST_REQUIRE(again.connect(b.srv.port(), "/connect/board?sessionId=s1&storeId=st1"));
    again.send(connect_message());
    BOOST_REQUIRE(again.wait_for("connect", 1, 5s));
    const auto took = ms_since(t1);
    BOOST_TEST_MESSAGE("node B served the drained room after " << took << " ms");
    BOOST_TEST(took < 1500.0); // well under the 3 s lease
    BOOST_TEST(page_name_in(again.of_type("connect")[0]) == "Edited on A");
    BOOST_TEST(lease_owner(db, "board") == "node-b");

    again.send(rename_push(1, "Edited on B"));
    BOOST_REQUIRE(again.wait_for("data", 1));
    BOOST_TEST(eventually([&] { return stored_page_name(db, "board") == "Edited on B"; }, 5s));
    BOOST_TEST(writer_runs(db, "board") == "node-a,node-b");
    BOOST_TEST(clocks_written_once(db, "board"));
    again.close();
}

BOOST_AUTO_TEST_CASE(a_dead_node_is_replaced_once_its_lease_expires_and_not_before) {
    const auto conninfo = fresh_empty_database("t_lease_crash");
    temp_data_dir dir_a, dir_b;
    constexpr auto lease = 2000ms;
    service_node a(conninfo, "node-a", dir_a.path.string(), lease);
    service_node b(conninfo, "node-b", dir_b.path.string(), lease);
    pg_client db(conninfo);

    BOOST_TEST_REQUIRE(loaded_page_name(*a.rooms, "room").value_or("") == "Page 1");
    BOOST_TEST_REQUIRE(rename_page(*a.rooms, "room", "Flushed before the crash"));
    BOOST_TEST_REQUIRE(
        eventually([&] { return stored_page_name(db, "room") == "Flushed before the crash"; }, 5s));
    // Renewals go on while A lives: after twice the lease it still holds it.
    std::this_thread::sleep_for(2 * lease);
    BOOST_TEST(lease_owner(db, "room") == "node-a");

    a.kill(); // no flush, no release, no renewal
    const auto expires_at =
        db.exec("SELECT expires_at FROM tlsync_room_lease WHERE room_id = 'room'").value();
    const auto left_ms = std::stoll(db.exec("SELECT greatest(0, extract(epoch FROM expires_at - "
                                            "clock_timestamp()) * 1000)::bigint FROM "
                                            "tlsync_room_lease WHERE room_id = 'room'")
                                        .value());
    const auto t0 = steady::now();
    // Refused while the lease runs (up to shortly before its end)...
    int refusals = 0;
    while (ms_since(t0) < static_cast<double>(left_ms) - 300.0) {
        BOOST_TEST_REQUIRE(!loaded_page_name(*b.rooms, "room").has_value());
        ++refusals;
        std::this_thread::sleep_for(100ms);
    }
    BOOST_TEST(refusals > 0);
    // ...then served, with what A flushed.
    std::optional<std::string> name;
    BOOST_TEST_REQUIRE(eventually(
        [&] {
            name = loaded_page_name(*b.rooms, "room");
            return name.has_value();
        },
        10s));
    BOOST_TEST_MESSAGE("node B took the dead node's room "
                       << ms_since(t0) << " ms after it died (lease left: " << left_ms << " ms)");
    BOOST_TEST(*name == "Flushed before the crash");
    // By Postgres's clock, B took the lease after A's had expired.
    BOOST_TEST(db.exec("SELECT (expires_at - interval '2000 milliseconds') >= '" + expires_at +
                       "'::timestamptz FROM tlsync_room_lease WHERE room_id = 'room'")
                   .value_or("") == "t");
    BOOST_TEST(lease_owner(db, "room") == "node-b");
    BOOST_TEST_REQUIRE(rename_page(*b.rooms, "room", "Written by B"));
    BOOST_TEST(eventually([&] { return stored_page_name(db, "room") == "Written by B"; }, 5s));
    BOOST_TEST(writer_runs(db, "room") == "node-a,node-b");
    BOOST_TEST(clocks_written_once(db, "room"));
}

// The lease is taken (or expires) under a room with an edit waiting for its
// flush: the flush is fenced off and lands nothing, the sessions get 1012,
// and the node does not serve the room any more.
BOOST_AUTO_TEST_CASE(a_write_under_a_lost_lease_is_fenced_off_and_the_sessions_close_retryably) {
    const auto conninfo = fresh_empty_database("t_lease_fence");
    temp_data_dir dir;
    // Renewals 10 s apart: the flush meets the fence before a renewal could notice.
    service_node a(conninfo, "node-a", dir.path.string(), 30s);
    pg_client db(conninfo);

    for (const std::string room : {"stolen", "expired"}) {
        BOOST_TEST_REQUIRE(loaded_page_name(*a.rooms, room).value_or("") == "Page 1");
        auto sink = std::make_shared<recording_sink>();
        a.rooms->acquire(room)->join({"s1", 1}, false, sink);
        BOOST_TEST_REQUIRE(loaded_page_name(*a.rooms, room).has_value());
        const auto writes =
            db.exec("SELECT count(*) FROM tlsync_room_write WHERE room_id = '" + room + "'")
                .value_or("");

        if (room == "stolen")
            db.exec("UPDATE tlsync_room_lease SET owner = 'thief', token = token + 1, expires_at = "
                    "clock_timestamp() "
                    "+ interval '1 minute' WHERE room_id = 'stolen'");
        else
            db.exec("UPDATE tlsync_room_lease SET expires_at = clock_timestamp() - interval '1 "
                    "second' WHERE "
                    "room_id = 'expired'");
        BOOST_TEST_REQUIRE(rename_page(*a.rooms, room, "Must not land"));

        BOOST_TEST_REQUIRE(eventually([&] { return sink->closed.load(); }, 5s));
        BOOST_TEST(sink->code.value_or(0) == 1012);
        BOOST_TEST(sink->reason.find("another server") != std::string::npos, sink->reason);
        std::this_thread::sleep_for(300ms); // a retried flush would have landed by now
        BOOST_TEST(stored_page_name(db, room) == "Page 1");
        BOOST_TEST(db.exec("SELECT count(*) FROM tlsync_room_write WHERE room_id = '" + room + "'")
                       .value_or("") == writes);
    }
    // The thief holds "stolen": node A refuses it now instead of writing.
    BOOST_TEST(!loaded_page_name(*a.rooms, "stolen").has_value());
    BOOST_TEST(lease_owner(db, "stolen") == "thief");
    // "expired" was not taken by anyone: A may serve it again, under a new token.
    const auto old_token =
        db.exec("SELECT token FROM tlsync_room_lease WHERE room_id = 'expired'").value();
    BOOST_TEST(loaded_page_name(*a.rooms, "expired").value_or("") == "Page 1");
    BOOST_TEST(std::stoll(db.exec("SELECT token FROM tlsync_room_lease WHERE room_id = 'expired'")
                              .value()) == std::stoll(old_token) + 1);
}

BOOST_AUTO_TEST_CASE(a_lease_taken_by_another_node_is_noticed_by_the_next_renewal) {
    const auto conninfo = fresh_empty_database("t_lease_renewal");
    temp_data_dir dir;
    constexpr auto lease = 1200ms; // renewed every 400 ms
    service_node a(conninfo, "node-a", dir.path.string(), lease);
    pg_client db(conninfo);
    BOOST_TEST_REQUIRE(loaded_page_name(*a.rooms, "room").has_value());
    auto sink = std::make_shared<recording_sink>();
    a.rooms->acquire("room")->join({"s1", 1}, false, sink);
    BOOST_TEST_REQUIRE(loaded_page_name(*a.rooms, "room").has_value());
    const auto renewed_before =
        db.exec("SELECT expires_at FROM tlsync_room_lease WHERE room_id = 'room'").value();
    BOOST_TEST(eventually(
        [&] {
            return db.exec("SELECT expires_at FROM tlsync_room_lease WHERE room_id = 'room'")
                       .value() != renewed_before;
        },
        2s)); // renewals happen

    const auto lost_before = server::global_metrics().room_leases_lost.value();
    // Another node takes the room (as after a long pause of A, say).
    db.exec("UPDATE tlsync_room_lease SET owner = 'node-b', token = token + 1, expires_at = "
            "clock_timestamp() + "
            "interval '1 minute' WHERE room_id = 'room'");
    const auto t0 = steady::now();
    BOOST_TEST_REQUIRE(eventually([&] { return sink->closed.load(); }, 3s));
    BOOST_TEST_MESSAGE("the lost lease was noticed after " << ms_since(t0) << " ms");
    BOOST_TEST(ms_since(t0) < 1000.0);
    BOOST_TEST(sink->code.value_or(0) == 1012);
    BOOST_TEST(server::global_metrics().room_leases_lost.value() == lost_before + 1);
    BOOST_TEST(!loaded_page_name(*a.rooms, "room").has_value()); // and A refuses it now
}

BOOST_AUTO_TEST_CASE(renewing_many_rooms_is_one_statement_per_round) {
    const auto conninfo = fresh_empty_database("t_lease_many");
    temp_data_dir dir;
    auto& m = server::global_metrics();
    // Earlier tests' killed nodes never stopped: their leases stay counted.
    const auto held_before = m.room_leases_held.value();
    service_node a(conninfo, "node-a", dir.path.string(), 900ms); // every 300 ms
    pg_client db(conninfo);
    for (int i = 0; i < 20; ++i)
        BOOST_TEST_REQUIRE(loaded_page_name(*a.rooms, "room-" + std::to_string(i)).has_value());
    BOOST_TEST(eventually([&] { return m.room_leases_held.value() == held_before + 20; }, 2s));
    const auto rounds_before = m.room_lease_renewals.value();
    const auto failures_before = m.room_lease_renewal_failures.value();
    // Triggers count the lease table's UPDATE statements and rows exactly
    // (pg_stat_user_tables lags by up to a second).
    db.exec("CREATE TABLE lease_updates (kind text NOT NULL)");
    db.exec("CREATE FUNCTION count_lease_update() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "INSERT INTO lease_updates VALUES (TG_LEVEL); RETURN NULL; END $$");
    db.exec("CREATE TRIGGER lease_statements AFTER UPDATE ON tlsync_room_lease FOR EACH STATEMENT "
            "EXECUTE FUNCTION count_lease_update()");
    db.exec("CREATE TRIGGER lease_rows AFTER UPDATE ON tlsync_room_lease FOR EACH ROW "
            "EXECUTE FUNCTION count_lease_update()");
    const auto counts = [&] {
        const auto row = db.exec("SELECT count(*) FILTER (WHERE kind = 'STATEMENT') || ',' || "
                                 "count(*) FILTER (WHERE kind = 'ROW') FROM lease_updates")
                             .value_or("0,0");
        const auto comma = row.find(',');
        return std::pair(std::stoll(row.substr(0, comma)), std::stoll(row.substr(comma + 1)));
    };
    // Every lease keeps being renewed...
    BOOST_TEST_REQUIRE(eventually([&] { return counts().first >= 3; }, 10s));
    BOOST_TEST(
        db.exec("SELECT count(*) FROM tlsync_room_lease WHERE owner = 'node-a' AND expires_at > "
                "clock_timestamp()")
            .value_or("") == "20");
    // ...every round by one UPDATE statement renewing all 20, not one per room.
    const auto [statements, rows] = counts();
    BOOST_TEST_MESSAGE("lease renewals: " << statements << " statements, " << rows << " rows");
    BOOST_TEST(rows == 20 * statements);
    BOOST_TEST(eventually([&] { return m.room_lease_renewals.value() - rounds_before >= 3u; }, 2s));
    BOOST_TEST(m.room_lease_renewal_failures.value() == failures_before);
}

// A rolling restart's case: the proxy now sends a room's clients to a node
// that another node's lease keeps refusing. Its refusals mark the lease
// wanted; the holder, once it has held the room a lease duration, hands it
// over at a renewal as a drain would, and the asking node serves it.
BOOST_AUTO_TEST_CASE(a_node_refused_a_room_gets_it_handed_over_at_a_renewal_of_the_holder) {
    const auto conninfo = fresh_empty_database("t_lease_wanted");
    temp_data_dir dir_a, dir_b;
    constexpr auto lease = 1200ms; // renewed every 400 ms; held at least this long
    service_node a(conninfo, "node-a", dir_a.path.string(), lease);
    service_node b(conninfo, "node-b", dir_b.path.string(), lease);
    pg_client db(conninfo);

    const auto handovers_before = server::global_metrics().room_handovers.value();
    const auto loaded_at = steady::now();
    BOOST_TEST_REQUIRE(loaded_page_name(*a.rooms, "room").has_value());
    auto sink = std::make_shared<recording_sink>();
    a.rooms->acquire("room")->join({"s1", 1}, false, sink);
    BOOST_TEST_REQUIRE(rename_page(*a.rooms, "room", "Written on A"));

    // B's clients keep coming (as tldraw's client retries, twice a second).
    std::optional<std::string> name;
    int refusals = 0;
    BOOST_TEST_REQUIRE(eventually(
        [&] {
            name = loaded_page_name(*b.rooms, "room");
            if (!name) ++refusals;
            return name.has_value();
        },
        8s));
    const auto took = ms_since(loaded_at);
    BOOST_TEST_MESSAGE("room handed over to the asking node "
                       << took << " ms after it loaded on the holder (" << refusals
                       << " refusals)");
    BOOST_TEST(refusals > 0);
    BOOST_TEST(took >= 1200.0);          // held a lease duration first
    BOOST_TEST(*name == "Written on A"); // flushed before the release
    BOOST_TEST(sink->closed.load());
    BOOST_TEST(sink->code.value_or(0) == 1012);
    BOOST_TEST(sink->reason == "room moved to another server: reconnect");
    BOOST_TEST(server::global_metrics().room_handovers.value() == handovers_before + 1);
    BOOST_TEST(lease_owner(db, "room") == "node-b");
    BOOST_TEST_REQUIRE(rename_page(*b.rooms, "room", "Written on B"));
    BOOST_TEST(eventually([&] { return stored_page_name(db, "room") == "Written on B"; }, 5s));
    BOOST_TEST(writer_runs(db, "room") == "node-a,node-b");
    BOOST_TEST(clocks_written_once(db, "room"));
}

BOOST_AUTO_TEST_SUITE_END()
