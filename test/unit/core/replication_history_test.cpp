// core/replication_history: routing of row changes to users, per-user
// sequence numbers, subscriptions of guests, replay from history on
// reconnect, reload when history does not reach back, pruning, epochs.
// Uses the transactions of the captured stream where it can.

#include "core/replication_history.hpp"
#include "core/wal2json.hpp"
#include "replication_test_util.hpp"
#include "storage_test_util.hpp"

#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

using namespace tlsync::core::pg;
using tlsync::test::temp_dir;
namespace json = boost::json;
using std::chrono::milliseconds;

namespace {

lsn L(std::uint64_t v) { return lsn{v}; }

row_change change(row_op op, std::string table, json::object row) {
    return row_change{op, "public", std::move(table), std::move(row), {}, {}};
}

transaction tx(std::uint64_t end, std::vector<row_change> changes, std::vector<logical_message> msgs = {}) {
    transaction t;
    t.end_lsn = L(end);
    t.changes = std::move(changes);
    t.messages = std::move(msgs);
    return t;
}

json::object file_row(const char* id, const char* owner, const char* name = "f") {
    return {{"id", id}, {"ownerId", owner}, {"name", name}};
}
json::object state_row(const char* user, const char* file, bool owner) {
    return {{"userId", user}, {"fileId", file}, {"isFileOwner", owner}};
}

struct fixture {
    temp_dir dir;
    replication_history h{dir.file("replicator.sqlite")};
    fixture() { BOOST_TEST(h.begin_slot("slot", "sys", L(100), "E1")); }
    std::vector<user_delivery> rec(std::vector<transaction> txs, std::int64_t now = 1000) {
        return h.record(txs, now);
    }
};

std::vector<transaction> fixture_transactions() {
    transaction_collator c;
    std::vector<transaction> out;
    for (auto& m : tlsync::test::load_stream_fixture()) {
        auto p = parse_copy_data(m);
        if (auto* x = std::get_if<xlog_data>(&p))
            if (auto o = c.feed(x->data_start, x->payload); std::holds_alternative<transaction>(o))
                out.push_back(std::get<transaction>(std::move(o)));
    }
    return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(replication_history_suite)

BOOST_FIXTURE_TEST_CASE(only_active_users_receive, fixture) {
    auto d = rec({tx(200, {change(row_op::insert, "user", {{"id", "u1"}, {"name", "Ada"}})})});
    BOOST_TEST(d.empty()); // nobody registered
    BOOST_TEST(h.meta().recorded.value == 200u);
    auto r = h.register_user("u1", L(200), {}, "-b1", 1000);
    BOOST_TEST(!r.reload);
    BOOST_TEST(r.sequence_id == "E1-b1");
    BOOST_TEST(r.replay.empty());
    d = rec({tx(300, {change(row_op::update, "user", {{"id", "u1"}, {"name", "Ada L."}})})});
    BOOST_REQUIRE(d.size() == 1u);
    BOOST_TEST(d[0].user_id == "u1");
    BOOST_TEST(d[0].at.value == 300u);
    BOOST_TEST(d[0].sequence_id == "E1-b1");
    BOOST_TEST(d[0].sequence_number == 1);
    BOOST_TEST(d[0].changes_json ==
               R"([{"type":"row_update","table":"user","event":"update","row":{"id":"u1","name":"Ada L."},"userId":"u1"}])");
}

BOOST_FIXTURE_TEST_CASE(captured_stream_routes_to_owner_and_guest, fixture) {
    auto txs = fixture_transactions();
    BOOST_REQUIRE(txs.size() == 9u);
    // Start just before the capture, both users active.
    BOOST_TEST(h.begin_slot("slot2", "sys", L(0x1521A00), "E2"));
    h.register_user("u1", L(0x1521A00), {}, "-a", 1);
    h.register_user("u2", L(0x1521A00), {}, "-b", 1);
    auto d = h.record(txs, 2);
    BOOST_TEST(h.meta().recorded.to_string() == "0/1524BE8");

    std::vector<std::string> u1, u2;
    std::int64_t n1 = 0, n2 = 0;
    for (auto& x : d) {
        auto& seq = x.user_id == "u1" ? n1 : n2;
        BOOST_TEST(x.sequence_number == ++seq); // contiguous per user
        for (auto& c : x.changes()) {
            auto& o = c.as_object();
            std::string s = std::string(o.at("type").as_string());
            if (o.contains("table")) s += ":" + std::string(o.at("table").as_string()) + ":" + std::string(o.at("event").as_string());
            (x.user_id == "u1" ? u1 : u2).push_back(s);
        }
        if (x.empty()) (x.user_id == "u1" ? u1 : u2).push_back("lsn");
    }
    // u1 owns f1: sees its user rows, the file, its file_state, the mutation commit.
    std::vector<std::string> want1 = {"row_update:user:insert", "row_update:file:insert", "row_update:file_state:insert",
                                      "mutation_commit", "row_update:file:update", "row_update:user:update",
                                      "row_update:file:delete", "row_update:file_state:delete"};
    // u2 is a guest of f1 (its file_state insert makes it follow f1), so it sees the
    // file update; its requestLsnUpdate yields an empty delivery; after its
    // file_state is deleted it no longer follows f1 and misses the file delete.
    std::vector<std::string> want2 = {"row_update:user:insert", "row_update:file_state:insert", "row_update:file:update",
                                      "lsn", "row_update:file_state:delete"};
    BOOST_TEST(u1 == want1, boost::test_tools::per_element());
    BOOST_TEST(u2 == want2, boost::test_tools::per_element());
    auto diag = h.diagnostics();
    BOOST_TEST(diag.subscriptions == 0);
    BOOST_TEST(diag.active_users == 2);
    BOOST_TEST(diag.history_rows == 11);
}

BOOST_FIXTURE_TEST_CASE(guests_follow_files, fixture) {
    h.register_user("owner", L(100), {}, "-o", 1);
    h.register_user("guest", L(100), {}, "-g", 1);
    rec({tx(200, {change(row_op::insert, "file", file_row("f1", "owner"))})});
    // Not following yet: the guest misses file updates.
    auto d = rec({tx(300, {change(row_op::update, "file", file_row("f1", "owner", "v2"))})});
    BOOST_TEST(d.size() == 1u);
    rec({tx(400, {change(row_op::insert, "file_state", state_row("guest", "f1", false))})});
    d = rec({tx(500, {change(row_op::update, "file", file_row("f1", "owner", "v3"))})});
    BOOST_REQUIRE(d.size() == 2u);
    BOOST_TEST(d[0].user_id == "owner");
    BOOST_TEST(d[1].user_id == "guest");
    BOOST_TEST(d[1].changes()[0].as_object().at("userId").as_string() == "guest");
    // An owner's own file_state does not make them a follower (they own it).
    rec({tx(600, {change(row_op::insert, "file_state", state_row("owner", "f1", true))})});
    BOOST_TEST(h.diagnostics().subscriptions == 1);
}

BOOST_FIXTURE_TEST_CASE(replay_reconnect_gets_exactly_the_missed_changes, fixture) {
    h.register_user("u1", L(100), {}, "-a", 1);
    rec({tx(200, {change(row_op::insert, "user", {{"id", "u1"}})})});
    rec({tx(300, {change(row_op::insert, "file", file_row("f1", "u1"))})});
    rec({tx(400, {change(row_op::insert, "user", {{"id", "u9"}})})}); // someone else's
    rec({tx(500, {change(row_op::update, "file", file_row("f1", "u1", "n")),
                  change(row_op::insert, "user_mutation_number", {{"userId", "u1"}, {"mutationNumber", 7}})})});
    rec({tx(600, {change(row_op::insert, "file", file_row("f2", "u2"))})}); // u1 is not a guest of f2

    auto r = h.register_user("u1", L(300), {}, "-again", 2);
    BOOST_TEST(!r.reload);
    BOOST_TEST(r.sequence_id == "E1-again");
    BOOST_REQUIRE(r.replay.size() == 1u);
    BOOST_TEST(r.replay[0].at.value == 500u);
    BOOST_TEST(r.replay[0].sequence_number == 1);
    BOOST_REQUIRE(r.replay[0].changes().size() == 2u);
    BOOST_TEST(r.replay[0].changes()[1].as_object().at("type").as_string() == "mutation_commit");
    BOOST_TEST(r.replay[0].changes()[1].as_object().at("mutationNumber").as_int64() == 7);
    // Live deliveries continue the sequence.
    auto d = rec({tx(700, {change(row_op::update, "user", {{"id", "u1"}})})});
    BOOST_TEST(d.at(0).sequence_number == 2);

    // A guest reconnecting with f2 as a guest file gets f2's changes too.
    auto g = h.register_user("u3", L(500), std::vector<std::string>{"f2"}, "-g", 3);
    BOOST_REQUIRE(g.replay.size() == 1u);
    BOOST_TEST(g.replay[0].at.value == 600u);
    // Up to date: nothing to replay.
    BOOST_TEST(h.register_user("u1", L(700), {}, "-x", 4).replay.empty());
}

BOOST_FIXTURE_TEST_CASE(replay_follows_invitations_made_meanwhile, fixture) {
    rec({tx(200, {change(row_op::insert, "file", file_row("f1", "owner"))})});
    rec({tx(300, {change(row_op::insert, "file_state", state_row("guest", "f1", false))})});
    rec({tx(400, {change(row_op::update, "file", file_row("f1", "owner", "renamed"))})});
    auto r = h.register_user("guest", L(200), {}, "-g", 1);
    BOOST_REQUIRE(r.replay.size() == 2u);
    BOOST_TEST(r.replay[1].changes()[0].as_object().at("row").as_object().at("name").as_string() == "renamed");
    BOOST_TEST(h.diagnostics().subscriptions == 1); // and follows f1 from now on
}

BOOST_FIXTURE_TEST_CASE(reload_when_history_does_not_reach_back, fixture) {
    BOOST_TEST(h.register_user("u1", L(50), {}, "-a", 1).reload); // before the floor
    BOOST_TEST(!h.register_user("u1", L(100), {}, "-a", 1).reload);
}

BOOST_AUTO_TEST_CASE(pruning_raises_the_floor) {
    temp_dir dir;
    replication_history h(dir.file("r.sqlite"), {}, history_config{3, std::chrono::hours(1)});
    h.begin_slot("s", "sys", L(100), "E");
    for (std::uint64_t i = 1; i <= 5; ++i)
        h.record(std::vector{tx(100 + i * 100, {change(row_op::insert, "user", {{"id", "u"}})})}, 1000);
    h.register_user("idle", L(600), {}, "-i", 0);
    auto dropped = h.prune(2000, milliseconds(1500));
    BOOST_TEST(dropped == std::vector<std::string>{"idle"});
    auto d = h.diagnostics();
    BOOST_TEST(d.history_rows == 3);
    BOOST_TEST(d.meta.floor.value == 300u);
    BOOST_TEST(d.earliest->value == 400u);
    BOOST_TEST(h.register_user("u", L(299), {}, "-a", 2000).reload);
    auto r = h.register_user("u", L(300), {}, "-a", 2000);
    BOOST_TEST(!r.reload);
    BOOST_TEST(r.replay.size() == 3u);
    // By age: everything recorded before now - 1 h goes.
    h.prune(1000 + 3'600'001, std::chrono::hours(10));
    BOOST_TEST(h.diagnostics().history_rows == 0);
    BOOST_TEST(h.diagnostics().meta.floor.value == 600u);
}

BOOST_AUTO_TEST_CASE(epochs_and_continuity) {
    temp_dir dir;
    {
        replication_history h(dir.file("r.sqlite"));
        BOOST_TEST(h.begin_slot("s", "sys", L(100), "E1")); // first start: a new epoch
        h.record(std::vector{tx(200, {change(row_op::insert, "user", {{"id", "u"}})})}, 1);
        h.register_user("u", L(200), {}, "-a", 1);
    }
    replication_history h(dir.file("r.sqlite")); // reopened: migrations not rerun, state kept
    BOOST_TEST(h.meta().recorded.value == 200u);
    // The slot lags behind what we recorded (an acknowledgement was lost): continuous.
    BOOST_TEST(!h.begin_slot("s", "sys", L(150), "E2"));
    BOOST_TEST(h.meta().epoch == "E1");
    BOOST_TEST(h.is_active("u"));
    // The slot is ahead of us (recreated, or our file is older): a break.
    BOOST_TEST(h.begin_slot("s", "sys", L(900), "E3"));
    auto m = h.meta();
    BOOST_TEST(m.epoch == "E3");
    BOOST_TEST(m.recorded.value == 900u);
    BOOST_TEST(m.floor.value == 900u);
    BOOST_TEST(!h.is_active("u"));
    BOOST_TEST(h.diagnostics().history_rows == 0);
    // Another cluster, or another slot name: a break too.
    BOOST_TEST(h.begin_slot("s", "other", L(900), "E4"));
    BOOST_TEST(h.begin_slot("t", "other", L(900), "E5"));
    // Redelivered transactions are not recorded twice.
    h.record(std::vector{tx(800, {change(row_op::insert, "user", {{"id", "u"}})})}, 1);
    BOOST_TEST(h.diagnostics().history_rows == 0);
    BOOST_TEST(h.meta().recorded.value == 900u);
}

BOOST_FIXTURE_TEST_CASE(lsn_updates, fixture) {
    BOOST_TEST(!h.lsn_update("nobody", 1));
    h.register_user("u1", L(100), {}, "-a", 1);
    auto d = h.lsn_update("u1", 2);
    BOOST_REQUIRE(d);
    BOOST_TEST(d->changes_json == "[]");
    BOOST_TEST(d->at.value == 100u);
    BOOST_TEST(d->sequence_number == 1);
    auto ds = rec({tx(200, {}, {logical_message{true, "requestLsnUpdate", "u1", {}}})});
    BOOST_REQUIRE(ds.size() == 1u);
    BOOST_TEST(ds[0].at.value == 200u);
    BOOST_TEST(ds[0].sequence_number == 2);
}

BOOST_AUTO_TEST_CASE(ignores_unrouted_rows) {
    BOOST_TEST(!user_event("user_mutation_number", row_op::remove, {{"userId", "u"}}, "u"));
    temp_dir dir;
    replication_history h(dir.file("r.sqlite"));
    h.begin_slot("s", "sys", L(1), "E");
    h.register_user("u", L(1), {}, "", 1);
    auto d = h.record(std::vector{tx(5, {change(row_op::insert, "other", {{"id", "u"}}),
                                          change(row_op::insert, "user", {{"name", "no id"}})})},
                      1);
    BOOST_TEST(d.empty());
    BOOST_TEST(h.diagnostics().history_rows == 0);
    BOOST_TEST(h.meta().recorded.value == 5u);
}


// The routing state lives in memory and is written through: a reopened
// file continues every user's sequence and keeps who follows which file.
BOOST_AUTO_TEST_CASE(sequences_and_subscriptions_survive_a_reopen) {
    temp_dir dir;
    {
        replication_history h(dir.file("r.sqlite"));
        h.begin_slot("s", "sys", L(100), "E");
        h.register_user("owner", L(100), {}, "-o", 1);
        h.register_user("guest", L(100), std::vector<std::string>{"f1"}, "-g", 1);
        auto d = h.record(std::vector{tx(200, {change(row_op::update, "file", file_row("f1", "owner"))})}, 5);
        BOOST_TEST(d.size() == 2u);
    }
    replication_history h(dir.file("r.sqlite"));
    auto d = h.record(std::vector{tx(300, {change(row_op::update, "file", file_row("f1", "owner"))}),
                                  tx(400, {change(row_op::update, "user", {{"id", "owner"}})})},
                      6);
    BOOST_REQUIRE(d.size() == 3u);
    BOOST_TEST(d[0].user_id == "owner");
    BOOST_TEST(d[0].sequence_number == 2);
    BOOST_TEST(d[1].user_id == "guest");
    BOOST_TEST(d[1].sequence_number == 2);
    BOOST_TEST(d[1].sequence_id == "E-g");
    BOOST_TEST(d[2].sequence_number == 3);
    // The file deleted: the guest stops following it, durably.
    h.record(std::vector{tx(500, {change(row_op::remove, "file", file_row("f1", "owner"))})}, 7);
    BOOST_TEST(h.diagnostics().subscriptions == 0);
    replication_history again(dir.file("r.sqlite"));
    BOOST_TEST(again.diagnostics().subscriptions == 0);
    BOOST_TEST(again.record(std::vector{tx(600, {change(row_op::update, "file", file_row("f1", "owner"))})}, 8)
                   .size() == 1u);
    // The replay index is rebuilt from the file: every row of the owner
    // after LSN 200 comes back, in order.
    auto r = again.register_user("owner", L(200), {}, "-o2", 9);
    BOOST_REQUIRE(r.replay.size() == 4u);
    BOOST_TEST(r.replay[0].at.value == 300u);
    BOOST_TEST(r.replay[3].at.value == 600u);
}

// Between periodic prunes the history stays near its row bound however
// fast it grows, and the floor follows what was trimmed.
BOOST_AUTO_TEST_CASE(history_is_trimmed_as_it_grows) {
    temp_dir dir;
    replication_history h(dir.file("r.sqlite"), {}, history_config{1000, std::chrono::hours(1)});
    h.begin_slot("s", "sys", L(1), "E");
    for (std::uint64_t i = 1; i <= 3000; ++i)
        h.record(std::vector{tx(i * 10, {change(row_op::insert, "user", {{"id", "u"}})})}, 1);
    auto d = h.diagnostics();
    BOOST_TEST(d.history_rows >= 1000);
    BOOST_TEST(d.history_rows <= 1256);
    BOOST_TEST(d.meta.floor.value == d.earliest->value - 10);
    BOOST_TEST(h.register_user("u", L(d.meta.floor.value - 1), {}, "-a", 1).reload);
    auto r = h.register_user("u", d.meta.floor, {}, "-b", 1);
    BOOST_TEST(!r.reload);
    BOOST_TEST(static_cast<std::int64_t>(r.replay.size()) == d.history_rows);
}

// A failed SQLite transaction rolls the tables back; the memory follows,
// so the next record() sees the same state as the file.
BOOST_AUTO_TEST_CASE(a_failed_record_leaves_memory_as_the_file) {
    temp_dir dir;
    replication_history h(dir.file("r.sqlite"));
    h.begin_slot("s", "sys", L(1), "E");
    h.register_user("u", L(1), {}, "-a", 1);
    h.record(std::vector{tx(10, {change(row_op::update, "user", {{"id", "u"}})})}, 1);
    {
        // The batch fails at its very end (the meta row), after the
        // sequence numbers moved: everything must roll back.
        tlsync::core::sqlite_db other(dir.file("r.sqlite"));
        other.exec("CREATE TRIGGER boom BEFORE UPDATE ON meta WHEN NEW.lsn = 20 BEGIN SELECT RAISE(ABORT, 'boom'); END");
        BOOST_CHECK_THROW(h.record(std::vector{tx(20, {change(row_op::update, "user", {{"id", "u"}})})}, 2),
                          std::exception);
        other.exec("DROP TRIGGER boom");
    }
    BOOST_TEST(h.meta().recorded.value == 10u);
    auto d = h.record(std::vector{tx(20, {change(row_op::update, "user", {{"id", "u"}})})}, 3);
    BOOST_REQUIRE(d.size() == 1u);
    BOOST_TEST(d[0].sequence_number == 2);
}

BOOST_AUTO_TEST_SUITE_END()
