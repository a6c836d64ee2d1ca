// server/replicator against the test cluster: changes arrive in order with
// their commit LSNs and are acknowledged; a Postgres restart mid-stream
// loses and duplicates nothing; a restarted replicator resumes from what it
// recorded; a dropped slot starts a new epoch; a backlog is recorded in
// catch-up batches, and the stream goes back to recording at once; the slots
// of nodes gone for good are dropped, and no other slot.

#include "pg_test_util.hpp"

#include "server/replicator.hpp"

#include <boost/asio/post.hpp>
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>

#include <atomic>
#include <filesystem>
#include <future>
#include <mutex>
#include <set>

using namespace tlsync;
using namespace tlsync::test;
using namespace std::chrono_literals;
namespace pg = core::pg;

namespace {

struct observed {
    std::mutex m;
    std::vector<pg::transaction> txs;
    std::vector<pg::user_delivery> deliveries;
    std::atomic<int> breaks{0};

    server::replicator::handlers handlers() {
        server::replicator::handlers h;
        h.on_transaction = [this](const pg::transaction& t) {
            std::lock_guard l(m);
            txs.push_back(t);
        };
        h.on_deliveries = [this](std::vector<pg::user_delivery> d) {
            std::lock_guard l(m);
            for (auto& x : d) deliveries.push_back(std::move(x));
        };
        h.on_sequence_break = [this] { ++breaks; };
        return h;
    }
    // The ids of inserted "user" rows, in stream order.
    std::vector<std::string> user_inserts() {
        std::lock_guard l(m);
        std::vector<std::string> out;
        for (auto& t : txs)
            for (auto& c : t.changes)
                if (c.table == "user" && c.op == pg::row_op::insert) out.emplace_back(c.row.at("id").as_string());
        return out;
    }
    std::size_t count() {
        std::lock_guard l(m);
        return txs.size();
    }
};

struct state_dir {
    std::filesystem::path path;
    state_dir() {
        std::string t = "/tmp/tlsync-repl-XXXXXX";
        if (!mkdtemp(t.data())) throw std::runtime_error("mkdtemp");
        path = t;
    }
    ~state_dir() { std::filesystem::remove_all(path); }
};

server::replicator_config config_for(const std::string& conninfo, const state_dir& d, const std::string& slot) {
    server::replicator_config c;
    c.conninfo = conninfo;
    c.slot_name = slot;
    c.state_path = (d.path / "replicator.sqlite").string();
    c.backoff_initial = 100ms;
    c.backoff_max = 1s;
    c.apply_migrations = true;
    return c;
}

bool wait_streaming(server::replicator& r, std::chrono::milliseconds t = 20s) {
    return eventually([&] { return r.stats().state == "streaming"; }, t);
}

void stop(server::replicator& r) {
    // Shared: a late `done` must not touch a promise of a returned frame.
    auto p = std::make_shared<std::promise<void>>();
    auto f = p->get_future();
    r.stop([p] { p->set_value(); });
    BOOST_REQUIRE(f.wait_for(10s) == std::future_status::ready);
}

// A thread joined on every path. A joinable std::thread destroyed while a
// failed BOOST_REQUIRE (or a failed cluster restart) unwinds calls
// std::terminate; Boost.Test turns that SIGABRT into a longjmp to the next
// test, abandoning this frame while its io threads still run on it (the
// stack-use-after-scope ASan reported).
struct joined_thread {
    std::atomic<bool> stop{false};
    std::thread t;
    ~joined_thread() {
        stop = true;
        if (t.joinable()) t.join();
    }
};

std::string uid(int i) { return "u" + std::to_string(i); }

void insert_user(pg_client& c, int i) {
    c.exec("INSERT INTO \"user\" (id, name, \"createdAt\", \"updatedAt\") VALUES ('" + uid(i) + "', 'n', 1, 1)");
}

pg::lsn lsn_of(pg_client& c, const std::string& sql) { return *pg::lsn::parse(*c.exec(sql)); }

} // namespace

BOOST_AUTO_TEST_SUITE(replicator_suite, *boost::unit_test::precondition(cluster_available))

