// core/user_protocol: client frames decode strictly (malformed -> a
// protocol error, never an exception), server events encode as documented,
// and user_stream keeps numbering contiguous per registration, drops stale
// and foreign deliveries, reports gaps, and pairs mutation commits with the
// changes event that carries them (in either order of arrival).

#include "core/user_protocol.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

using namespace tlsync::core;
using namespace tlsync::core::user;
namespace json = boost::json;

namespace {

pg::user_delivery delivery(std::string seq, std::int64_t n, std::uint64_t at, json::array changes = {}) {
    auto mutation_number = max_mutation_commit(changes);
    return pg::user_delivery{"u1", pg::lsn{at}, json::serialize(changes), mutation_number, std::move(seq), n};
}

json::array commit_of(std::int64_t n) {
    return json::array{json::object{{"type", "mutation_commit"}, {"mutationNumber", n}, {"userId", "u1"}}};
}

json::object parse(const std::string& s) { return json::parse(s).as_object(); }

} // namespace

BOOST_AUTO_TEST_SUITE(user_protocol)

BOOST_AUTO_TEST_CASE(decodes_ping_and_mutate) {
    BOOST_TEST(std::holds_alternative<ping>(decode_client(R"({"type":"ping"})")));
    auto m = decode_client(R"({"type":"mutate","mutationId":"m1","updates":[]})");
    BOOST_REQUIRE(std::holds_alternative<mutate>(m));
    BOOST_TEST(std::get<mutate>(m).mutation_id == "m1");
    BOOST_TEST(std::get<mutate>(m).message.as_object().contains("updates"));
}

BOOST_AUTO_TEST_CASE(malformed_frames_are_protocol_errors) {
    for (const char* bad : {"", "nope", "[]", "42", R"({"type":1})", R"({"kind":"ping"})",
                            R"({"type":"mutate"})", R"({"type":"mutate","mutationId":""})",
                            R"({"type":"mutate","mutationId":7})", R"({"type":"explode"})"}) {
        BOOST_TEST_CONTEXT(bad) { BOOST_TEST(std::holds_alternative<protocol_error>(decode_client(bad))); }
    }
    std::string huge = R"({"type":"ping","x":")" + std::string(1000, 'a') + "\"}";
    BOOST_TEST(std::holds_alternative<protocol_error>(decode_client(huge, 100)));
}

BOOST_AUTO_TEST_CASE(encodes_events) {
    auto c = parse(encode_changes(delivery("E1b", 3, 0x10, commit_of(1))));
    BOOST_TEST(c.at("type").as_string() == "changes");
    BOOST_TEST(c.at("lsn").as_string() == "0/10");
    BOOST_TEST(c.at("sequenceId").as_string() == "E1b");
    BOOST_TEST(c.at("sequenceNumber").as_int64() == 3);
    BOOST_TEST(c.at("changes").as_array().size() == 1u);
    auto h = parse(encode_hello("E1b", 0, pg::lsn{0x20}));
    BOOST_TEST(h.at("resumed").as_bool());
    auto r = parse(encode_reload("sequence_break"));
    BOOST_TEST(r.at("reason").as_string() == "sequence_break");
    auto i = parse(encode_initial_data(pg::lsn{1}, "S", 0, json::object{{"user", nullptr}}));
    BOOST_TEST(i.at("type").as_string() == "initial_data");
    BOOST_TEST(i.at("data").as_object().contains("user"));
    auto j = parse(encode_reject("m1", "forbidden", "not your file"));
    BOOST_TEST(j.at("errorCode").as_string() == "forbidden");
    BOOST_TEST(parse(encode_commit({"a", "b"})).at("mutationIds").as_array().size() == 2u);
}

BOOST_AUTO_TEST_CASE(numbering_is_contiguous_per_registration) {
    user_stream s;
    BOOST_TEST(s.on_delivery(delivery("S1", 1, 1)).what == delivery_verdict::stale); // not registered
    s.reset("S1", 0);
    BOOST_TEST(s.on_delivery(delivery("S1", 1, 10)).what == delivery_verdict::send);
    BOOST_TEST(s.on_delivery(delivery("S1", 1, 10)).what == delivery_verdict::stale); // duplicate
    BOOST_TEST(s.on_delivery(delivery("S0", 2, 11)).what == delivery_verdict::stale); // old registration
    BOOST_TEST(s.on_delivery(delivery("S1", 2, 11)).what == delivery_verdict::send);
    BOOST_TEST(s.on_delivery(delivery("S1", 4, 13)).what == delivery_verdict::gap);
    BOOST_TEST(s.last_number() == 2);
    BOOST_TEST(s.last_lsn().value == 11u);
    s.reset("S2", 5); // replayed up to 5 elsewhere
    BOOST_TEST(s.on_delivery(delivery("S2", 5, 20)).what == delivery_verdict::stale);
    BOOST_TEST(s.on_delivery(delivery("S2", 6, 21)).what == delivery_verdict::send);
}

