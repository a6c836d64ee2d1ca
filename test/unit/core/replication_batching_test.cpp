// core/replication_batching: the recorder takes a batch at once while the
// stream is live, and lets it grow while the server's flushed WAL is far
// ahead of what was received (entering past a high mark, leaving at a low
// one); a stale or missing report means live.

#include "core/replication_batching.hpp"

#include <boost/test/unit_test.hpp>

using namespace tlsync::core::pg;
using std::chrono::milliseconds;

namespace {

lsn at(std::uint64_t v) { return lsn{v}; }

batching_config small() {
    batching_config c;
    c.enter_behind_bytes = 1000;
    c.leave_behind_bytes = 200;
    c.catch_up_rows = 100;
    c.catch_up_wait = milliseconds(50);
    c.flush_valid_for = milliseconds(500);
    return c;
}

} // namespace

BOOST_AUTO_TEST_SUITE(replication_batching_suite)

BOOST_AUTO_TEST_CASE(without_a_report_every_batch_is_taken_at_once) {
    batching_policy p(small());
    BOOST_TEST(!p.catching_up(at(0), milliseconds(10)));
    BOOST_TEST(p.take_at(1, milliseconds(5), at(0), milliseconds(10)).count() == 10);
}

BOOST_AUTO_TEST_CASE(live_when_the_server_is_within_the_high_mark) {
    batching_policy p(small());
    p.on_server_flush(at(10'000), milliseconds(0));
    BOOST_TEST(!p.catching_up(at(9'000), milliseconds(1)));  // exactly the high mark: live
    BOOST_TEST(p.take_at(3, milliseconds(0), at(9'000), milliseconds(1)).count() == 1);
    // Received past the report (the poll is older than the stream): live.
    BOOST_TEST(!p.catching_up(at(20'000), milliseconds(1)));
}

BOOST_AUTO_TEST_CASE(catching_up_waits_for_a_full_batch_or_the_wait_bound) {
    batching_policy p(small());
    p.on_server_flush(at(100'000), milliseconds(0));
    BOOST_TEST(p.catching_up(at(1'000), milliseconds(10)));
    // A partial batch waits until its oldest change is catch_up_wait old...
    BOOST_TEST(p.take_at(99, milliseconds(5), at(1'000), milliseconds(10)).count() == 55);
    // ...and is taken at once when that has passed.
    BOOST_TEST(p.take_at(99, milliseconds(5), at(1'000), milliseconds(60)).count() <= 60);
    // A full one is taken at once.
    BOOST_TEST(p.take_at(100, milliseconds(5), at(1'000), milliseconds(10)).count() == 10);
    // Once the received position comes within the low mark, back to live.
    BOOST_TEST(p.take_at(1, milliseconds(5), at(99'800), milliseconds(10)).count() == 10);
}

BOOST_AUTO_TEST_CASE(live_batches_are_spaced_by_the_minimum_interval) {
    auto cfg = small();
    cfg.live_min_interval = milliseconds(2);
    batching_policy p(cfg);
    // The first batch, and any after a quiet interval, is taken at once.
    BOOST_TEST(p.take_at(1, milliseconds(100), at(0), milliseconds(100)).count() == 100);
    p.on_taken(milliseconds(100));
    // Under a stream of transactions the next waits for the interval...
    BOOST_TEST(p.take_at(1, milliseconds(100), at(0), milliseconds(100)).count() == 102);
    BOOST_TEST(p.take_at(3, milliseconds(101), at(0), milliseconds(101)).count() == 102);
    // ...unless it is already a full batch.
    BOOST_TEST(p.take_at(100, milliseconds(101), at(0), milliseconds(101)).count() == 101);
    // Once the interval has passed, at once.
    BOOST_TEST(p.take_at(2, milliseconds(101), at(0), milliseconds(102)).count() == 102);
    BOOST_TEST(p.take_at(2, milliseconds(150), at(0), milliseconds(150)).count() == 150);
}

BOOST_AUTO_TEST_CASE(no_spacing_with_a_zero_interval) {
    auto cfg = small();
    cfg.live_min_interval = milliseconds(0);
    batching_policy p(cfg);
    p.on_taken(milliseconds(100));
    BOOST_TEST(p.take_at(1, milliseconds(100), at(0), milliseconds(100)).count() == 100);
}

BOOST_AUTO_TEST_CASE(catching_up_ignores_the_live_spacing) {
    auto cfg = small();
    cfg.live_min_interval = milliseconds(2);
    batching_policy p(cfg);
    p.on_server_flush(at(100'000), milliseconds(0));
    p.on_taken(milliseconds(10));
    // Behind: the catch-up rule (oldest + catch_up_wait), not last + interval.
    BOOST_TEST(p.take_at(5, milliseconds(10), at(1'000), milliseconds(10)).count() == 60);
}

BOOST_AUTO_TEST_CASE(enters_past_the_high_mark_and_leaves_at_the_low_one) {
    batching_policy p(small());
    p.on_server_flush(at(100'000), milliseconds(0));
    BOOST_TEST(!p.catching_up(at(99'500), milliseconds(1))); // 500 behind: not yet
    BOOST_TEST(p.catching_up(at(1'000), milliseconds(2)));   // 99,000 behind
    BOOST_TEST(p.catching_up(at(99'500), milliseconds(3)));  // 500: between the marks, still
    BOOST_TEST(!p.catching_up(at(99'800), milliseconds(4))); // 200: live again
    BOOST_TEST(!p.catching_up(at(99'500), milliseconds(5))); // and stays live below the high mark
    BOOST_TEST(p.take_at(1, milliseconds(5), at(99'500), milliseconds(5)).count() == 5);
}

BOOST_AUTO_TEST_CASE(a_stale_or_forgotten_report_means_live) {
    batching_policy p(small());
    p.on_server_flush(at(100'000), milliseconds(0));
    BOOST_TEST(p.catching_up(at(0), milliseconds(500)));
    BOOST_TEST(!p.catching_up(at(0), milliseconds(501)));
    BOOST_TEST(p.take_at(1, milliseconds(400), at(0), milliseconds(501)).count() == 501);
    p.on_server_flush(at(100'000), milliseconds(600));
    BOOST_TEST(p.catching_up(at(0), milliseconds(601)));
    p.forget_server_flush();
    BOOST_TEST(!p.catching_up(at(0), milliseconds(601)));
}

BOOST_AUTO_TEST_CASE(the_flushed_position_never_goes_back) {
    batching_policy p(small());
    p.on_server_flush(at(100'000), milliseconds(0));
    p.on_server_flush(at(50'000), milliseconds(100)); // an older reading arriving late
    BOOST_TEST(p.catching_up(at(60'000), milliseconds(550))); // still 100'000, refreshed at 100
}

BOOST_AUTO_TEST_SUITE_END()
