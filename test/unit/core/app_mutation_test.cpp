// core/app_mutation: a mutate message becomes typed row updates, or one
// error with the protocol's code and a reason that names the update: unknown
// tables, events and columns, wrong JSON types, missing keys, rows of other
// users, limits. Columns a client echoes but may not write are dropped.

#include "core/app_mutation.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>

using namespace tlsync::core::app;
namespace json = boost::json;

namespace {

json::value msg(std::string_view updates, std::string_view id = "m1") {
    return json::parse(R"({"type":"mutate","mutationId":")" + std::string(id) + R"(","updates":)" +
                       std::string(updates) + "}");
}

parsed_mutation parse(std::string_view updates, const mutation_limits& l = {}) {
    return parse_mutation(msg(updates), "u1", l);
}

// The error code of a single update, or "ok".
std::string code_of(std::string_view update, const mutation_limits& l = {}) {
    auto p = parse("[" + std::string(update) + "]", l);
    return p.ok() ? "ok" : std::string(to_string(p.error->code));
}

} // namespace

BOOST_AUTO_TEST_SUITE(app_mutation)

BOOST_AUTO_TEST_CASE(parses_typed_updates_in_order) {
    auto p = parse(R"([
        {"table":"file","event":"insert","row":{"id":"f1","name":"Plan","shared":false,"createdAt":5}},
        {"table":"file_state","event":"update","row":{"userId":"u1","fileId":"f1","isPinned":true,"lastVisitAt":null}},
        {"table":"user","event":"update","row":{"id":"u1","name":"Alice","preferences":"{\"a\":1}","locale":null}},
        {"table":"file","event":"delete","row":{"id":"f2"}}])");
    BOOST_REQUIRE_MESSAGE(p.ok(), p.error->reason);
    BOOST_TEST(p.mutation_id == "m1");
    BOOST_REQUIRE(p.updates.size() == 4u);
    BOOST_TEST((p.updates[0].table == app_table::file && p.updates[0].event == row_event::insert));
    // A file insert always names its owner: the user.
    BOOST_TEST(p.updates[0].row.at("ownerId").as_string() == "u1");
    BOOST_TEST(p.updates[0].row.at("createdAt").as_int64() == 5);
    BOOST_TEST((p.updates[1].table == app_table::file_state && p.updates[1].event == row_event::update));
    BOOST_TEST(p.updates[1].row.at("lastVisitAt").is_null());
    BOOST_TEST(p.updates[2].row.at("preferences").as_string() == R"({"a":1})");
    BOOST_TEST(p.updates[2].row.at("locale").is_null());
    BOOST_TEST((p.updates[3].event == row_event::remove));
    BOOST_TEST(p.updates[3].row.size() == 1u);
}

BOOST_AUTO_TEST_CASE(an_empty_mutation_is_valid) {
    auto p = parse("[]");
    BOOST_TEST(p.ok());
    BOOST_TEST(p.updates.empty());
}

BOOST_AUTO_TEST_CASE(message_shape_errors_are_bad_requests) {
    for (const char* bad : {R"([])", R"({"type":"mutate","updates":[]})", R"({"type":"mutate","mutationId":7,"updates":[]})",
                            R"({"type":"mutate","mutationId":"","updates":[]})",
                            R"({"type":"ping","mutationId":"m","updates":[]})",
                            R"({"type":"mutate","mutationId":"m"})", R"({"type":"mutate","mutationId":"m","updates":{}})"}) {
        BOOST_TEST_CONTEXT(bad) {
            auto p = parse_mutation(json::parse(bad), "u1");
            BOOST_REQUIRE(!p.ok());
            BOOST_TEST((p.error->code == error_code::bad_request));
            BOOST_TEST(!p.error->reason.empty());
        }
    }
    // The mutation id is kept for the reject whenever there was one.
    auto p = parse_mutation(json::parse(R"({"type":"mutate","mutationId":"m9","updates":5})"), "u1");
    BOOST_TEST(p.mutation_id == "m9");
}

BOOST_AUTO_TEST_CASE(unknown_tables_events_columns_and_fields) {
    BOOST_TEST(code_of(R"({"table":"room","event":"insert","row":{"id":"x"}})") == "bad_request");
    BOOST_TEST(code_of(R"({"table":"user_mutation_number","event":"update","row":{"userId":"u1"}})") == "bad_request");
    BOOST_TEST(code_of(R"({"table":"file","event":"upsert","row":{"id":"x"}})") == "bad_request");
    BOOST_TEST(code_of(R"({"table":"file","event":"insert","row":{"id":"x","owner":"u1"}})") == "bad_request");
    BOOST_TEST(code_of(R"({"table":"file","event":"insert","row":{"id":"x"},"extra":1})") == "bad_request");
    BOOST_TEST(code_of(R"({"table":"file","event":"insert"})") == "bad_request");
    BOOST_TEST(code_of(R"({"table":"file","event":"insert","row":[]})") == "bad_request");
    BOOST_TEST(code_of(R"("file")") == "bad_request");
    auto p = parse(R"([{"table":"file","event":"insert","row":{"id":"x"}},
                       {"table":"file","event":"update","row":{"id":"x","colour":"red"}}])");
    BOOST_REQUIRE(!p.ok());
    BOOST_TEST(p.error->reason.find("updates[1]") != std::string::npos);
    BOOST_TEST(p.error->reason.find("colour") != std::string::npos);
    BOOST_TEST(p.updates.empty());
}

