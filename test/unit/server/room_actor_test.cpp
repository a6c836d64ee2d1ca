// The room actor on a real io_context with a temporary data directory:
// routing to sinks, write-behind persistence, unloading and shutdown.

#include "core/tldraw_schema.hpp"
#include "proto/codec.hpp"
#include "server/metrics.hpp"
#include "server/room_service.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <mutex>
#include <random>

using namespace tlsync;
using namespace std::chrono_literals;
namespace net = boost::asio;

namespace {

struct temp_dir {
    std::filesystem::path path;
    temp_dir() {
        path = std::filesystem::temp_directory_path() /
               ("tlsync-actor-" + std::to_string(std::random_device{}()));
        std::filesystem::create_directories(path);
    }
    ~temp_dir() { std::filesystem::remove_all(path); }
};

// Records what the room sends, as a websocket connection would receive it.
struct recording_sink : server::session_sink {
    std::mutex m;
    std::vector<std::string> frames;
    std::optional<std::pair<std::optional<std::uint16_t>, std::string>> closed;
    void deliver(core::outbound_message msg) override {
        std::lock_guard l(m);
        frames.push_back(msg.text());
    }
    void close(std::optional<std::uint16_t> code, std::string reason) override {
        std::lock_guard l(m);
        if (!closed) closed.emplace(code, std::move(reason));
    }
    bool saw(std::string_view needle) {
        std::lock_guard l(m);
        for (const auto& f : frames)
            if (f.find(needle) != std::string::npos) return true;
        return false;
    }
};

proto::client_message push_page(const std::string& name) {
    auto text = R"({"type":"push","clientClock":1,"diff":{"page:page":["patch",{"name":["put",")" +
                name + R"("]}]}})";
    return proto::decode_client_message(text).value();
}

struct fixture {
    temp_dir dir;
    server::config cfg;
    net::io_context io;
    net::thread_pool blocking{1};
    std::shared_ptr<server::room_service> service;

    fixture() {
        cfg.data_dir = dir.path.string();
        cfg.flush_interval = 50ms;
        cfg.room_unload_delay = 100ms;
        cfg.session_removal_wait = 100ms;
        service = server::make_room_service(io.get_executor(), blocking.get_executor(), cfg,
                                            core::make_tldraw_schema());
    }
    ~fixture() { blocking.join(); }

    // Runs the loop until `pred` holds or 5 s pass.
    template <class P> bool run_until(P pred) {
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        while (!pred() && std::chrono::steady_clock::now() < deadline) {
            io.restart();
            io.run_for(10ms);
        }
        return pred();
    }

    // A joined, connected session whose first edit is on disk.
    std::shared_ptr<recording_sink> connected_with_saved_edit(server::room_actor& room, core::socket_ref s) {
        auto sink = std::make_shared<recording_sink>();
        room.join(s, false, sink);
        room.message(s, connect_msg());
        room.message(s, push_page("Saved"));
        BOOST_REQUIRE(run_until([&] { return sink->saw("commit"); }));
        return sink;
    }

    // Makes the room's store fail like a dead disk: once the room has been
    // quiet long enough to close its database handle (2 s), the file gives
    // its name to a directory, so the next flush cannot open it. Returns the
    // file's path; removing the directory there lets flushes work again.
    std::filesystem::path break_store(const std::string& room_id) {
        const auto quiet_until = std::chrono::steady_clock::now() + 2500ms;
        run_until([&] { return std::chrono::steady_clock::now() > quiet_until; });
        const auto file = dir.path / "rooms" / (room_id + ".sqlite");
        for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(file.string() + suffix);
        std::filesystem::create_directory(file);
        return file;
    }

    proto::client_message connect_msg(std::int64_t clock = -1) {
        proto::connect_request c;
        c.connect_request_id = "r1";
        c.last_server_clock = clock;
        c.protocol_version = 8;
        c.schema = core::make_tldraw_schema()->serialize();
        return c;
    }
};


} // namespace

BOOST_AUTO_TEST_SUITE(room_actor)

BOOST_FIXTURE_TEST_CASE(joins_connects_and_routes_broadcasts, fixture) {
    auto room = service->acquire("r1");
    BOOST_REQUIRE(room);
    BOOST_TEST(!service->acquire("bad id!"));
    auto a = std::make_shared<recording_sink>();
    auto b = std::make_shared<recording_sink>();
    room->join({"a", 1}, false, a);
    room->join({"b", 2}, false, b);
    room->message({"a", 1}, connect_msg());
    room->message({"b", 2}, connect_msg());
    BOOST_REQUIRE(run_until([&] { return a->saw("wipe_all") && b->saw("wipe_all"); }));
    room->message({"a", 1}, push_page("Renamed"));
    BOOST_TEST(run_until([&] { return b->saw("Renamed") && a->saw("commit"); }));
}

