// The websocket writer's frame building (core/outbound.hpp): data messages
// queued together become one data frame, other kinds are left alone, and a
// size cap splits long runs.

#include "core/outbound.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <deque>

using namespace tlsync::core;

namespace {

outbound_message data(std::initializer_list<const char*> events) {
    outbound_message m{outbound_kind::data, {}};
    for (const char* e : events) m.parts.push_back(make_shared_text(e));
    return m;
}

outbound_message single(outbound_kind kind, const char* text) {
    return {kind, {make_shared_text(text)}};
}

} // namespace

BOOST_AUTO_TEST_SUITE(outbound_coalescing)

BOOST_AUTO_TEST_CASE(consecutive_data_messages_join_into_one_data_frame) {
    std::deque<outbound_message> q{data({R"({"a":1})", R"({"b":2})"}), data({R"({"c":3})"}),
                                   single(outbound_kind::pong, R"({"type":"pong"})"),
                                   data({R"({"d":4})"})};
    const auto n = data_run_length(q.begin(), q.end(), 1 << 20);
    BOOST_TEST(n == 2u);
    std::string out = "stale";
    coalesce_data(q.begin(), q.begin() + 2, out);
    BOOST_TEST(out == R"({"type":"data","data":[{"a":1},{"b":2},{"c":3}]})");
    // The same events, in the same order, as the two messages one after the other.
    const auto joined = boost::json::parse(out).at("data").as_array();
    BOOST_TEST(joined.size() == 3u);
}

BOOST_AUTO_TEST_CASE(a_lone_data_message_is_written_as_it_would_be_alone) {
    std::deque<outbound_message> q{data({R"("x")", R"("y")"})};
    BOOST_TEST(data_run_length(q.begin(), q.end(), 1 << 20) == 1u);
    std::string out;
    coalesce_data(q.begin(), q.end(), out);
    BOOST_TEST(out == q.front().text());
}

BOOST_AUTO_TEST_CASE(other_kinds_are_never_joined) {
    std::deque<outbound_message> q{single(outbound_kind::connect, R"({"type":"connect"})"),
                                   data({R"("x")"})};
    BOOST_TEST(data_run_length(q.begin(), q.end(), 1 << 20) == 0u);
    q.pop_front();
    q.push_back(single(outbound_kind::custom, R"({"type":"custom"})"));
    BOOST_TEST(data_run_length(q.begin(), q.end(), 1 << 20) == 1u);
}

BOOST_AUTO_TEST_CASE(the_cap_splits_a_run_but_never_starves_a_large_message) {
    const std::string big(100, 'x');
    std::deque<outbound_message> q;
    for (int i = 0; i < 5; ++i) q.push_back(data({big.c_str()}));
    // Framing is 25 bytes: {"type":"data","data":[ ... ]} ; each extra event adds a comma.
    BOOST_TEST(data_run_length(q.begin(), q.end(), 25 + 100) == 1u);
    BOOST_TEST(data_run_length(q.begin(), q.end(), 25 + 201) == 2u);
    BOOST_TEST(data_run_length(q.begin(), q.end(), 25 + 200) == 1u);
    BOOST_TEST(data_run_length(q.begin(), q.end(), 10) == 1u); // larger than the cap: alone
    std::string out;
    coalesce_data(q.begin(), q.begin() + 2, out);
    BOOST_TEST(out.size() == 25u + 201u);
}

BOOST_AUTO_TEST_CASE(empty_data_messages_do_not_leave_stray_commas) {
    std::deque<outbound_message> q{data({}), data({R"("a")"}), data({}), data({R"("b")"})};
    BOOST_TEST(data_run_length(q.begin(), q.end(), 1 << 20) == 4u);
    std::string out;
    coalesce_data(q.begin(), q.end(), out);
    BOOST_TEST(out == R"({"type":"data","data":["a","b"]})");
}

BOOST_AUTO_TEST_SUITE_END()
