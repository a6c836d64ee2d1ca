// Write-behind persistence as the server runs it: a room on memory_storage,
// flushed with delta_since -> sqlite_storage::write_delta, restored with
// memory_storage(sqlite.get_snapshot()).

#include "storage_test_util.hpp"

#include <boost/test/unit_test.hpp>

#include <random>

using namespace tlsync;
using namespace tlsync::test;

namespace {

// What a client reconnecting at `since` would be sent, order-free.
struct observed {
    bool none = false;
    bool wipe_all = false;
    std::map<std::string, std::string> puts; // id -> serialized state
    std::vector<std::string> deletes;
    friend bool operator==(const observed&, const observed&) = default;
};

observed observe(sync_storage& s, std::int64_t since) {
    observed o;
    s.transaction([&](storage_txn& t) {
        const auto c = t.get_changes_since(since);
        if (!c) {
            o.none = true;
            return;
        }
        o.wipe_all = c->wipe_all;
        for (const auto& [id, p] : c->diff.puts)
            o.puts[id] = json::serialize(p.after);
        o.deletes = sorted(c->diff.deletes);
    });
    return o;
}

struct harness {
    temp_dir dir;
    core::memory_storage mem;
    std::shared_ptr<sqlite_db> db = std::make_shared<sqlite_db>(dir.file("room.db"));
    core::sqlite_storage sql{db, {}, mem.get_snapshot()};
    std::int64_t flushed = mem.get_clock();
    // As the server does: the schema is written when it changed, not each time.
    std::optional<std::uint64_t> flushed_schema;
    int full_flushes = 0;
    int schema_writes = 0;
    int flushes = 0;

    void flush() {
        const auto delta = mem.delta_since(flushed, flushed_schema);
        full_flushes += delta.full ? 1 : 0;
        schema_writes += delta.schema ? 1 : 0;
        ++flushes;
        sql.write_delta(delta);
        flushed = delta.document_clock;
        flushed_schema = delta.schema_version;
    }

    void check(std::mt19937& rng) {
        BOOST_TEST_REQUIRE(sql.get_clock() == mem.get_clock());
        core::memory_storage restored(sql.get_snapshot());
        BOOST_TEST_REQUIRE(
            (normalized_state(restored.get_snapshot()) == normalized_state(mem.get_snapshot())));
        const auto clock = mem.get_clock();
        std::vector<std::int64_t> probes{
            -1, 0, clock, clock - 1, clock + 3, mem.tombstone_history_starts_at_clock()};
        for (int i = 0; i < 4; ++i)
            probes.push_back(static_cast<std::int64_t>(rng() % static_cast<unsigned>(clock + 1)));
        for (const auto since : probes) {
            const auto want = observe(mem, since);
            BOOST_TEST_REQUIRE((observe(restored, since) == want),
                               "restored memory differs at since=" << since);
            BOOST_TEST_REQUIRE((observe(sql, since) == want), "sqlite differs at since=" << since);
        }
    }
};

} // namespace

BOOST_AUTO_TEST_SUITE(sqlite_storage)

BOOST_AUTO_TEST_CASE(write_delta_round_trips_random_transactions) {
    std::mt19937 rng(20240611);
    harness h;
    auto id = [&] { return "shape:" + std::to_string(rng() % 40); };
    for (int i = 0; i < 600; ++i) {
        const bool fail = rng() % 10 == 0;
        try {
            h.mem.transaction([&](storage_txn& t) {
                const int ops = 1 + static_cast<int>(rng() % 4);
                for (int k = 0; k < ops; ++k) {
                    switch (rng() % 6) {
                    case 0:
                    case 1:
                    case 2: {
                        const auto i2 = id();
                        t.set(i2, rec(i2, {{"x", static_cast<std::int64_t>(rng() % 100)},
                                           {"pass", i}}));
                        break;
                    }
                    case 3:
                    case 4:
                        t.remove(id());
                        break;
                    default:
                        t.set_schema(json::object{
                            {"schemaVersion", 2},
                            {"sequences",
                             json::object{{"v", static_cast<std::int64_t>(rng() % 5)}}}});
                    }
                }
                if (fail) throw std::runtime_error("rolled back");
            });
        } catch (const std::runtime_error&) {
            BOOST_TEST(fail);
        }
        if (rng() % 4 == 0) h.flush();
        if (rng() % 25 == 0) {
            h.flush();
            h.check(rng);
        }
    }
    h.flush();
    h.check(rng);
    BOOST_TEST(h.full_flushes == 0);
    BOOST_TEST(h.schema_writes > 1); // the schema changed now and then...
    BOOST_TEST(h.schema_writes < h.flushes - 20); // ...and was not rewritten by every flush
}

BOOST_AUTO_TEST_CASE(write_delta_full_after_pruned_history) {
    std::mt19937 rng(7);
    harness h;
    const int n = static_cast<int>(max_tombstones) + 600;
    h.mem.transaction([&](storage_txn& t) {
        for (int i = 0; i < n; ++i)
            t.set("shape:" + std::to_string(i), rec("shape:" + std::to_string(i)));
    });
    h.flush();
    for (int i = 0; i < n; i += 100) {
        h.mem.transaction([&](storage_txn& t) {
            for (int j = i; j < std::min(n, i + 100); ++j)
                t.remove("shape:" + std::to_string(j));
        });
        if (i == 1000) h.flush(); // the receiver has some of the deletes already
    }
    BOOST_TEST(h.mem.tombstone_prune_requested());
    h.mem.prune_tombstones();
    BOOST_TEST(h.mem.tombstone_history_starts_at_clock() >
               h.flushed); // history passed the receiver
    h.mem.transaction([](storage_txn& t) { t.set("shape:after", rec("shape:after")); });
    h.flush();
    BOOST_TEST(h.full_flushes == 1);
    h.check(rng);
    BOOST_TEST(h.sql.tombstone_count() == h.mem.tombstone_count());

    // and an incremental flush after a prune the receiver had caught up with
    h.mem.transaction([](storage_txn& t) { t.remove("shape:after"); });
    h.flush();
    BOOST_TEST(h.full_flushes == 1);
    h.check(rng);
}

BOOST_AUTO_TEST_CASE(write_delta_does_not_notify) {
    harness h;
    int events = 0;
    h.sql.on_change([&](const change_event&) { ++events; });
    h.mem.transaction([](storage_txn& t) { t.set("shape:a", rec("shape:a")); });
    h.flush();
    BOOST_TEST(events == 0);
    BOOST_TEST(h.sql.get_clock() == 1);
}

BOOST_AUTO_TEST_SUITE_END()