// The session gauges are updated at most every 250 ms per room; what the
// last update of a burst leaves out is published when the period is over,
// even if the room then goes quiet (it once stayed stale until the next event).
BOOST_FIXTURE_TEST_CASE(session_gauges_catch_up_after_a_burst, fixture) {
    cfg.session_idle_timeout = 0ms; // no idle pruning: nothing else wakes the room
    auto& m = server::global_metrics();
    const auto connected = m.sessions_connected.value();
    const auto waiting = m.sessions_awaiting_connect.value();
    auto room = service->acquire("gauges");
    std::vector<std::shared_ptr<recording_sink>> sinks;
    for (std::uint64_t i = 1; i <= 3; ++i) {
        sinks.push_back(std::make_shared<recording_sink>());
        room->join({"s" + std::to_string(i), i}, false, sinks.back());
        room->message({"s" + std::to_string(i), i}, connect_msg());
    }
    BOOST_REQUIRE(run_until([&] {
        for (auto& s : sinks)
            if (!s->saw("wipe_all")) return false;
        return true;
    }));
    BOOST_TEST(run_until([&] { return m.sessions_connected.value() == connected + 3; }));
    BOOST_TEST(m.sessions_awaiting_connect.value() == waiting);
}

BOOST_FIXTURE_TEST_CASE(changes_reach_disk_and_survive_unload, fixture) {
    {
        auto room = service->acquire("persist");
        auto a = std::make_shared<recording_sink>();
        room->join({"a", 1}, false, a);
        room->message({"a", 1}, connect_msg());
        room->message({"a", 1}, push_page("Kept"));
        BOOST_REQUIRE(run_until([&] { return a->saw("commit"); }));
        room->leave({"a", 1});
    }
    // removal wait, unload delay and the final flush pass; the room goes
    BOOST_REQUIRE(run_until([&] { return service->rooms().empty(); }));
    BOOST_TEST(std::filesystem::exists(dir.path / "rooms" / "persist.sqlite"));
    auto room = service->acquire("persist");
    auto c = std::make_shared<recording_sink>();
    room->join({"c", 3}, false, c);
    room->message({"c", 3}, connect_msg());
    BOOST_TEST(run_until([&] { return c->saw("Kept"); }));
}

// --durability fsync while the disk refuses the room's writes: the messages
// waiting for the disk are bounded by --max-outbound-queue-bytes; past it
// they are dropped (none was sent, so nothing unsaved was acknowledged) and
// the sessions closed with 1011 so that clients retry.
BOOST_FIXTURE_TEST_CASE(held_messages_are_bounded_while_the_disk_fails, fixture) {
    cfg.durability = "fsync";
    cfg.fsync = true;
    cfg.max_outbound_queue_bytes = 16 * 1024;
    auto room = service->acquire("failing");
    auto b = std::make_shared<recording_sink>();
    room->join({"b", 2}, false, b);
    room->message({"b", 2}, connect_msg());
    auto a = connected_with_saved_edit(*room, {"a", 1});
    BOOST_REQUIRE(run_until([&] { return b->saw("Saved"); }));
    const auto file = break_store("failing");

    const auto failed = server::global_metrics().flushes_failed.value();
    const auto closes = server::global_metrics().rejections[static_cast<std::size_t>(server::reject_reason::storage_unavailable)].value();
    for (int i = 0; i < 12; ++i) room->message({"a", 1}, push_page("Unsaved" + std::to_string(i) + std::string(2000, 'x')));
    BOOST_REQUIRE(run_until([&] {
        std::lock_guard la(a->m), lb(b->m);
        return a->closed.has_value() && b->closed.has_value();
    }));
    BOOST_TEST(server::global_metrics().flushes_failed.value() > failed);
    BOOST_TEST((a->closed->first == std::optional<std::uint16_t>(1011)));
    BOOST_TEST((b->closed->first == std::optional<std::uint16_t>(1011)));
    BOOST_TEST(a->closed->second.find("storage unavailable") != std::string::npos);
    BOOST_TEST(server::global_metrics().rejections[static_cast<std::size_t>(server::reject_reason::storage_unavailable)].value() == closes + 2);
    // Nothing that waited for the disk went out: no result, no patch.
    BOOST_TEST(!b->saw("Unsaved"));
    BOOST_TEST(!a->saw("\"clientClock\":1,\"serverClock\":2"));
    std::filesystem::remove(file); // the disk is back: the room's next flush writes everything
}

