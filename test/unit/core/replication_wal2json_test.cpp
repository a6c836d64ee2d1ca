// core/wal2json: decoding wal2json format-version 2 records and collating
// them into transactions, on the captured stream and on hand-made lines.

#include "core/wal2json.hpp"
#include "replication_test_util.hpp"

#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

using namespace tlsync::core::pg;
using namespace tlsync::test;
namespace json = boost::json;

namespace {

lsn L(const char* s) { return *lsn::parse(s); }

// Every output of the collator over the captured stream.
std::vector<collator_output> collate_fixture() {
    transaction_collator c;
    std::vector<collator_output> out;
    for (auto& m : load_stream_fixture()) {
        auto parsed = parse_copy_data(m);
        auto* x = std::get_if<xlog_data>(&parsed);
        if (!x) continue;
        auto o = c.feed(x->data_start, x->payload);
        if (!std::holds_alternative<std::monostate>(o)) out.push_back(std::move(o));
    }
    BOOST_TEST(!c.in_transaction());
    return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(replication_wal2json)

BOOST_AUTO_TEST_CASE(decodes_begin_and_commit) {
    auto b = std::get<begin_record>(decode_wal2json(R"({"action":"B","xid":731,"lsn":"0/1521B58","nextlsn":"0/1521B88"})"));
    BOOST_TEST(*b.xid == 731u);
    BOOST_TEST(b.commit_lsn.to_string() == "0/1521B58");
    BOOST_TEST(b.end_lsn.to_string() == "0/1521B88");
    auto c = std::get<commit_record>(decode_wal2json(R"({"action":"C"})"));
    BOOST_TEST(!c.xid);
    BOOST_TEST(c.end_lsn.is_zero());
}

BOOST_AUTO_TEST_CASE(decodes_insert_with_typed_values) {
    auto r = std::get<row_change>(decode_wal2json(
        R"({"action":"I","xid":1,"lsn":"0/10","schema":"public","table":"user","columns":[)"
        R"({"name":"id","type":"text","value":"u2"},{"name":"name","type":"text","value":"Bob \"b\""},)"
        R"({"name":"locale","type":"text","value":null},{"name":"createdAt","type":"bigint","value":9007199254740993},)"
        R"({"name":"ok","type":"boolean","value":true},{"name":"prefs","type":"jsonb","value":"{\"a\": 1}"}]})"));
    BOOST_TEST((r.op == row_op::insert));
    BOOST_TEST(r.schema == "public");
    BOOST_TEST(r.table == "user");
    BOOST_TEST(r.position.value == 0x10u);
    BOOST_TEST(r.row.at("id").as_string() == "u2");
    BOOST_TEST(r.row.at("name").as_string() == "Bob \"b\"");
    BOOST_TEST(r.row.at("locale").is_null());
    BOOST_TEST(r.row.at("createdAt").as_int64() == 9007199254740993); // beyond 2^53, exact
    BOOST_TEST(r.row.at("ok").as_bool());
    BOOST_TEST(r.row.at("prefs").as_string() == R"({"a": 1})");
    BOOST_TEST(r.identity.empty());
}

BOOST_AUTO_TEST_CASE(update_fills_unchanged_toast_columns_from_identity) {
    // wal2json leaves an unchanged TOASTed column out of the new tuple.
    auto r = std::get<row_change>(decode_wal2json(
        R"({"action":"U","schema":"public","table":"file","columns":[{"name":"id","type":"text","value":"f1"},)"
        R"({"name":"name","type":"text","value":"new"}],"identity":[{"name":"id","type":"text","value":"f1"},)"
        R"({"name":"name","type":"text","value":"old"},{"name":"thumbnail","type":"text","value":"BIG"}]})"));
    BOOST_TEST((r.op == row_op::update));
    BOOST_TEST(r.row.at("name").as_string() == "new");
    BOOST_TEST(r.row.at("thumbnail").as_string() == "BIG");
    BOOST_TEST(r.identity.at("name").as_string() == "old");
}

BOOST_AUTO_TEST_CASE(delete_row_is_identity) {
    auto r = std::get<row_change>(decode_wal2json(
        R"({"action":"D","schema":"public","table":"file_state","identity":[{"name":"userId","type":"text","value":"u2"},{"name":"fileId","type":"text","value":"f1"}]})"));
    BOOST_TEST((r.op == row_op::remove));
    BOOST_TEST(r.row == r.identity);
    BOOST_TEST(r.row.at("userId").as_string() == "u2");
    BOOST_TEST(to_string(r.op) == "delete");
}