// Both ways of recording: on the blocking pool, and inline on the strand
// (record_inline, as tlsyncd's plane thread does).
BOOST_DATA_TEST_CASE(changes_arrive_in_order_with_commit_lsns, boost::unit_test::data::make({false, true}), inline_) {
    const std::string slot = inline_ ? "t_order_inline" : "t_order";
    auto conninfo = fresh_database(slot);
    state_dir dir;
    // obs outlives t: if a BOOST_REQUIRE fails, the io threads are joined
    // before the handlers' target goes away.
    observed obs;
    io_threads t;
    auto cfg = config_for(conninfo, dir, slot);
    cfg.record_inline = inline_;
    auto r = server::make_replicator(t.io.get_executor(), t.blocking.get_executor(), cfg, obs.handlers());
    r->start();
    BOOST_REQUIRE(wait_streaming(*r));

    pg_client db(conninfo);
    struct expect {
        std::string xid;
        pg::lsn before, after;
        std::vector<std::string> ops; // table:op
    };
    std::vector<expect> want;
    auto tx = [&](std::vector<std::string> ops, const std::string& body) {
        expect e;
        e.before = lsn_of(db, "SELECT pg_current_wal_insert_lsn()");
        db.exec("BEGIN");
        db.exec(body);
        e.xid = *db.exec("SELECT pg_current_xact_id()::text");
        db.exec("COMMIT");
        e.after = lsn_of(db, "SELECT pg_current_wal_insert_lsn()");
        e.ops = std::move(ops);
        want.push_back(std::move(e));
    };
    tx({"user:insert"}, R"(INSERT INTO "user" (id, "createdAt", "updatedAt") VALUES ('a', 1, 1))");
    tx({"user:insert", "file:insert", "file_state:insert", "file_state:insert"},
       R"(INSERT INTO "user" (id, "createdAt", "updatedAt") VALUES ('b', 1, 1);
          INSERT INTO file (id, "ownerId", name, "publishedSlug", "createdAt", "updatedAt") VALUES ('f', 'a', 'F', 's', 1, 1);
          INSERT INTO file_state ("userId", "fileId", "isFileOwner") VALUES ('a', 'f', true), ('b', 'f', false))");
    tx({"file:update"}, R"(UPDATE file SET name = 'G' WHERE id = 'f')");
    tx({"user_mutation_number:insert"}, R"(INSERT INTO user_mutation_number ("userId", "mutationNumber") VALUES ('a', 1))");
    tx({"file:delete", "file_state:delete", "file_state:delete"}, R"(DELETE FROM file WHERE id = 'f')");
    tx({"user:delete", "user_mutation_number:delete"}, R"(DELETE FROM "user" WHERE id = 'a')");

    // Transactions of other tables arrive empty (wal2json v2 sends their
    // begin and commit): the slot registry's own, for one.
    const auto with_changes = [&] {
        std::lock_guard l(obs.m);
        std::vector<pg::transaction> out;
        for (auto& t : obs.txs)
            if (!t.changes.empty()) out.push_back(t);
        return out;
    };
    BOOST_REQUIRE(eventually([&] { return with_changes().size() >= want.size(); }, 10s));
    const std::vector<pg::transaction> got = with_changes();
    BOOST_REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
        BOOST_TEST_CONTEXT("transaction " << i) {
            BOOST_TEST(std::to_string(got[i].xid.value_or(0)) == want[i].xid);
            BOOST_TEST((want[i].before < got[i].end_lsn));
            BOOST_TEST((got[i].end_lsn <= want[i].after));
            if (i) BOOST_TEST((got[i - 1].end_lsn < got[i].end_lsn));
            std::vector<std::string> ops;
            for (auto& c : got[i].changes) ops.push_back(c.table + ":" + std::string(pg::to_string(c.op)));
            BOOST_TEST(ops == want[i].ops, boost::test_tools::per_element());
        }
    }
    // The deleted file's owner came with the delete (REPLICA IDENTITY FULL).
    BOOST_TEST(got[4].changes[0].row.at("ownerId").as_string() == "a");
    BOOST_TEST(got[2].changes[0].identity.at("name").as_string() == "F");

    // Acknowledged: the slot's confirmed position reaches the last commit.
    auto last = got.back().end_lsn;
    BOOST_TEST(eventually([&] {
        return lsn_of(db, "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '" + slot + "'") >= last;
    }, 5s));
    BOOST_TEST(r->stats().recorded == last.to_string());
    stop(*r);
}

