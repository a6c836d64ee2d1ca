// core::token_bucket on a fake clock.

#include "core/token_bucket.hpp"

#include <boost/test/unit_test.hpp>

using tlsync::core::token_bucket;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(token_bucket_suite)

BOOST_AUTO_TEST_CASE(a_burst_then_the_rate) {
    token_bucket b(10, 20, 0s); // 10 a second, bursts of 20
    int taken = 0;
    while (b.try_take(0s)) ++taken;
    BOOST_TEST(taken == 20);
    BOOST_TEST(!b.try_take(50ms)); // half a token
    BOOST_TEST(b.try_take(100ms));
    BOOST_TEST(!b.try_take(100ms));
    // A second later: ten more, no more.
    taken = 0;
    while (b.try_take(1100ms)) ++taken;
    BOOST_TEST(taken == 10);
}

BOOST_AUTO_TEST_CASE(never_more_than_the_burst) {
    token_bucket b(10, 5, 0s);
    BOOST_TEST(b.full_at(0s));
    BOOST_TEST(b.try_take(0s));
    BOOST_TEST(!b.full_at(0s));
    BOOST_TEST(b.full_at(100ms));
    int taken = 0;
    while (b.try_take(1h)) ++taken; // an hour idle still holds only the burst
    BOOST_TEST(taken == 5);
}

BOOST_AUTO_TEST_CASE(time_going_back_refills_nothing) {
    token_bucket b(1000, 1, 10s);
    BOOST_TEST(b.try_take(10s));
    BOOST_TEST(!b.try_take(5s));
    BOOST_TEST(!b.try_take(10s));
    BOOST_TEST(b.try_take(10s + 1ms));
}

BOOST_AUTO_TEST_SUITE_END()