BOOST_AUTO_TEST_CASE(json_types_per_column) {
    BOOST_TEST(code_of(R"({"table":"file","event":"update","row":{"id":"f","name":3}})") == "bad_request");
    BOOST_TEST(code_of(R"({"table":"file","event":"update","row":{"id":"f","name":null}})") == "bad_request");
    BOOST_TEST(code_of(R"({"table":"file","event":"update","row":{"id":"f","shared":"yes"}})") == "bad_request");
    BOOST_TEST(code_of(R"({"table":"file","event":"update","row":{"id":"f","shared":true}})") == "ok");
    BOOST_TEST(code_of(R"({"table":"file","event":"update","row":{"id":"f","sharedLinkType":"admin"}})") == "bad_request");
    BOOST_TEST(code_of(R"({"table":"file","event":"update","row":{"id":"f","sharedLinkType":"view"}})") == "ok");
    BOOST_TEST(code_of(R"({"table":"file","event":"update","row":{"id":"f","updatedAt":1.5}})") == "bad_request");
    BOOST_TEST(code_of(R"({"table":"file","event":"update","row":{"id":"f","updatedAt":"1"}})") == "bad_request");
    BOOST_TEST(code_of(R"({"table":"file","event":"update","row":{"id":"f","updatedAt":null}})") == "bad_request");
    BOOST_TEST(code_of(R"({"table":"file","event":"update","row":{"id":"f","updatedAt":1e12}})") == "ok");
    BOOST_TEST(code_of(R"({"table":"file","event":"update","row":{"id":"f","updatedAt":18446744073709551615}})") ==
               "bad_request");
    BOOST_TEST(code_of(R"({"table":"file","event":"update","row":{"id":7}})") == "bad_request");
    BOOST_TEST(code_of(R"({"table":"file","event":"update","row":{"id":""}})") == "bad_request");
    BOOST_TEST(code_of(R"({"table":"file_state","event":"update","row":{"userId":"u1","fileId":"f","lastVisitAt":null}})") == "ok");
    BOOST_TEST(code_of(R"({"table":"file_state","event":"update","row":{"userId":"u1","fileId":"f","isPinned":1}})") ==
               "bad_request");
    BOOST_TEST(code_of(R"({"table":"user","event":"update","row":{"id":"u1","preferences":7}})") == "bad_request");

    // An integral double is stored as an integer; jsonb objects become their text.
    auto p = parse(R"([{"table":"user","event":"update","row":{"id":"u1","updatedAt":1e3,"preferences":{"k":[1,true]}}}])");
    BOOST_REQUIRE(p.ok());
    BOOST_TEST(p.updates[0].row.at("updatedAt").is_int64());
    BOOST_TEST(p.updates[0].row.at("updatedAt").as_int64() == 1000);
    BOOST_TEST(p.updates[0].row.at("preferences").as_string() == R"({"k":[1,true]})");
}

BOOST_AUTO_TEST_CASE(key_columns_are_required) {
    BOOST_TEST(code_of(R"({"table":"file","event":"delete","row":{}})") == "bad_request");
    BOOST_TEST(code_of(R"({"table":"file","event":"insert","row":{"name":"x"}})") == "bad_request");
    BOOST_TEST(code_of(R"({"table":"file_state","event":"insert","row":{"userId":"u1"}})") == "bad_request");
    BOOST_TEST(code_of(R"({"table":"file_state","event":"delete","row":{"fileId":"f"}})") == "bad_request");
    BOOST_TEST(code_of(R"({"table":"user","event":"update","row":{"name":"x"}})") == "bad_request");
}

BOOST_AUTO_TEST_CASE(rows_of_other_users_are_forbidden) {
    BOOST_TEST(code_of(R"({"table":"user","event":"update","row":{"id":"u2","name":"x"}})") == "forbidden");
    BOOST_TEST(code_of(R"({"table":"user","event":"insert","row":{"id":"u1"}})") == "forbidden");
    BOOST_TEST(code_of(R"({"table":"user","event":"delete","row":{"id":"u1"}})") == "forbidden");
    BOOST_TEST(code_of(R"({"table":"file","event":"insert","row":{"id":"f","ownerId":"u2"}})") == "forbidden");
    BOOST_TEST(code_of(R"({"table":"file","event":"update","row":{"id":"f","ownerId":"u2"}})") == "forbidden");
    BOOST_TEST(code_of(R"({"table":"file","event":"insert","row":{"id":"f","ownerId":"u1"}})") == "ok");
    BOOST_TEST(code_of(R"({"table":"file_state","event":"insert","row":{"userId":"u2","fileId":"f"}})") == "forbidden");
    BOOST_TEST(code_of(R"({"table":"file_state","event":"update","row":{"userId":"u2","fileId":"f"}})") == "forbidden");
    BOOST_TEST(code_of(R"({"table":"file_state","event":"delete","row":{"userId":"u2","fileId":"f"}})") == "forbidden");
    auto p = parse_mutation(msg("[]"), "");
    BOOST_TEST((!p.ok() && p.error->code == error_code::forbidden));
}

