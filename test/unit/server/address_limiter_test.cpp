// server::address_limiter (--connection-rate-per-ip) and peer address parsing.

#include "server/address_limiter.hpp"

#include <boost/test/unit_test.hpp>

#include <string>

using namespace tlsync::server;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(address_limiter_suite)

BOOST_AUTO_TEST_CASE(each_address_has_its_own_bucket) {
    address_limiter l(2, 4);
    for (int i = 0; i < 4; ++i) BOOST_TEST(l.allow("10.0.0.1", 0s));
    BOOST_TEST(!l.allow("10.0.0.1", 0s));
    BOOST_TEST(l.allow("10.0.0.2", 0s)); // another address is not affected
    BOOST_TEST(l.allow("10.0.0.1", 500ms)); // refilled at 2 a second
    BOOST_TEST(!l.allow("10.0.0.1", 500ms));
}

BOOST_AUTO_TEST_CASE(the_table_is_bounded) {
    address_limiter l(1, 1, 100);
    for (int i = 0; i < 100; ++i) BOOST_TEST(l.allow("a" + std::to_string(i), 0s));
    BOOST_TEST(l.tracked() == 100u);
    // Full, every bucket still in use: starting over keeps the bound.
    BOOST_TEST(l.allow("new", 0s));
    BOOST_TEST(l.tracked() <= 100u);
    // Later, refilled buckets are what goes; one still in use stays.
    address_limiter m(1, 1, 100);
    for (int i = 0; i < 99; ++i) (void)m.allow("b" + std::to_string(i), 0s);
    (void)m.allow("recent", 9900ms);
    BOOST_TEST(m.tracked() == 100u);
    BOOST_TEST(m.allow("c", 10s));
    BOOST_TEST(m.tracked() == 2u); // "recent" and "c"
}

BOOST_AUTO_TEST_CASE(address_of_a_peer) {
    BOOST_TEST(address_of_peer("1.2.3.4:5678") == "1.2.3.4");
    BOOST_TEST(address_of_peer("[::1]:5678") == "::1");
    BOOST_TEST(address_of_peer("[fe80::1%eth0]:80") == "fe80::1%eth0");
    BOOST_TEST(address_of_peer("::1") == "::1");
    BOOST_TEST(address_of_peer("unknown") == "unknown");
}

BOOST_AUTO_TEST_SUITE_END()