BOOST_AUTO_TEST_CASE(decodes_messages_and_truncate) {
    auto m = std::get<logical_message>(decode_wal2json(
        R"({"action":"M","xid":null,"lsn":"0/1522558","transactional":false,"prefix":"requestLsnUpdate","content":"u1"})"));
    BOOST_TEST(!m.transactional);
    BOOST_TEST(m.prefix == "requestLsnUpdate");
    BOOST_TEST(m.content == "u1");
    BOOST_TEST(m.position.to_string() == "0/1522558");
    auto t = std::get<truncate_record>(decode_wal2json(R"({"action":"T","schema":"public","table":"file"})"));
    BOOST_TEST(t.table == "file");
}

BOOST_AUTO_TEST_CASE(rejects_malformed_records) {
    for (const char* bad : {
             "", "[]", "{", R"({"action":"X"})", R"({"action":"BB"})", R"({})", R"({"action":1})",
             R"({"action":"B","lsn":"zz"})", R"({"action":"B","xid":-1})", R"({"action":"B","xid":"1"})",
             R"({"action":"I","schema":"s","table":"t"})",                         // no columns
             R"({"action":"I","schema":"s","table":"t","columns":{}})",            // not an array
             R"({"action":"I","schema":"s","table":"t","columns":[{"value":1}]})", // no name
             R"({"action":"D","schema":"s","table":"t"})",                         // no identity
             R"({"action":"I","table":"t","columns":[]})",                         // no schema
             R"({"action":"M","prefix":"p","content":"c"})",                       // no transactional
         }) {
        BOOST_TEST(std::holds_alternative<decode_error>(decode_wal2json(bad)), bad);
    }
}

BOOST_AUTO_TEST_CASE(collates_the_captured_stream) {
    auto out = collate_fixture();
    // 9 transactions (2 with only filtered-out work) and one non-transactional message.
    BOOST_REQUIRE(out.size() == 10u);
    auto tx = [&](std::size_t i) -> transaction& { return std::get<transaction>(out.at(i)); };

    BOOST_TEST(tx(0).end_lsn.to_string() == "0/1521B88");
    BOOST_TEST(tx(0).commit_lsn.to_string() == "0/1521B58");
    BOOST_TEST(*tx(0).xid == 731u);
    BOOST_REQUIRE(tx(0).changes.size() == 1u);
    BOOST_TEST(tx(0).changes[0].row.at("name").as_string() == "Ada");

    auto& t1 = tx(1);
    BOOST_TEST(t1.end_lsn.to_string() == "0/15222F0");
    BOOST_REQUIRE(t1.changes.size() == 5u);
    const char* tables[] = {"user", "file", "file_state", "file_state", "user_mutation_number"};
    for (std::size_t i = 0; i < 5; ++i) {
        BOOST_TEST(t1.changes[i].table == tables[i]);
        BOOST_TEST((t1.changes[i].op == row_op::insert));
        if (i) BOOST_TEST((t1.changes[i - 1].position < t1.changes[i].position));
    }
    BOOST_TEST(t1.changes[0].row.at("name").as_string() == "Bob \"the builder\"");
    BOOST_TEST(t1.changes[0].row.at("preferences").as_string() == R"({"a": [1, 2]})");
    BOOST_TEST(t1.changes[3].row.at("isFileOwner").as_bool() == false);
    BOOST_TEST(t1.changes[4].row.at("mutationNumber").as_int64() == 1);

    // file update under REPLICA IDENTITY FULL: the old row comes along.
    auto& up = tx(2).changes.at(0);
    BOOST_TEST((up.op == row_op::update));
    BOOST_TEST(up.row.at("name").as_string() == "Plans v2");
    BOOST_TEST(up.identity.at("name").as_string() == "Plans");
    BOOST_TEST(up.identity.at("published").as_bool() == false);
    BOOST_TEST(up.row.at("published").as_bool() == true);

    // user update under REPLICA IDENTITY DEFAULT: only the key.
    BOOST_TEST(tx(3).changes.at(0).identity.size() == 1u);

    // A transactional requestLsnUpdate rides in its transaction.
    BOOST_TEST(tx(4).changes.empty());
    BOOST_REQUIRE(tx(4).messages.size() == 1u);
    BOOST_TEST(tx(4).messages[0].content == "u2");

    // A non-transactional one comes out on its own, at once.
    auto& m = std::get<logical_message>(out.at(5));
    BOOST_TEST(m.content == "u1");
    BOOST_TEST(m.position.to_string() == "0/1522558");

    BOOST_TEST((tx(6).changes.at(0).op == row_op::remove));
    // Deleting a file cascades to its file_state in the same transaction;
    // FULL identity carries the owner needed to route it.
    BOOST_REQUIRE(tx(7).changes.size() == 2u);
    BOOST_TEST(tx(7).changes[0].row.at("ownerId").as_string() == "u1");
    BOOST_TEST(tx(7).changes[1].table == "file_state");

    // add-tables filters rows, not transactions.
    BOOST_TEST(tx(8).changes.empty());
    BOOST_TEST(tx(9).changes.empty());
    BOOST_TEST(tx(9).end_lsn.to_string() == "0/1524BE8");

    lsn prev;
    for (auto& o : out)
        if (auto* t = std::get_if<transaction>(&o)) {
            BOOST_TEST((prev < t->end_lsn));
            prev = t->end_lsn;
        }
}

