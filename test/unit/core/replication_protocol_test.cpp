// core/replication_protocol: LSN text form, Postgres epoch times, CopyData
// parsing on captured bytes, the standby status update encoding.

#include "core/replication_protocol.hpp"
#include "replication_test_util.hpp"

#include <boost/test/unit_test.hpp>

using namespace tlsync::core::pg;
using namespace tlsync::test;

BOOST_AUTO_TEST_SUITE(replication_protocol)

BOOST_AUTO_TEST_CASE(lsn_parse_and_format) {
    auto l = lsn::parse("16/B374D848");
    BOOST_REQUIRE(l);
    BOOST_TEST(l->value == 0x16B374D848ull);
    BOOST_TEST(l->to_string() == "16/B374D848");
    BOOST_TEST(lsn::parse("0/0")->value == 0u);
    BOOST_TEST(lsn{}.to_string() == "0/0");
    BOOST_TEST(lsn::parse("ffffffff/ffffffff")->value == ~std::uint64_t{0});
    BOOST_TEST(lsn{~std::uint64_t{0}}.to_string() == "FFFFFFFF/FFFFFFFF");
    BOOST_TEST(lsn::parse("0/1521b88")->to_string() == "0/1521B88");
    for (auto bad : {"", "/", "0/", "/0", "0", "1/2/3", "x/1", "1/-2", "+1/2", "123456789/0", "0/123456789",
                     "0x1/2", " 1/2", "1/2 "})
        BOOST_TEST(!lsn::parse(bad), bad);
}

BOOST_AUTO_TEST_CASE(lsn_compares_numerically) {
    // As strings "0/F" > "0/10"; as WAL positions it is the other way round.
    BOOST_TEST((*lsn::parse("0/F") < *lsn::parse("0/10")));
    BOOST_TEST((*lsn::parse("0/FFFFFFFF") < *lsn::parse("1/0")));
}

BOOST_AUTO_TEST_CASE(postgres_epoch) {
    using namespace std::chrono;
    auto y2k = system_clock::time_point(seconds(946'684'800));
    BOOST_TEST(to_pg_time(y2k) == 0);
    BOOST_TEST(to_pg_time(y2k + microseconds(1234567)) == 1234567);
    BOOST_TEST((from_pg_time(1234567) == y2k + microseconds(1234567)));
    BOOST_TEST((from_pg_time(-1) < y2k));
}

BOOST_AUTO_TEST_CASE(parses_captured_messages) {
    auto msgs = load_stream_fixture();
    BOOST_REQUIRE(msgs.size() > 10);
    std::size_t xlogs = 0, keepalives = 0;
    lsn prev_start;
    for (auto& m : msgs) {
        auto parsed = parse_copy_data(m);
        BOOST_REQUIRE(!std::holds_alternative<protocol_error>(parsed));
        if (auto* x = std::get_if<xlog_data>(&parsed)) {
            ++xlogs;
            BOOST_TEST(x->payload.size() == m.size() - xlog_data_header_size);
            BOOST_TEST(x->payload.front() == '{');
            BOOST_TEST(x->payload.back() == '}');
            BOOST_TEST((x->data_start >= prev_start)); // WAL order
            BOOST_TEST(x->send_time > 0);              // after 2000-01-01
            prev_start = x->data_start;
        } else {
            auto& k = std::get<primary_keepalive>(parsed);
            ++keepalives;
            BOOST_TEST(!k.wal_end.is_zero());
        }
    }
    BOOST_TEST(keepalives >= 1u);
    BOOST_TEST(xlogs == msgs.size() - keepalives);
    // The first XLogData of the capture: start 0/1521A48 carrying a BEGIN.
    auto first = std::get<xlog_data>(parse_copy_data(msgs[1]));
    BOOST_TEST(first.data_start.to_string() == "0/1521A48");
    BOOST_TEST(first.payload.starts_with(R"({"action":"B")"));
}

BOOST_AUTO_TEST_CASE(keepalive_fields) {
    auto k = std::get<primary_keepalive>(parse_copy_data(keepalive(0x0102030405060708ull, true)));
    BOOST_TEST(k.wal_end.value == 0x0102030405060708ull);
    BOOST_TEST(k.reply_requested);
    BOOST_TEST(!std::get<primary_keepalive>(parse_copy_data(keepalive(1, false))).reply_requested);
}

BOOST_AUTO_TEST_CASE(rejects_malformed_messages) {
    BOOST_TEST(std::holds_alternative<protocol_error>(parse_copy_data("")));
    BOOST_TEST(std::holds_alternative<protocol_error>(parse_copy_data(std::string("w", 1) + std::string(23, '\0'))));
    BOOST_TEST(std::holds_alternative<protocol_error>(parse_copy_data(keepalive(1, false) + "x")));
    BOOST_TEST(std::holds_alternative<protocol_error>(parse_copy_data(keepalive(1, false).substr(0, 17))));
    auto e = std::get<protocol_error>(parse_copy_data("\x01zz"));
    BOOST_TEST(e.what.find("0x01") != std::string::npos);
    // A header and an empty payload is well-formed.
    auto x = std::get<xlog_data>(parse_copy_data(xlog(5, "")));
    BOOST_TEST(x.payload.empty());
}

BOOST_AUTO_TEST_CASE(status_update_layout) {
    standby_status s{lsn{0x16B374D848ull}, lsn{0x16B374D848ull}, lsn{0x10}, 0x0A0B0C0D, true};
    auto bytes = encode_status_update(s);
    std::string_view b(bytes.data(), bytes.size());
    BOOST_TEST(b.size() == 34u);
    BOOST_TEST(b[0] == 'r');
    BOOST_TEST(b.substr(1, 8) == std::string_view("\0\0\0\x16\xb3\x74\xd8\x48", 8));
    BOOST_TEST(b.substr(17, 8) == std::string_view("\0\0\0\0\0\0\0\x10", 8));
    BOOST_TEST(b.substr(25, 8) == std::string_view("\0\0\0\0\x0a\x0b\x0c\x0d", 8));
    BOOST_TEST(b[33] == 1);
    auto back = parse_status_update(b);
    BOOST_REQUIRE(back);
    BOOST_TEST(back->written.value == s.written.value);
    BOOST_TEST(back->applied.value == 0x10u);
    BOOST_TEST(back->client_time == s.client_time);
    BOOST_TEST(back->reply_requested);
    BOOST_TEST(!parse_status_update(b.substr(1)));
}

BOOST_AUTO_TEST_SUITE_END()