BOOST_AUTO_TEST_CASE(echoed_columns_that_may_not_be_written_are_dropped) {
    auto p = parse(R"([
        {"table":"user","event":"update","row":{"id":"u1","name":"A","email":"a@example.com","createdAt":1,"updatedAt":2}},
        {"table":"file","event":"update","row":{"id":"f","ownerId":"u1","name":"N","createdAt":1}},
        {"table":"file","event":"delete","row":{"id":"f","ownerId":"u1","name":"N"}},
        {"table":"file_state","event":"insert","row":{"userId":"u1","fileId":"f","isFileOwner":true,"isPinned":true}},
        {"table":"file_state","event":"update","row":{"userId":"u1","fileId":"f","isFileOwner":true}}])");
    BOOST_REQUIRE_MESSAGE(p.ok(), p.error->reason);
    auto keys = [](const json::object& o) {
        std::vector<std::string> k;
        for (auto& kv : o) k.emplace_back(kv.key());
        std::sort(k.begin(), k.end());
        return k;
    };
    using v = std::vector<std::string>;
    BOOST_TEST(keys(p.updates[0].row) == (v{"id", "name", "updatedAt"}), boost::test_tools::per_element());
    BOOST_TEST(keys(p.updates[1].row) == (v{"id", "name"}), boost::test_tools::per_element());
    BOOST_TEST(keys(p.updates[2].row) == (v{"id"}), boost::test_tools::per_element());
    BOOST_TEST(keys(p.updates[3].row) == (v{"fileId", "isPinned", "userId"}), boost::test_tools::per_element());
    BOOST_TEST(p.updates[3].claims_owner);
    BOOST_TEST(!p.updates[4].claims_owner);
    // Still type-checked.
    BOOST_TEST(code_of(R"({"table":"user","event":"update","row":{"id":"u1","email":5}})") == "bad_request");
}

BOOST_AUTO_TEST_CASE(limits) {
    mutation_limits l;
    l.max_updates = 2;
    l.max_id_bytes = 8;
    l.max_value_bytes = 16;
    l.max_total_bytes = 30;
    BOOST_TEST(parse(R"([{"table":"file","event":"delete","row":{"id":"a"}},
                         {"table":"file","event":"delete","row":{"id":"b"}}])", l).ok());
    auto many = parse(R"([{"table":"file","event":"delete","row":{"id":"a"}},
                          {"table":"file","event":"delete","row":{"id":"b"}},
                          {"table":"file","event":"delete","row":{"id":"c"}}])", l);
    BOOST_TEST((!many.ok() && many.error->code == error_code::bad_request));
    BOOST_TEST(code_of(R"({"table":"file","event":"delete","row":{"id":"123456789"}})", l) == "bad_request");
    BOOST_TEST(code_of(R"({"table":"file","event":"update","row":{"id":"f","name":"12345678901234567"}})", l) ==
               "bad_request");
    BOOST_TEST(code_of(R"({"table":"file","event":"update","row":{"id":"f","name":"1234567890123456"}})", l) == "ok");
    auto total = parse(R"([{"table":"file","event":"update","row":{"id":"f","name":"1234567890123456"}},
                           {"table":"file","event":"update","row":{"id":"g","name":"1234567890123456"}}])", l);
    BOOST_TEST((!total.ok() && total.error->code == error_code::bad_request));
    auto long_id = parse_mutation(msg("[]", "123456789"), "u1", l);
    BOOST_TEST(!long_id.ok());
    BOOST_TEST(long_id.mutation_id.empty());
}

BOOST_AUTO_TEST_CASE(column_whitelist_describes_sql_types) {
    for (auto t : {app_table::user, app_table::file, app_table::file_state}) {
        for (auto& c : columns_of(t)) {
            BOOST_TEST_CONTEXT(to_string(t) << "." << c.name) {
                BOOST_TEST((c.sql_type == "text" || c.sql_type == "boolean" || c.sql_type == "bigint" ||
                            c.sql_type == "jsonb"));
                BOOST_TEST(find_column(t, c.name) == &c);
            }
        }
    }
    BOOST_TEST(!find_column(app_table::user, "id")->on_update);
    BOOST_TEST(!find_column(app_table::file, "ownerId")->on_update);
    BOOST_TEST(find_column(app_table::file, "nope") == nullptr);
}

BOOST_AUTO_TEST_SUITE_END()
