// core/replication_stream: acknowledgement only of what is recorded,
// deduplication of redelivered transactions, ping and dead-stream deadlines.
// Stepped through with a fake clock, no sockets.

#include "core/replication_stream.hpp"
#include "replication_test_util.hpp"

#include <boost/test/unit_test.hpp>

using namespace tlsync::core::pg;
using namespace tlsync::test;
using std::chrono::milliseconds;

namespace {

lsn L(const char* s) { return *lsn::parse(s); }

struct collected {
    std::vector<transaction> delivered;
    std::vector<logical_message> messages;
    std::vector<standby_status> statuses;
    std::vector<std::string> failures;
    std::vector<lsn> advances;
};

collected drain(replication_stream& s) {
    collected c;
    for (auto& a : s.take_actions()) {
        if (auto* d = std::get_if<stream_action::deliver>(&a)) c.delivered.push_back(std::move(d->t));
        else if (auto* m = std::get_if<stream_action::message>(&a)) c.messages.push_back(std::move(m->m));
        else if (auto* st = std::get_if<stream_action::send_status>(&a)) c.statuses.push_back(st->status);
        else if (auto* ad = std::get_if<stream_action::advance>(&a)) c.advances.push_back(ad->to);
        else c.failures.push_back(std::get<stream_action::fail>(a).reason);
    }
    return c;
}

void feed_all(replication_stream& s, const std::vector<std::string>& msgs, milliseconds now) {
    for (auto& m : msgs) s.on_copy_data(m, now);
}

// Every on_recorded acknowledged at once, so each step can be checked.
stream_config immediate() {
    stream_config c;
    c.ack_interval = milliseconds(0);
    return c;
}

const std::string B = R"({"action":"B"})";
const std::string C = R"({"action":"C"})";
const std::string I = R"({"action":"I","schema":"public","table":"user","columns":[{"name":"id","type":"text","value":"u"}]})";

} // namespace

BOOST_AUTO_TEST_SUITE(replication_stream_suite)

BOOST_AUTO_TEST_CASE(acknowledges_only_what_is_recorded) {
    replication_stream s(L("0/1000000"), immediate(), milliseconds(0));
    auto msgs = load_stream_fixture();
    feed_all(s, msgs, milliseconds(1));
    auto c = drain(s);
    BOOST_TEST(c.failures.empty());
    BOOST_REQUIRE(c.delivered.size() == 9u);
    BOOST_TEST(c.messages.size() == 1u);
    // Neither XLogData nor a keepalive without reply request acknowledges anything.
    BOOST_TEST(c.statuses.empty());
    BOOST_TEST(s.recorded().to_string() == "0/1000000");
    BOOST_TEST(s.server_wal_end().to_string() == "0/1524BE8");

    s.on_recorded(c.delivered[0].end_lsn, milliseconds(2));
    auto c2 = drain(s);
    BOOST_REQUIRE(c2.statuses.size() == 1u);
    BOOST_TEST(c2.statuses[0].flushed.to_string() == "0/1521B88");
    BOOST_TEST(c2.statuses[0].written.to_string() == "0/1521B88");
    BOOST_TEST(!c2.statuses[0].reply_requested);

    // Going backwards or repeating is a no-op.
    s.on_recorded(c.delivered[0].end_lsn, milliseconds(3));
    s.on_recorded(L("0/1"), milliseconds(3));
    BOOST_TEST(drain(s).statuses.empty());
    s.on_recorded(c.delivered.back().end_lsn, milliseconds(4));
    BOOST_TEST(drain(s).statuses.at(0).flushed.to_string() == "0/1524BE8");
    BOOST_TEST(s.stats().transactions == 9u);
}

BOOST_AUTO_TEST_CASE(keepalive_reply_carries_recorded_lsn_not_wal_end) {
    replication_stream s(L("0/500"), {}, milliseconds(0));
    s.on_copy_data(keepalive(0x9000, true), milliseconds(1));
    auto c = drain(s);
    BOOST_REQUIRE(c.statuses.size() == 1u);
    BOOST_TEST(c.statuses[0].flushed.value == 0x500u);
    BOOST_TEST(s.server_wal_end().value == 0x9000u);
    BOOST_REQUIRE(c.advances.size() == 1u); // idle: walEnd may be recorded, then acknowledged
    BOOST_TEST(c.advances[0].value == 0x9000u);
    s.on_copy_data(keepalive(0x9100, false), milliseconds(2));
    auto c2 = drain(s);
    BOOST_TEST(c2.statuses.empty());
    BOOST_TEST(c2.advances.size() == 1u);
    BOOST_TEST(s.stats().keepalives == 2u);
}