// A full or read-only disk: after ten flush intervals (at least 1 s) of
// failing flushes the room turns read-only (sessions closed with 1011 come
// back read-only, the changes stay in memory); when a flush succeeds again the
// read-only sessions are closed with 1012 and come back writable.
BOOST_FIXTURE_TEST_CASE(a_failing_store_makes_the_room_read_only_until_it_recovers, fixture) {
    auto room = service->acquire("readonly");
    auto a = connected_with_saved_edit(*room, {"a", 1});
    const auto file = break_store("readonly");

    const auto closes = server::global_metrics().rejections[static_cast<std::size_t>(server::reject_reason::storage_unavailable)].value();
    room->message({"a", 1}, push_page("Unsaved")); // acknowledged: --durability flush
    BOOST_REQUIRE(run_until([&] {
        std::lock_guard l(a->m);
        return a->closed.has_value();
    }));
    BOOST_TEST((a->closed->first == std::optional<std::uint16_t>(1011)));
    BOOST_TEST(a->closed->second.find("read-only") != std::string::npos);
    BOOST_TEST(server::global_metrics().rejections[static_cast<std::size_t>(server::reject_reason::storage_unavailable)].value() == closes + 1);
    room->leave({"a", 1});

    // A session that comes now sees everything, read-only.
    auto c = std::make_shared<recording_sink>();
    room->join({"c", 2}, false, c);
    room->message({"c", 2}, connect_msg());
    BOOST_REQUIRE(run_until([&] { return c->saw(R"("isReadonly":true)") && c->saw("Unsaved"); }));

    // The disk is back: the next flush writes, and read-only sessions are sent to reconnect.
    std::filesystem::remove(file);
    BOOST_REQUIRE(run_until([&] {
        std::lock_guard l(c->m);
        return c->closed.has_value();
    }));
    BOOST_TEST((c->closed->first == std::optional<std::uint16_t>(1012)));
    room->leave({"c", 2});
    auto d = std::make_shared<recording_sink>();
    room->join({"d", 3}, false, d);
    room->message({"d", 3}, connect_msg());
    BOOST_REQUIRE(run_until([&] { return d->saw(R"("isReadonly":false)"); }));
    room->message({"d", 3}, push_page("After"));
    BOOST_TEST(run_until([&] { return d->saw("commit"); }));
    BOOST_TEST(std::filesystem::is_regular_file(file));
}

BOOST_FIXTURE_TEST_CASE(shutdown_flushes_and_closes_with_1012, fixture) {
    auto room = service->acquire("bye");
    auto a = std::make_shared<recording_sink>();
    room->join({"a", 1}, false, a);
    room->message({"a", 1}, connect_msg());
    room->message({"a", 1}, push_page("Flushed"));
    BOOST_REQUIRE(run_until([&] { return a->saw("commit"); }));
    bool done = false;
    service->shutdown(1012, [&] { done = true; });
    BOOST_REQUIRE(run_until([&] { return done; }));
    BOOST_REQUIRE(a->closed.has_value());
    BOOST_TEST(*a->closed->first == 1012);
    BOOST_TEST(!service->acquire("bye"));
    // a fresh service over the same directory sees the flushed edit
    auto again = server::make_room_service(io.get_executor(), blocking.get_executor(), cfg,
                                           core::make_tldraw_schema());
    auto r = again->acquire("bye");
    auto c = std::make_shared<recording_sink>();
    r->join({"c", 9}, false, c);
    r->message({"c", 9}, connect_msg());
    BOOST_TEST(run_until([&] { return c->saw("Flushed"); }));
}

BOOST_FIXTURE_TEST_CASE(reject_closes_current_socket_with_4099, fixture) {
    auto room = service->acquire("rej");
    auto a = std::make_shared<recording_sink>();
    room->join({"a", 1}, false, a);
    room->message({"a", 1}, connect_msg());
    BOOST_REQUIRE(run_until([&] { return a->saw("wipe_all"); }));
    room->reject({"a", 1}, "UNKNOWN_ERROR");
    BOOST_REQUIRE(run_until([&] { return a->closed.has_value(); }));
    BOOST_TEST(*a->closed->first == 4099);
    BOOST_TEST(a->closed->second == "UNKNOWN_ERROR");
}

BOOST_FIXTURE_TEST_CASE(unusable_data_dir_is_a_startup_error, fixture) {
    server::config bad = cfg;
    bad.data_dir = "/proc/definitely/not/writable";
    BOOST_CHECK_THROW(server::make_room_service(io.get_executor(), blocking.get_executor(), bad,
                                                core::make_tldraw_schema()),
                      std::runtime_error);
}

BOOST_AUTO_TEST_SUITE_END()