BOOST_DATA_TEST_CASE(postgres_restart_mid_stream_loses_and_duplicates_nothing,
                     boost::unit_test::data::make({false, true}), inline_) {
    const std::string slot = inline_ ? "t_restart_inline" : "t_restart";
    auto conninfo = fresh_database(slot);
    state_dir dir;
    // obs outlives t: if a BOOST_REQUIRE fails, the io threads are joined
    // before the handlers' target goes away.
    observed obs;
    io_threads t;
    auto cfg = config_for(conninfo, dir, slot);
    cfg.record_inline = inline_;
    auto r = server::make_replicator(t.io.get_executor(), t.blocking.get_executor(), cfg, obs.handlers());
    r->start();
    BOOST_REQUIRE(wait_streaming(*r));

    constexpr int n = 600;
    std::atomic<int> written{0};
    joined_thread writer;
    writer.t = std::thread([&] {
        pg_client db(conninfo);
        for (int i = 1; i <= n && !writer.stop; ++i) {
            // Idempotent, so a commit whose reply was lost can be retried.
            auto sql = "INSERT INTO \"user\" (id, \"createdAt\", \"updatedAt\") VALUES ('" + uid(i) +
                       "', 1, 1) ON CONFLICT (id) DO NOTHING";
            auto until = std::chrono::steady_clock::now() + 30s;
            while (!writer.stop && !db.try_exec(sql) && std::chrono::steady_clock::now() < until)
                std::this_thread::sleep_for(20ms);
            written = i;
            std::this_thread::sleep_for(1ms);
        }
    });
    BOOST_REQUIRE(eventually([&] { return written >= n / 3; }, 30s));
    cluster().restart("immediate");
    // Streaming again before the second restart, so each restart ends a session.
    BOOST_REQUIRE(eventually([&] { return r->stats().sessions >= 2u && r->stats().state == "streaming"; }, 20s));
    BOOST_REQUIRE(eventually([&] { return written >= 2 * n / 3; }, 60s));
    cluster().restart("fast");
    writer.t.join();

    BOOST_REQUIRE(eventually([&] { return obs.user_inserts().size() >= n; }, 30s));
    std::this_thread::sleep_for(300ms); // a duplicate would show up by now
    auto ids = obs.user_inserts();
    BOOST_REQUIRE(ids.size() == static_cast<std::size_t>(n));
    for (int i = 1; i <= n; ++i) BOOST_TEST(ids[i - 1] == uid(i));
    // Rebooted after each restart (with its backoff, so give it time).
    BOOST_TEST(eventually([&] { return r->stats().sessions >= 3u; }, 10s));
    BOOST_TEST(obs.breaks == 1);           // only the first start
    stop(*r);
}

BOOST_AUTO_TEST_CASE(resumes_from_the_recorded_lsn_after_a_restart) {
    auto conninfo = fresh_database("t_resume");
    state_dir dir;
    pg_client db(conninfo);
    {
        observed obs;
        io_threads t;
        auto r = server::make_replicator(t.io.get_executor(), t.blocking.get_executor(),
                                         config_for(conninfo, dir, "t_resume"), obs.handlers());
        r->start();
        BOOST_REQUIRE(wait_streaming(*r));
        for (int i = 1; i <= 50; ++i) insert_user(db, i);
        BOOST_REQUIRE(eventually([&] { return obs.user_inserts().size() >= 50; }, 10s));
        stop(*r);
        BOOST_TEST(obs.breaks == 1);
    }
    for (int i = 51; i <= 100; ++i) insert_user(db, i); // while nobody streams

    // obs outlives t: if a BOOST_REQUIRE fails, the io threads are joined
    // before the handlers' target goes away.
    observed obs;
    io_threads t;
    auto r = server::make_replicator(t.io.get_executor(), t.blocking.get_executor(),
                                     config_for(conninfo, dir, "t_resume"), obs.handlers());
    r->start();
    BOOST_REQUIRE(eventually([&] { return obs.user_inserts().size() >= 50; }, 20s));
    std::this_thread::sleep_for(300ms);
    auto ids = obs.user_inserts();
    BOOST_REQUIRE(ids.size() == 50u);
    for (int i = 0; i < 50; ++i) BOOST_TEST(ids[i] == uid(51 + i));
    BOOST_TEST(obs.breaks == 0); // continuity: same slot, nothing skipped
    stop(*r);
}

