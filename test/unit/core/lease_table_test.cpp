// core::lease_table on a fake clock: when renewals go out, which leases a
// renewal keeps, and when a lease counts as lost (docs/SCALING.md).

#include "core/lease_table.hpp"

#include <boost/test/unit_test.hpp>

using tlsync::core::lease_table;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> rooms_of(const std::vector<lease_table::lost_lease>& lost) {
    std::vector<std::string> out;
    for (const auto& l : lost)
        out.push_back(l.room);
    return out;
}

// The next deadline in ms, -1 for none (printable by Boost.Test).
long long next_ms(const lease_table& t) {
    const auto at = t.next_deadline();
    return at ? at->count() : -1;
}

} // namespace

BOOST_AUTO_TEST_SUITE(lease_table_suite)

BOOST_AUTO_TEST_CASE(renewals_go_out_every_third_of_the_duration_in_one_batch) {
    lease_table t(9s);
    BOOST_TEST(next_ms(t) == -1); // nothing held, nothing to do
    BOOST_TEST(!t.start_renewal(100s));
    t.acquired("a", 1, 0s);
    t.acquired("b", 4, 1s);
    BOOST_TEST(next_ms(t) == 3000);
    BOOST_TEST(!t.start_renewal(2999ms));
    auto r = t.start_renewal(3s);
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(r->leases.size() == 2u);
    BOOST_TEST(!t.start_renewal(3s)); // one in flight at a time
    t.renewal_done(*r, {{"a", 1}, {"b", 4}}, 3100ms);
    BOOST_TEST(t.take_lost().empty());
    BOOST_TEST(next_ms(t) == 6000);
    // Valid until sent_at + duration - margin (9s - 0.9s after 3s).
    BOOST_TEST(t.holds("a", 1, 11099ms));
    BOOST_TEST(!t.holds("a", 1, 11100ms));
    BOOST_TEST(!t.holds("a", 2, 5s)); // another token is not this lease
}

BOOST_AUTO_TEST_CASE(a_lease_the_renewal_did_not_return_is_lost_at_once) {
    lease_table t(3s);
    t.acquired("a", 1, 0s);
    t.acquired("b", 2, 0s);
    auto r = t.start_renewal(1s);
    BOOST_TEST_REQUIRE(r.has_value());
    t.renewal_done(*r, {{"b", 2}}, 1010ms);
    const auto lost = t.take_lost();
    BOOST_TEST_REQUIRE(lost.size() == 1u);
    BOOST_TEST(lost[0].room == "a");
    BOOST_TEST(lost[0].token == 1);
    BOOST_TEST(!lost[0].why.empty());
    BOOST_TEST(t.take_lost().empty()); // reported once
    BOOST_TEST(t.size() == 1u);
}

BOOST_AUTO_TEST_CASE(failed_renewals_are_retried_and_the_lease_is_lost_at_its_local_deadline) {
    lease_table t(10s);
    t.acquired("a", 1, 0s);
    auto r = t.start_renewal(3333ms);
    BOOST_TEST_REQUIRE(r.has_value());
    t.renewal_failed(*r, 3400ms);   // Postgres unreachable
    BOOST_TEST(next_ms(t) == 4400); // retried after duration/10
    for (auto now = 4400ms; now < 9s; now += 1s) {
        auto again = t.start_renewal(now);
        BOOST_TEST_REQUIRE(again.has_value());
        t.renewal_failed(*again, now);
        BOOST_TEST(t.take_lost().empty());
    }
    // Lost at 0 + 10 s - 1 s, before Postgres lets anyone else take it.
    BOOST_TEST(next_ms(t) <= 9000);
    t.on_timer(8999ms);
    BOOST_TEST(t.take_lost().empty());
    t.on_timer(9s);
    BOOST_TEST(rooms_of(t.take_lost()) == std::vector<std::string>{"a"});
    BOOST_TEST(next_ms(t) == -1); // nothing left to renew
}

BOOST_AUTO_TEST_CASE(a_renewal_stuck_past_the_deadline_renews_nothing) {
    lease_table t(3s);
    t.acquired("a", 1, 0s);
    auto r = t.start_renewal(1s);
    BOOST_TEST_REQUIRE(r.has_value());
    // The statement hangs; the timer still runs and gives the lease up.
    BOOST_TEST(next_ms(t) == 2700);
    t.on_timer(2700ms);
    BOOST_TEST(rooms_of(t.take_lost()) == std::vector<std::string>{"a"});
    // Its late success brings nothing back.
    t.renewal_done(*r, {{"a", 1}}, 5s);
    BOOST_TEST(t.take_lost().empty());
    BOOST_TEST(!t.holds("a", 1, 5s));
}

BOOST_AUTO_TEST_CASE(a_lease_renewed_from_a_late_sent_statement_keeps_its_deadline) {
    lease_table t(3s);
    t.acquired("a", 1, 0s);
    auto r = t.start_renewal(1s);
    BOOST_TEST_REQUIRE(r.has_value());
    t.renewal_done(*r, {{"a", 1}}, 2500ms); // slow, but in time
    // Valid from when it was sent, not when it came back.
    BOOST_TEST(t.holds("a", 1, 3699ms));
    BOOST_TEST(!t.holds("a", 1, 3700ms));
    BOOST_TEST(next_ms(t) == 2500); // the next one is overdue: at once
}

BOOST_AUTO_TEST_CASE(forget_and_fenced_name_the_token) {
    lease_table t(3s);
    t.acquired("a", 1, 0s);
    t.acquired("a", 2, 100ms);     // this node took the room again (a reload)
    BOOST_TEST(!t.forget("a", 1)); // the old actor's release does not drop the new lease
    BOOST_TEST(!t.fenced("a", 1, "old write"));
    BOOST_TEST(t.holds("a", 2, 1s));
    BOOST_TEST(t.fenced("a", 2, "lease lost: held by n2"));
    const auto lost = t.take_lost();
    BOOST_TEST_REQUIRE(lost.size() == 1u);
    BOOST_TEST(lost[0].why == "lease lost: held by n2");
    BOOST_TEST(t.size() == 0u);
    BOOST_TEST(next_ms(t) == -1);
}

BOOST_AUTO_TEST_CASE(a_room_forgotten_or_taken_again_during_a_renewal_is_not_lost) {
    lease_table t(3s);
    t.acquired("a", 1, 0s);
    t.acquired("b", 1, 0s);
    auto r = t.start_renewal(1s);
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(t.forget("a", 1));
    t.acquired("b", 2, 1100ms); // the renewal carries the old token
    t.renewal_done(*r, {}, 1200ms);
    BOOST_TEST(t.take_lost().empty());
    BOOST_TEST(t.holds("b", 2, 2s));
}

BOOST_AUTO_TEST_CASE(a_too_short_duration_is_refused) {
    BOOST_CHECK_THROW(lease_table(2ms), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