BOOST_AUTO_TEST_CASE(commit_follows_the_changes_event_that_carries_it) {
    user_stream s;
    s.reset("S", 0);
    BOOST_TEST(!s.on_mutation_applied("m1", 1));
    BOOST_TEST(!s.on_mutation_applied("m2", 2));
    auto v = s.on_delivery(delivery("S", 1, 5, commit_of(1)));
    BOOST_REQUIRE(v.frames.size() == 2u);
    BOOST_TEST(parse(*v.frames[0]).at("type").as_string() == "changes");
    auto c = parse(*v.frames[1]);
    BOOST_TEST(c.at("mutationIds").as_array() == json::array{"m1"});
    BOOST_TEST(s.pending_mutations() == 1u);
    // The stream overtakes the reply: the commit is sent when the reply comes.
    BOOST_TEST(s.on_delivery(delivery("S", 2, 6, commit_of(3))).frames.size() == 2u); // m2 (2 <= 3)
    auto late = s.on_mutation_applied("m3", 3);
    BOOST_REQUIRE(late);
    BOOST_TEST(parse(*late).at("mutationIds").as_array() == json::array{"m3"});
    BOOST_TEST(s.pending_mutations() == 0u);
}

BOOST_AUTO_TEST_CASE(finds_the_highest_mutation_commit) {
    json::array a{json::object{{"type", "row_update"}}, commit_of(4)[0], commit_of(2)[0],
                  json::object{{"type", "mutation_commit"}, {"mutationNumber", "9"}}};
    BOOST_TEST(max_mutation_commit(a).value_or(-1) == 9);
    BOOST_TEST(!max_mutation_commit(json::array{}).has_value());
}

BOOST_AUTO_TEST_SUITE_END()

// core/replication_files: which file rows close, restore or restrict rooms.
#include "core/replication_files.hpp"

BOOST_AUTO_TEST_SUITE(replication_files)

namespace {
pg::row_change file_change(pg::row_op op, json::object row) {
    return pg::row_change{op, "public", "file", std::move(row), {}, {}};
}
} // namespace

BOOST_AUTO_TEST_CASE(deleted_soft_deleted_view_only_and_truncated_files) {
    pg::transaction t;
    t.changes.push_back(file_change(pg::row_op::remove, {{"id", "f1"}, {"ownerId", "u"}}));
    t.changes.push_back(file_change(pg::row_op::update, {{"id", "f2"}, {"isDeleted", true}}));
    t.changes.push_back(file_change(pg::row_op::update,
                                    {{"id", "f3"}, {"isDeleted", false}, {"shared", true}, {"sharedLinkType", "view"}}));
    t.changes.push_back(file_change(pg::row_op::insert,
                                    {{"id", "f4"}, {"shared", false}, {"sharedLinkType", "edit"}, {"name", "N"}}));
    t.changes.push_back(file_change(pg::row_op::insert, {{"id", "f5"}, {"shared", true}, {"sharedLinkType", "edit"}}));
    t.changes.push_back(pg::row_change{pg::row_op::remove, "public", "file_state", {{"fileId", "f6"}}, {}, {}});
    t.truncates.push_back(pg::truncate_record{"public", "file", {}});
    auto ev = pg::file_events(t);
    BOOST_REQUIRE(ev.size() == 6u);
    BOOST_TEST(ev[0].what == pg::file_event::truncated);
    BOOST_TEST((ev[1].what == pg::file_event::deleted && ev[1].file_id == "f1"));
    BOOST_TEST((ev[2].what == pg::file_event::deleted && ev[2].file_id == "f2"));
    BOOST_TEST((ev[3].what == pg::file_event::live && ev[3].readonly));
    BOOST_TEST((ev[4].what == pg::file_event::live && ev[4].readonly && ev[4].name == "N"));
    BOOST_TEST((ev[5].what == pg::file_event::live && !ev[5].readonly));
}

BOOST_AUTO_TEST_SUITE_END()
