// computeTombstonePruning (TP1-TP3) and the storages' prune (SS18).

#include "storage_test_util.hpp"

#include <boost/test/unit_test.hpp>

using namespace tlsync;
using namespace tlsync::test;

namespace {

using tombstone_list = std::vector<std::pair<std::string, std::int64_t>>;

tombstone_list make_list(const std::vector<std::int64_t>& clocks) {
    tombstone_list out;
    for (std::size_t i = 0; i < clocks.size(); ++i)
        out.emplace_back("shape:" + std::to_string(i), clocks[i]);
    return out;
}

// `n` documents created at clock 1, then deleted `per_txn` at a time.
template <class F> std::unique_ptr<sync_storage> storage_with_tombstones(F& f, int n, int per_txn) {
    room_snapshot snap;
    snap.schema = default_initial_snapshot().schema;
    snap.document_clock = 1;
    snap.tombstone_history_starts_at_clock = 0;
    for (int i = 0; i < n; ++i)
        snap.documents.push_back({rec("shape:" + std::to_string(i)), 1});
    auto s = f.make(snap);
    for (int i = 0; i < n; i += per_txn) {
        s->transaction([&](storage_txn& t) {
            for (int j = i; j < std::min(n, i + per_txn); ++j)
                t.remove("shape:" + std::to_string(j));
        });
    }
    return s;
}

} // namespace

BOOST_AUTO_TEST_SUITE(tombstone_pruning)

BOOST_AUTO_TEST_CASE(TP1_nothing_at_or_below_max) {
    BOOST_TEST(!compute_tombstone_pruning(make_list({1, 2, 3}), 5, 3, 1).has_value());
    BOOST_TEST(!compute_tombstone_pruning({}, 5).has_value());
}

BOOST_AUTO_TEST_CASE(TP2_TP3_prunes_overflow_plus_buffer) {
    // 6 tombstones, max 4, buffer 1: delete 1 + 6 - 4 = 3 oldest
    const auto r = compute_tombstone_pruning(make_list({1, 2, 3, 4, 5, 6}), 9, 4, 1);
    BOOST_REQUIRE(r.has_value());
    BOOST_TEST(r->ids_to_delete == (std::vector<std::string>{"shape:0", "shape:1", "shape:2"}));
    BOOST_TEST(r->new_tombstone_history_starts_at_clock == 4);
}

BOOST_AUTO_TEST_CASE(TP2_never_splits_a_clock_value) {
    // cutoff 3 would split the three tombstones at clock 3
    const auto r = compute_tombstone_pruning(make_list({1, 2, 3, 3, 3, 4}), 9, 4, 1);
    BOOST_REQUIRE(r.has_value());
    BOOST_TEST(r->ids_to_delete.size() == 5u);
    BOOST_TEST(r->new_tombstone_history_starts_at_clock == 4);
}

BOOST_AUTO_TEST_CASE(TP3_all_deleted_starts_history_at_document_clock) {
    const auto r = compute_tombstone_pruning(make_list({2, 2, 2, 2, 2, 2}), 9, 4, 1);
    BOOST_REQUIRE(r.has_value());
    BOOST_TEST(r->ids_to_delete.size() == 6u);
    BOOST_TEST(r->new_tombstone_history_starts_at_clock == 9);
    // buffer larger than what is there
    const auto all = compute_tombstone_pruning(make_list({1, 2, 3}), 7, 2, 10);
    BOOST_REQUIRE(all.has_value());
    BOOST_TEST(all->ids_to_delete.size() == 3u);
    BOOST_TEST(all->new_tombstone_history_starts_at_clock == 7);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(SS18_no_prune_at_max, F, storage_factories) {
    F f;
    auto s = storage_with_tombstones(f, static_cast<int>(max_tombstones), 1000);
    BOOST_TEST(s->tombstone_prune_requested());
    s->prune_tombstones();
    BOOST_TEST(!s->tombstone_prune_requested());
    const auto snap = s->get_snapshot();
    BOOST_TEST(snap.tombstones.size() == max_tombstones);
    BOOST_TEST(snap.tombstone_history_starts_at_clock == 0);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(SS18_prunes_oldest_and_advances_history, F, storage_factories) {
    F f;
    // 5100 deletes, one per clock (2..5101): delete 1000 + 100 oldest
    const int n = static_cast<int>(max_tombstones) + 100;
    auto s = storage_with_tombstones(f, n, 1);
    const auto clock = s->get_clock();
    s->prune_tombstones();
    const auto snap = s->get_snapshot();
    BOOST_TEST(snap.tombstones.size() == max_tombstones - tombstone_prune_buffer_size);
    BOOST_TEST(snap.tombstones.count("shape:1099") == 0u);
    BOOST_TEST(snap.tombstones.at("shape:1100") == 1102);
    BOOST_TEST(snap.tombstone_history_starts_at_clock == 1102);
    BOOST_TEST(s->get_clock() == clock); // pruning is not a change
    s->transaction([](storage_txn& t) {
        BOOST_TEST(t.get_changes_since(1101)->wipe_all);
        BOOST_TEST(!t.get_changes_since(1102)->wipe_all);
    });
}

BOOST_AUTO_TEST_CASE_TEMPLATE(SS18_prune_keeps_a_clock_value_whole, F, storage_factories) {
    F f;
    // deletes in batches of 700 share a clock; the cutoff (1000 + 5600 - 5000
    // = 1600) falls inside the third batch, so the whole batch goes
    const int n = 5600;
    auto s = storage_with_tombstones(f, n, 700);
    s->prune_tombstones();
    const auto snap = s->get_snapshot();
    BOOST_TEST(snap.tombstones.size() == static_cast<std::size_t>(n - 2100));
    BOOST_TEST(snap.tombstone_history_starts_at_clock == 5); // batches at clocks 2,3,4 are gone
    for (const auto& [id, c] : snap.tombstones)
        BOOST_TEST(c >= 5);
}

BOOST_AUTO_TEST_SUITE_END()