BOOST_AUTO_TEST_CASE(idle_wal_end_is_acknowledged_only_once_recorded_and_never_mid_transaction) {
    replication_stream s(L("0/500"), immediate(), milliseconds(0));
    // A transaction is open: no advance.
    s.on_copy_data(xlog(0x600, R"({"action":"B","xid":1,"lsn":"0/700","nextlsn":"0/800"})"), milliseconds(1));
    s.on_copy_data(keepalive(0x650, false), milliseconds(1));
    BOOST_TEST(drain(s).advances.empty());
    s.on_copy_data(xlog(0x700, R"({"action":"C","xid":1,"lsn":"0/700","nextlsn":"0/800"})"), milliseconds(2));
    auto c = drain(s);
    BOOST_REQUIRE(c.delivered.size() == 1u);
    // Delivered but not yet recorded: no advance either.
    s.on_copy_data(keepalive(0x900, false), milliseconds(3));
    BOOST_TEST(drain(s).advances.empty());
    s.on_recorded(L("0/800"), milliseconds(4));
    BOOST_TEST(drain(s).statuses.at(0).flushed.value == 0x800u);
    s.on_copy_data(keepalive(0x900, false), milliseconds(5));
    auto c2 = drain(s);
    BOOST_REQUIRE(c2.advances.size() == 1u);
    BOOST_TEST(c2.advances[0].value == 0x900u);
    BOOST_TEST(c2.statuses.empty()); // acknowledged only after the caller records it
    s.on_recorded(L("0/900"), milliseconds(6));
    BOOST_TEST(drain(s).statuses.at(0).flushed.value == 0x900u);
    s.on_copy_data(keepalive(0x900, false), milliseconds(7));
    BOOST_TEST(drain(s).advances.empty()); // nothing new
}

BOOST_AUTO_TEST_CASE(acknowledgements_are_merged_within_the_interval) {
    stream_config cfg; // ack_interval 100 ms
    replication_stream s(L("0/100"), cfg, milliseconds(0));
    s.on_recorded(L("0/200"), milliseconds(1)); // the first goes at once
    BOOST_TEST(drain(s).statuses.at(0).flushed.value == 0x200u);
    s.on_recorded(L("0/300"), milliseconds(20));
    s.on_recorded(L("0/400"), milliseconds(40));
    BOOST_TEST(drain(s).statuses.empty());
    BOOST_TEST(s.next_deadline().count() == 101);
    s.on_timer(milliseconds(60));
    BOOST_TEST(drain(s).statuses.empty());
    // Due: the next message or timer carries the latest recorded LSN.
    s.on_copy_data(keepalive(0x500, false), milliseconds(101));
    auto c = drain(s);
    BOOST_REQUIRE(c.statuses.size() == 1u);
    BOOST_TEST(c.statuses[0].flushed.value == 0x400u);
    s.on_recorded(L("0/500"), milliseconds(150));
    s.on_timer(milliseconds(201));
    BOOST_TEST(drain(s).statuses.at(0).flushed.value == 0x500u);
    // A keepalive reply carries the recorded LSN too, and counts as the ack.
    s.on_recorded(L("0/600"), milliseconds(210));
    s.on_copy_data(keepalive(0x700, true), milliseconds(220));
    auto r = drain(s);
    BOOST_REQUIRE(r.statuses.size() == 1u);
    BOOST_TEST(r.statuses[0].flushed.value == 0x600u);
    s.on_timer(milliseconds(400));
    BOOST_TEST(drain(s).statuses.empty());
}

BOOST_AUTO_TEST_CASE(drops_redelivered_transactions) {
    // After a reconnect the server may resend transactions whose
    // acknowledgement it never got; they must not reach the caller twice.
    auto msgs = load_stream_fixture();
    replication_stream s(L("0/15223E8"), {}, milliseconds(0)); // the third transaction's end
    feed_all(s, msgs, milliseconds(1));
    auto c = drain(s);
    BOOST_TEST(s.stats().redelivered == 3u);
    BOOST_REQUIRE(c.delivered.size() == 6u);
    BOOST_TEST(c.delivered[0].end_lsn.to_string() == "0/1522498");
}