BOOST_AUTO_TEST_CASE(a_dropped_slot_starts_a_new_epoch) {
    auto conninfo = fresh_database("t_drop");
    state_dir dir;
    pg_client db(conninfo);
    std::string epoch;
    {
        observed obs;
        io_threads t;
        auto r = server::make_replicator(t.io.get_executor(), t.blocking.get_executor(),
                                         config_for(conninfo, dir, "t_drop"), obs.handlers());
        r->start();
        BOOST_REQUIRE(wait_streaming(*r));
        insert_user(db, 1);
        BOOST_REQUIRE(eventually([&] { return obs.count() >= 1; }, 10s));
        epoch = r->stats().epoch;
        stop(*r);
    }
    BOOST_REQUIRE(eventually([&] {
        return db.try_exec("SELECT pg_drop_replication_slot('t_drop')").has_value();
    }, 5s));
    insert_user(db, 2); // lost to the replicator: before the new slot exists

    // obs outlives t: if a BOOST_REQUIRE fails, the io threads are joined
    // before the handlers' target goes away.
    observed obs;
    io_threads t;
    auto r = server::make_replicator(t.io.get_executor(), t.blocking.get_executor(),
                                     config_for(conninfo, dir, "t_drop"), obs.handlers());
    r->start();
    BOOST_REQUIRE(wait_streaming(*r));
    BOOST_TEST(obs.breaks == 1);
    BOOST_TEST(r->stats().epoch != epoch);
    insert_user(db, 3);
    BOOST_REQUIRE(eventually([&] { return obs.user_inserts().size() >= 1; }, 10s));
    BOOST_TEST(obs.user_inserts() == std::vector<std::string>{"u3"});
    stop(*r);
}

// One slot per node (docs/SCALING.md): a replicator registers its slot and
// marks it seen; it drops the slot of a node gone for longer than slot_ttl,
// and only that one: not a registered slot seen lately, not one somebody
// streams from however stale its row, not a slot it did not register.
BOOST_AUTO_TEST_CASE(slots_of_gone_nodes_are_dropped_and_no_other) {
    auto conninfo = fresh_database("t_tend");
    state_dir dir, other_dir;
    pg_client db(conninfo);
    observed obs, other_obs;
    io_threads t;

    // Another node streaming from its slot: registered, then made to look
    // long gone (its own beat is an hour away); it stays, being active.
    auto other_cfg = config_for(conninfo, other_dir, "t_tend_active");
    other_cfg.node_id = "node-active";
    other_cfg.slot_heartbeat = 3600s;
    other_cfg.slot_ttl = 0ms;
    auto other = server::make_replicator(t.io.get_executor(), t.blocking.get_executor(), other_cfg, other_obs.handlers());
    other->start();
    BOOST_REQUIRE(wait_streaming(*other));
    db.exec("UPDATE tlsync_replicator_slot SET seen_at = now() - interval '2 hours' WHERE slot_name = 't_tend_active'");

    for (const char* s : {"t_tend_gone", "t_tend_fresh", "t_tend_foreign"})
        db.exec(std::string("SELECT pg_create_logical_replication_slot('") + s + "', 'wal2json')");
    db.exec("INSERT INTO tlsync_replicator_slot (slot_name, node_id, seen_at) VALUES "
            "('t_tend_gone', 'node-gone', now() - interval '2 hours'), "
            "('t_tend_fresh', 'node-fresh', now() - interval '10 seconds'), "
            "('t_tend_vanished', 'node-vanished', now() - interval '2 hours')");

    auto cfg = config_for(conninfo, dir, "t_tend");
    cfg.node_id = "node-tender";
    cfg.slot_heartbeat = 200ms;
    cfg.slot_ttl = 60s;
    auto r = server::make_replicator(t.io.get_executor(), t.blocking.get_executor(), cfg, obs.handlers());
    r->start();
    BOOST_REQUIRE(wait_streaming(*r));
    const auto slot_exists = [&](const std::string& s) {
        return db.exec("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" + s + "'") == "1";
    };
    const auto registered = [&](const std::string& s) {
        return db.exec("SELECT count(*) FROM tlsync_replicator_slot WHERE slot_name = '" + s + "'") == "1";
    };
    BOOST_TEST(eventually([&] { return !slot_exists("t_tend_gone") && !registered("t_tend_gone"); }, 5s));
    BOOST_TEST(eventually([&] { return !registered("t_tend_vanished"); }, 5s)); // a row without a slot
    // Registered, and marked seen on every beat.
    BOOST_TEST(db.exec("SELECT node_id FROM tlsync_replicator_slot WHERE slot_name = 't_tend'").value_or("") == "node-tender");
    BOOST_TEST(eventually([&] {
        return db.exec("SELECT seen_at > started_at FROM tlsync_replicator_slot WHERE slot_name = 't_tend'") == "t";
    }, 5s));
    std::this_thread::sleep_for(1s); // several more beats
    BOOST_TEST(slot_exists("t_tend_fresh"));
    BOOST_TEST(slot_exists("t_tend_foreign"));
    BOOST_TEST(slot_exists("t_tend_active"));
    BOOST_TEST(slot_exists("t_tend"));
    BOOST_TEST(other->stats().state == "streaming");
    stop(*r);
    stop(*other);
    for (const char* s : {"t_tend_fresh", "t_tend_foreign", "t_tend", "t_tend_active"})
        (void)eventually([&] {
            return db.try_exec(std::string("SELECT pg_drop_replication_slot('") + s + "')").has_value();
        }, 5s);
}