BOOST_AUTO_TEST_CASE(commit_end_lsn_defaults_to_xlog_start) {
    // Without include-lsn the C record's XLogData start is the commit's end.
    transaction_collator c;
    BOOST_TEST(std::holds_alternative<std::monostate>(c.feed(L("0/100"), R"({"action":"B"})")));
    BOOST_TEST(c.in_transaction());
    (void)c.feed(L("0/100"), R"({"action":"I","schema":"public","table":"t","columns":[]})");
    auto t = std::get<transaction>(c.feed(L("0/180"), R"({"action":"C"})"));
    BOOST_TEST(t.end_lsn.to_string() == "0/180");
    BOOST_TEST(t.changes.size() == 1u);
}

BOOST_AUTO_TEST_CASE(sequence_errors) {
    auto is_error = [](const collator_output& o) { return std::holds_alternative<decode_error>(o); };
    transaction_collator c;
    BOOST_TEST(is_error(c.feed(L("0/1"), R"({"action":"I","schema":"s","table":"t","columns":[]})")));
    BOOST_TEST(is_error(c.feed(L("0/1"), R"({"action":"C"})")));
    (void)c.feed(L("0/1"), R"({"action":"B","xid":5})");
    BOOST_TEST(is_error(c.feed(L("0/1"), R"({"action":"B","xid":6})")));
    BOOST_TEST(!c.in_transaction()); // an error drops the open transaction
    (void)c.feed(L("0/1"), R"({"action":"B","xid":5})");
    BOOST_TEST(is_error(c.feed(L("0/2"), R"({"action":"C","xid":6})")));
    (void)c.feed(L("0/1"), R"({"action":"B","xid":5})");
    BOOST_TEST(is_error(c.feed(L("0/2"), "not json")));
    BOOST_TEST(!c.in_transaction());
    // After an error the collator starts over cleanly.
    (void)c.feed(L("0/1"), R"({"action":"B","xid":7})");
    BOOST_TEST(std::holds_alternative<transaction>(c.feed(L("0/2"), R"({"action":"C","xid":7})")));
}

BOOST_AUTO_TEST_CASE(transaction_size_is_bounded) {
    transaction_collator c(200);
    (void)c.feed(L("0/1"), R"({"action":"B"})");
    std::string row = R"({"action":"I","schema":"public","table":"t","columns":[{"name":"x","type":"text","value":"0123456789012345678901234567890123456789"}]})";
    BOOST_TEST(std::holds_alternative<std::monostate>(c.feed(L("0/2"), row)));
    auto o = c.feed(L("0/3"), row);
    BOOST_REQUIRE(std::holds_alternative<decode_error>(o));
    BOOST_TEST(std::get<decode_error>(o).what.find("larger than") != std::string::npos);
    BOOST_TEST(!c.in_transaction());
}

BOOST_AUTO_TEST_CASE(reset_drops_a_half_received_transaction) {
    transaction_collator c;
    (void)c.feed(L("0/1"), R"({"action":"B","xid":1})");
    (void)c.feed(L("0/1"), R"({"action":"I","schema":"s","table":"t","columns":[]})");
    c.reset();
    BOOST_TEST(!c.in_transaction());
    (void)c.feed(L("0/1"), R"({"action":"B","xid":1})");
    auto t = std::get<transaction>(c.feed(L("0/2"), R"({"action":"C","xid":1})"));
    BOOST_TEST(t.changes.empty());
}

BOOST_AUTO_TEST_SUITE_END()