BOOST_AUTO_TEST_CASE(pings_when_idle_and_fails_when_dead) {
    stream_config cfg;
    replication_stream s(L("0/10"), cfg, milliseconds(1000));
    BOOST_TEST(s.next_deadline().count() == 6000);
    s.on_timer(milliseconds(5999));
    BOOST_TEST(drain(s).statuses.empty());
    s.on_timer(milliseconds(6000));
    auto c = drain(s);
    BOOST_REQUIRE(c.statuses.size() == 1u);
    BOOST_TEST(c.statuses[0].reply_requested); // asks for a keepalive back
    BOOST_TEST(c.statuses[0].flushed.value == 0x10u);
    // One ping per interval, not one per timer call.
    s.on_timer(milliseconds(7000));
    BOOST_TEST(drain(s).statuses.empty());
    BOOST_TEST(s.next_deadline().count() == 11000);

    // The keepalive that answers the ping restarts both clocks.
    s.on_copy_data(keepalive(0x20, false), milliseconds(8000));
    BOOST_TEST(s.next_deadline().count() == 13000);
    s.on_timer(milliseconds(13000));
    BOOST_TEST(drain(s).statuses.size() == 1u);
    s.on_timer(milliseconds(17999));
    BOOST_TEST(drain(s).failures.empty());
    s.on_timer(milliseconds(18000));
    auto dead = drain(s);
    BOOST_REQUIRE(dead.failures.size() == 1u);
    BOOST_TEST(dead.failures[0].find("10000 ms") != std::string::npos);
    BOOST_TEST(s.failed());
    // Nothing happens on a failed stream.
    s.on_copy_data(keepalive(0x30, true), milliseconds(18001));
    s.on_timer(milliseconds(30000));
    BOOST_TEST(s.take_actions().empty());
}

BOOST_AUTO_TEST_CASE(traffic_keeps_the_stream_alive) {
    replication_stream s(L("0/10"), {}, milliseconds(0));
    for (int t = 1000; t <= 60000; t += 1000) {
        s.on_copy_data(xlog(0x100 + t, B), milliseconds(t));
        s.on_copy_data(xlog(0x100 + t, C), milliseconds(t));
        s.on_timer(milliseconds(t));
    }
    auto c = drain(s);
    BOOST_TEST(c.failures.empty());
    BOOST_TEST(c.statuses.empty());
    BOOST_TEST(c.delivered.size() == 60u);
}

BOOST_AUTO_TEST_CASE(protocol_and_decode_errors_fail_once) {
    {
        replication_stream s(L("0/10"), {}, milliseconds(0));
        s.on_copy_data("z", milliseconds(1));
        s.on_copy_data("z", milliseconds(2));
        auto c = drain(s);
        BOOST_REQUIRE(c.failures.size() == 1u);
        BOOST_TEST(c.failures[0].find("unknown CopyData") != std::string::npos);
    }
    {
        replication_stream s(L("0/10"), {}, milliseconds(0));
        s.on_copy_data(xlog(0x20, I), milliseconds(1)); // a row outside BEGIN
        auto c = drain(s);
        BOOST_REQUIRE(c.failures.size() == 1u);
        BOOST_TEST(c.failures[0].starts_with("wal2json: "));
        BOOST_TEST(c.delivered.empty());
    }
}

BOOST_AUTO_TEST_CASE(a_half_transaction_is_never_delivered) {
    // The connection drops inside a transaction: the new stream gets it again
    // from its BEGIN, and only then delivers it.
    replication_stream first(L("0/10"), {}, milliseconds(0));
    first.on_copy_data(xlog(0x20, B), milliseconds(1));
    first.on_copy_data(xlog(0x20, I), milliseconds(1));
    first.on_timer(milliseconds(20000));
    auto c = drain(first);
    BOOST_TEST(c.delivered.empty());
    BOOST_TEST(c.failures.size() == 1u);

    replication_stream second(first.recorded(), {}, milliseconds(20000));
    second.on_copy_data(xlog(0x20, B), milliseconds(20001));
    second.on_copy_data(xlog(0x20, I), milliseconds(20001));
    second.on_copy_data(xlog(0x40, C), milliseconds(20001));
    auto c2 = drain(second);
    BOOST_REQUIRE(c2.delivered.size() == 1u);
    BOOST_TEST(c2.delivered[0].changes.size() == 1u);
    BOOST_TEST(c2.delivered[0].end_lsn.value == 0x40u);
}

BOOST_AUTO_TEST_SUITE_END()