BOOST_AUTO_TEST_CASE(a_backlog_is_recorded_in_catch_up_batches_then_live_again) {
    auto conninfo = fresh_database("t_catch_up");
    state_dir dir;
    pg_client db(conninfo);
    {
        observed obs;
        io_threads t;
        auto r = server::make_replicator(t.io.get_executor(), t.blocking.get_executor(),
                                         config_for(conninfo, dir, "t_catch_up"), obs.handlers());
        r->start();
        BOOST_REQUIRE(wait_streaming(*r));
        stop(*r);
    }
    // ~20,000 rows in 200 transactions while nobody streams: a few MB of WAL.
    constexpr int n = 20'000, per_tx = 100;
    for (int from = 1; from <= n; from += per_tx)
        db.exec("INSERT INTO \"user\" (id, \"createdAt\", \"updatedAt\") SELECT 'u' || g, 1, 1 "
                "FROM generate_series(" +
                std::to_string(from) + ", " + std::to_string(from + per_tx - 1) + ") g");
    const auto backlog_end = lsn_of(db, "SELECT pg_current_wal_flush_lsn()");

    observed obs;
    io_threads t;
    auto cfg = config_for(conninfo, dir, "t_catch_up");
    cfg.batching.enter_behind_bytes = 256 * 1024;
    cfg.batching.leave_behind_bytes = 64 * 1024;
    cfg.batching.catch_up_rows = 2'000;
    cfg.batching.catch_up_wait = 200ms;
    cfg.flush_poll_interval = 20ms;
    auto r = server::make_replicator(t.io.get_executor(), t.blocking.get_executor(), cfg, obs.handlers());
    r->start();
    BOOST_REQUIRE(eventually([&] { return obs.user_inserts().size() >= n; }, 60s));
    auto ids = obs.user_inserts();
    BOOST_REQUIRE(ids.size() == static_cast<std::size_t>(n));
    for (int i = 1; i <= n; ++i)
        if (ids[i - 1] != uid(i)) BOOST_FAIL("row " << i << " is " << ids[i - 1]);
    const auto st = r->stats();
    BOOST_TEST(st.catch_up_batches >= 1u);
    BOOST_TEST(st.batches < st.transactions);
    // Everything recorded is acknowledged.
    BOOST_TEST(eventually([&] {
        auto c = db.try_exec(
            "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 't_catch_up'");
        return c && pg::lsn::parse(*c).value_or(pg::lsn{}) >= backlog_end;
    }, 10s));

    // Caught up: a single change is recorded at once, not held for a batch.
    const auto before = r->stats().catch_up_batches;
    std::this_thread::sleep_for(100ms); // a poll after the catch-up
    const auto t0 = std::chrono::steady_clock::now();
    insert_user(db, n + 1);
    BOOST_REQUIRE(eventually([&] { return obs.user_inserts().size() >= n + 1; }, 10s));
    BOOST_TEST((std::chrono::steady_clock::now() - t0 < cfg.batching.catch_up_wait));
    BOOST_TEST(r->stats().catch_up_batches == before);
    stop(*r);
}

BOOST_AUTO_TEST_SUITE_END()
