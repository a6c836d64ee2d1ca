// The connect response written straight from the store (sessions on the
// server's schema): the same bytes as proto::encode(connect_event) built the
// general way, and the full state shared between connects at one clock.

#include "storage_test_util.hpp"
#include "support/room_harness.hpp"

#include <boost/json/parse.hpp>

using namespace tlsync;
using namespace tlsync::test;

namespace {

// Whether two parts point at one buffer (not whether their bytes are equal).
bool same_buffer(const core::text_slice& a, const core::text_slice& b) {
    return static_cast<const void*>(a.bytes.data()) == static_cast<const void*>(b.bytes.data());
}

// Connects `session_id` on a fresh socket and returns its connect message,
// without the harness parsing it.
core::outbound_message raw_connect(room_harness& h, const std::string& session_id,
                                   std::int64_t last_server_clock) {
    auto ref = h.open(session_id);
    proto::connect_request c;
    c.connect_request_id = "req-" + session_id;
    c.last_server_clock = last_server_clock;
    c.protocol_version = proto::protocol_version;
    c.schema = h.schema().serialize();
    h.room().handle_message(ref, c, h.now());
    for (auto& a : h.room().take_actions())
        if (auto* s = std::get_if<core::send_action>(&a))
            if (s->message.kind == core::outbound_kind::connect) return std::move(s->message);
    BOOST_FAIL("no connect response");
    return {};
}

// What the general path encodes: presence of everyone else, then the
// documents get_changes_since gives, as a network diff.
std::string expected_connect(room_harness& h, const std::string& session_id,
                             std::int64_t last_server_clock) {
    proto::connect_event e;
    e.connect_request_id = "req-" + session_id;
    e.schema = h.schema().serialize();
    std::optional<std::string> own;
    for (const auto& s : h.room().sessions())
        if (s.session_id == session_id) own = s.presence_id;
    for (const auto& [id, record] : h.room().presence_records())
        if (id != own) e.diff.set(id, proto::record_op::put(record));
    h.room().storage().transaction([&](core::storage_txn& txn) {
        e.server_clock = txn.get_clock();
        const auto changes = txn.get_changes_since(last_server_clock);
        e.hydration = changes && changes->wipe_all ? proto::hydration_type::wipe_all
                                                   : proto::hydration_type::wipe_presence;
        if (!changes) return;
        for (const auto& [id, put] : changes->diff.puts) e.diff.set(id, proto::record_op::put(put.after));
        for (const auto& id : changes->diff.deletes) e.diff.set(id, proto::record_op::remove());
    });
    return proto::encode(e);
}

} // namespace

BOOST_AUTO_TEST_SUITE(connect_encoding)

BOOST_AUTO_TEST_CASE(HS4_full_state_matches_the_general_encoding) {
    room_harness h;
    auto a = h.connect("a");
    h.push(a, 1, R"({"shape:1":["put",{"id":"shape:1","typeName":"shape","props":{"x":1.5,"label":"é\n"}}]})",
           R"(["put",{"id":"x","typeName":"x","cursor":{"x":1,"y":2}}])");
    const auto m = raw_connect(h, "b", -1);
    BOOST_TEST(m.text() == expected_connect(h, "b", -1));
    BOOST_TEST(m.size() == m.text().size());
}

BOOST_AUTO_TEST_CASE(HS4_HS5_changes_since_with_deletes_match_the_general_encoding) {
    room_harness h;
    auto a = h.connect("a");
    h.push(a, 1, R"({"shape:1":["put",{"id":"shape:1","typeName":"shape","props":{"x":1}}]})");
    h.push(a, 2, R"({"shape:2":["put",{"id":"shape:2","typeName":"shape","props":{"x":2}}]})");
    h.push(a, 3, R"({"shape:1":["remove"]})");
    const auto m = raw_connect(h, "b", 1);
    BOOST_TEST(m.text() == expected_connect(h, "b", 1));
    BOOST_TEST(m.text().find(R"("shape:1":["remove"])") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(HS4_current_clock_matches_the_general_encoding) {
    room_harness h;
    h.connect("a");
    const auto m = raw_connect(h, "b", h.room().document_clock());
    BOOST_TEST(m.text() == expected_connect(h, "b", h.room().document_clock()));
}

BOOST_AUTO_TEST_CASE(full_state_is_encoded_once_per_document_clock) {
    room_harness h;
    auto a = h.connect("a");
    const auto first = raw_connect(h, "b", -1);
    const auto second = raw_connect(h, "c", -1);
    BOOST_REQUIRE(first.parts.size() == 3u);
    BOOST_REQUIRE(second.parts.size() == 3u);
    BOOST_TEST(same_buffer(first.parts[1], second.parts[1])); // shared, not re-encoded
    h.push(a, 1, R"({"shape:9":["put",{"id":"shape:9","typeName":"shape","props":{}}]})");
    const auto third = raw_connect(h, "d", -1);
    BOOST_TEST(!same_buffer(third.parts[1], first.parts[1]));
    BOOST_TEST(third.text() == expected_connect(h, "d", -1));
}

BOOST_AUTO_TEST_CASE(a_room_loaded_from_stored_texts_answers_connect_with_them) {
    // Spaces and key order no encoder of ours would write: the stored bytes
    // go out as they are, and mean what the general path means.
    const std::string doc = R"({"typeName":"document", "id":"document:document","name":"é"})";
    const std::string page = R"({"id":"page:page","typeName":"page","name":"Page 1","index":"a1"})";
    auto snap = snapshot_from_texts({{"document:document", doc}, {"page:page", page}}, 2);
    snap.schema = make_test_schema()->serialize();
    room_harness h(make_test_schema(), {}, std::move(snap));
    const auto first = raw_connect(h, "b", -1);
    BOOST_TEST(first.text().find(doc) != std::string::npos);
    BOOST_TEST(first.text().find(page) != std::string::npos);
    BOOST_TEST(json::parse(first.text()) == json::parse(expected_connect(h, "b", -1)));
    // Later connects at that clock share it; after a write it is re-encoded.
    BOOST_TEST(same_buffer(raw_connect(h, "c", -1).parts[1], first.parts[1]));
    auto a = h.connect("a");
    h.push(a, 1, R"({"shape:9":["put",{"id":"shape:9","typeName":"shape","props":{}}]})");
    const auto after = raw_connect(h, "d", -1);
    BOOST_TEST(!same_buffer(after.parts[1], first.parts[1]));
    BOOST_TEST(json::parse(after.text()) == json::parse(expected_connect(h, "d", -1)));
}

BOOST_AUTO_TEST_SUITE_END()
