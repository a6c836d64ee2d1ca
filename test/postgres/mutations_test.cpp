// server/app_mutations against the test cluster: what a user may do to
// files, file states and their user row; the reject codes (forbidden,
// not_found, conflict, bad_request, unavailable); one transaction per
// mutation (a rejected update undoes the ones before it, and the mutation
// number does not move); and the round trip through the replicator: the
// mutating user receives the row changes and the mutation_commit with the
// returned number in one delivery.

#include "pg_test_util.hpp"

#include "server/app_mutations.hpp"
#include "server/pg_connection.hpp"
#include "server/replicator.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <filesystem>
#include <future>
#include <mutex>

using namespace tlsync;
using namespace tlsync::test;
using namespace std::chrono_literals;
namespace pg = core::pg;
namespace json = boost::json;
namespace net = boost::asio;

namespace {

// One connection, used from the test thread (its io_context runs per call).
class session {
public:
    explicit session(const std::string& conninfo) : c_(io_.get_executor()) {
        auto s = run<server::pg_status>([&]() -> net::awaitable<server::pg_status> {
            co_return co_await c_.connect(conninfo, 10s);
        });
        if (!s) throw std::runtime_error("connect: " + s.error);
    }

    server::app::mutation_result mutate(const std::string& user, const std::string& updates,
                                        const std::string& id = "m") {
        auto msg = json::parse(R"({"type":"mutate","mutationId":")" + id + R"(","updates":)" + updates + "}");
        return run<server::app::mutation_result>([&]() -> net::awaitable<server::app::mutation_result> {
            co_return co_await server::app::apply_mutation(c_, user, msg, 10s);
        });
    }

    server::pg_connection& connection() { return c_; }

    template <class T, class F>
    T run(F f) {
        auto fut = net::co_spawn(io_, f, net::use_future);
        io_.restart();
        io_.run();
        return fut.get();
    }

private:
    net::io_context io_;
    server::pg_connection c_;
};

struct state_dir {
    std::filesystem::path path;
    state_dir() {
        std::string t = "/tmp/tlsync-mut-XXXXXX";
        if (!mkdtemp(t.data())) throw std::runtime_error("mkdtemp");
        path = t;
    }
    ~state_dir() { std::filesystem::remove_all(path); }
};

std::string count(pg_client& db, const std::string& where) { return *db.exec("SELECT count(*) FROM " + where); }

std::string number_of(pg_client& db, const std::string& user) {
    return db.exec(R"(SELECT coalesce((SELECT "mutationNumber" FROM user_mutation_number WHERE "userId" = ')" + user +
                   "'), 0)")
        .value_or("?");
}

void users(pg_client& db) {
    db.exec(R"(INSERT INTO "user" (id, name, "createdAt", "updatedAt") VALUES ('a', 'A', 1, 1), ('b', 'B', 1, 1))");
}

#define REQUIRE_COMMITTED(r)                                                                            \
    do {                                                                                                \
        auto res_ = (r);                                                                                \
        BOOST_REQUIRE_MESSAGE(res_.committed, res_.error_code << ": " << res_.reason);                  \
    } while (0)
#define CHECK_REJECTED(r, code)                                                                         \
    do {                                                                                                \
        auto res_ = (r);                                                                                \
        BOOST_TEST(!res_.committed);                                                                    \
        BOOST_TEST(res_.error_code == (code), "reason: " << res_.reason);                               \
        BOOST_TEST(!res_.reason.empty());                                                               \
    } while (0)

} // namespace

BOOST_AUTO_TEST_SUITE(mutations_suite, *boost::unit_test::precondition(cluster_available))

BOOST_AUTO_TEST_CASE(owner_creates_renames_and_deletes_a_file) {
    auto conninfo = fresh_database("t_mut_own");
    pg_client db(conninfo);
    users(db);
    session s(conninfo);

    auto r = s.mutate("a", R"([{"table":"file","event":"insert","row":{"id":"f1","name":"Plan"}}])", "m-create");
    REQUIRE_COMMITTED(r);
    BOOST_TEST(r.mutation_id == "m-create");
    BOOST_TEST(r.mutation_number == 1);
    BOOST_TEST(*db.exec(R"(SELECT "ownerId" || ':' || name || ':' || shared FROM file WHERE id = 'f1')") == "a:Plan:true");
    // The owner's file_state came in the same transaction.
    BOOST_TEST(*db.exec(R"(SELECT "isFileOwner"::text FROM file_state WHERE "userId" = 'a' AND "fileId" = 'f1')") == "true");
    BOOST_TEST(std::stoll(*db.exec(R"(SELECT "createdAt" FROM file WHERE id = 'f1')")) > 1'600'000'000'000);
    BOOST_TEST(*db.exec(R"(SELECT length("publishedSlug") FROM file WHERE id = 'f1')") == "36");

    r = s.mutate("a", R"([{"table":"file","event":"update","row":{"id":"f1","ownerId":"a","name":"Renamed","updatedAt":77}}])");
    REQUIRE_COMMITTED(r);
    BOOST_TEST(r.mutation_number == 2);
    BOOST_TEST(*db.exec(R"(SELECT name || ':' || "updatedAt" FROM file WHERE id = 'f1')") == "Renamed:77");

    r = s.mutate("a", R"([{"table":"file_state","event":"update","row":{"userId":"a","fileId":"f1","isPinned":true,"lastVisitAt":5}}])");
    REQUIRE_COMMITTED(r);
    BOOST_TEST(*db.exec(R"(SELECT "isPinned"::text || "lastVisitAt" FROM file_state WHERE "fileId" = 'f1')") == "true5");

    r = s.mutate("a", R"([{"table":"user","event":"update","row":{"id":"a","name":"Alice","preferences":"{\"theme\": \"dark\"}","locale":"fr"}}])");
    REQUIRE_COMMITTED(r);
    BOOST_TEST(*db.exec(R"(SELECT name || ':' || (preferences->>'theme') || ':' || locale FROM "user" WHERE id = 'a')") ==
               "Alice:dark:fr");
    BOOST_TEST(std::stoll(*db.exec(R"(SELECT "updatedAt" FROM "user" WHERE id = 'a')")) > 1'600'000'000'000);

    r = s.mutate("a", R"([{"table":"file","event":"delete","row":{"id":"f1"}}])");
    REQUIRE_COMMITTED(r);
    BOOST_TEST(r.mutation_number == 5);
    BOOST_TEST(count(db, "file") == "0");
    BOOST_TEST(count(db, "file_state") == "0");
    // An empty mutation commits too (it only bumps the number).
    r = s.mutate("a", "[]");
    REQUIRE_COMMITTED(r);
    BOOST_TEST(r.mutation_number == 6);
    BOOST_TEST(number_of(db, "a") == "6");
}

BOOST_AUTO_TEST_CASE(a_user_without_rights_is_refused) {
    auto conninfo = fresh_database("t_mut_rights");
    pg_client db(conninfo);
    users(db);
    session s(conninfo);
    REQUIRE_COMMITTED(s.mutate("a", R"([{"table":"file","event":"insert","row":{"id":"priv","shared":false}},
                                          {"table":"file","event":"insert","row":{"id":"pub","shared":true}}])"));

    CHECK_REJECTED(s.mutate("b", R"([{"table":"file","event":"update","row":{"id":"pub","name":"mine now"}}])"), "forbidden");
    CHECK_REJECTED(s.mutate("b", R"([{"table":"file","event":"delete","row":{"id":"pub"}}])"), "forbidden");
    CHECK_REJECTED(s.mutate("b", R"([{"table":"file","event":"update","row":{"id":"pub","ownerId":"b"}}])"), "forbidden");
    CHECK_REJECTED(s.mutate("b", R"([{"table":"file","event":"insert","row":{"id":"x","ownerId":"a"}}])"), "forbidden");
    CHECK_REJECTED(s.mutate("b", R"([{"table":"user","event":"update","row":{"id":"a","name":"pwned"}}])"), "forbidden");
    CHECK_REJECTED(s.mutate("b", R"([{"table":"file_state","event":"update","row":{"userId":"a","fileId":"pub","isPinned":true}}])"),
                   "forbidden");
    // A guest may follow a shared file, not a private one, and not as its owner.
    CHECK_REJECTED(s.mutate("b", R"([{"table":"file_state","event":"insert","row":{"userId":"b","fileId":"priv"}}])"), "forbidden");
    CHECK_REJECTED(s.mutate("b", R"([{"table":"file_state","event":"insert","row":{"userId":"b","fileId":"pub","isFileOwner":true}}])"),
                   "forbidden");
    BOOST_TEST(number_of(db, "b") == "0");
    BOOST_TEST(*db.exec(R"(SELECT name FROM file WHERE id = 'pub')") == "");
    BOOST_TEST(*db.exec(R"(SELECT name FROM "user" WHERE id = 'a')") == "A");

    auto r = s.mutate("b", R"([{"table":"file_state","event":"insert","row":{"userId":"b","fileId":"pub","firstVisitAt":9}}])");
    REQUIRE_COMMITTED(r);
    BOOST_TEST(r.mutation_number == 1);
    BOOST_TEST(*db.exec(R"(SELECT "isFileOwner"::text || "firstVisitAt" FROM file_state WHERE "userId" = 'b')") == "false9");
    // Inserting again is an upsert of the given columns.
    REQUIRE_COMMITTED(s.mutate("b", R"([{"table":"file_state","event":"insert","row":{"userId":"b","fileId":"pub","lastVisitAt":10}}])"));
    BOOST_TEST(*db.exec(R"(SELECT "firstVisitAt" || ':' || "lastVisitAt" FROM file_state WHERE "userId" = 'b')") == "9:10");
    REQUIRE_COMMITTED(s.mutate("b", R"([{"table":"file_state","event":"update","row":{"userId":"b","fileId":"pub","isPinned":true}}])"));
    REQUIRE_COMMITTED(s.mutate("b", R"([{"table":"file_state","event":"delete","row":{"userId":"b","fileId":"pub"}}])"));
    BOOST_TEST(count(db, R"(file_state WHERE "userId" = 'b')") == "0");

    // The owner's own file_state goes only with the file.
    CHECK_REJECTED(s.mutate("a", R"([{"table":"file_state","event":"delete","row":{"userId":"a","fileId":"pub"}}])"), "forbidden");
    // The owner may (re)insert their state for a private file, as its owner.
    REQUIRE_COMMITTED(s.mutate("a", R"([{"table":"file_state","event":"insert","row":{"userId":"a","fileId":"priv","isFileOwner":true,"isPinned":true}}])"));
    BOOST_TEST(*db.exec(R"(SELECT "isFileOwner"::text || "isPinned"::text FROM file_state WHERE "fileId" = 'priv')") == "truetrue");
}

BOOST_AUTO_TEST_CASE(missing_rows_are_not_found) {
    auto conninfo = fresh_database("t_mut_missing");
    pg_client db(conninfo);
    users(db);
    session s(conninfo);
    CHECK_REJECTED(s.mutate("a", R"([{"table":"file","event":"update","row":{"id":"nope","name":"x"}}])"), "not_found");
    CHECK_REJECTED(s.mutate("a", R"([{"table":"file","event":"delete","row":{"id":"nope"}}])"), "not_found");
    CHECK_REJECTED(s.mutate("a", R"([{"table":"file_state","event":"insert","row":{"userId":"a","fileId":"nope"}}])"), "not_found");
    CHECK_REJECTED(s.mutate("a", R"([{"table":"file_state","event":"update","row":{"userId":"a","fileId":"nope","isPinned":true}}])"),
                   "not_found");
    CHECK_REJECTED(s.mutate("a", R"([{"table":"file_state","event":"update","row":{"userId":"a","fileId":"nope"}}])"), "not_found");
    CHECK_REJECTED(s.mutate("a", R"([{"table":"file_state","event":"delete","row":{"userId":"a","fileId":"nope"}}])"), "not_found");
    // A user without a user row can change nothing.
    CHECK_REJECTED(s.mutate("ghost", R"([{"table":"user","event":"update","row":{"id":"ghost","name":"x"}}])"), "not_found");
    CHECK_REJECTED(s.mutate("ghost", R"([{"table":"file","event":"insert","row":{"id":"g"}}])"), "not_found");
    CHECK_REJECTED(s.mutate("ghost", "[]"), "not_found");
    BOOST_TEST(number_of(db, "a") == "0");
}

BOOST_AUTO_TEST_CASE(taken_keys_are_conflicts_and_bad_values_bad_requests) {
    auto conninfo = fresh_database("t_mut_conflict");
    pg_client db(conninfo);
    users(db);
    session s(conninfo);
    REQUIRE_COMMITTED(s.mutate("a", R"([{"table":"file","event":"insert","row":{"id":"f1","publishedSlug":"slug"}}])"));
    CHECK_REJECTED(s.mutate("b", R"([{"table":"file","event":"insert","row":{"id":"f1"}}])"), "conflict");
    CHECK_REJECTED(s.mutate("b", R"([{"table":"file","event":"insert","row":{"id":"f2","publishedSlug":"slug"}}])"), "conflict");
    // Values Postgres refuses: jsonb that is not JSON.
    CHECK_REJECTED(s.mutate("a", R"([{"table":"user","event":"update","row":{"id":"a","preferences":"{not json"}}])"),
                   "bad_request");
    // Shape errors never reach the database.
    auto r = s.mutate("a", R"([{"table":"file","event":"insert","row":{"id":"f3","colour":"red"}}])", "m-shape");
    BOOST_TEST(r.mutation_id == "m-shape");
    BOOST_TEST(r.error_code == "bad_request");
    BOOST_TEST(r.reason.find("colour") != std::string::npos);
    // The connection is still usable after all of these.
    REQUIRE_COMMITTED(s.mutate("b", R"([{"table":"file","event":"insert","row":{"id":"f2"}}])"));
    BOOST_TEST(number_of(db, "a") == "1");
    BOOST_TEST(number_of(db, "b") == "1");
}

BOOST_AUTO_TEST_CASE(nothing_is_half_applied) {
    auto conninfo = fresh_database("t_mut_atomic");
    pg_client db(conninfo);
    users(db);
    session s(conninfo);
    REQUIRE_COMMITTED(s.mutate("b", R"([{"table":"file","event":"insert","row":{"id":"bf","name":"B's"}}])"));
    REQUIRE_COMMITTED(s.mutate("a", R"([{"table":"file","event":"insert","row":{"id":"af","name":"A's"}}])"));

    // The 2nd update is forbidden: the 1st (a create) and 3rd are not applied.
    auto r = s.mutate("a", R"([{"table":"file","event":"insert","row":{"id":"new","name":"N"}},
                               {"table":"file","event":"update","row":{"id":"bf","name":"taken"}},
                               {"table":"user","event":"update","row":{"id":"a","name":"changed"}}])");
    CHECK_REJECTED(r, "forbidden");
    BOOST_TEST(r.reason.find("updates[1]") != std::string::npos);
    BOOST_TEST(count(db, "file WHERE id = 'new'") == "0");
    BOOST_TEST(count(db, "file_state WHERE \"fileId\" = 'new'") == "0");
    BOOST_TEST(*db.exec(R"(SELECT name FROM file WHERE id = 'bf')") == "B's");
    BOOST_TEST(*db.exec(R"(SELECT name FROM "user" WHERE id = 'a')") == "A");

    // Same with a database-side failure (a taken id) after a rename.
    r = s.mutate("a", R"([{"table":"file","event":"update","row":{"id":"af","name":"renamed"}},
                          {"table":"file","event":"insert","row":{"id":"bf"}}])");
    CHECK_REJECTED(r, "conflict");
    BOOST_TEST(*db.exec(R"(SELECT name FROM file WHERE id = 'af')") == "A's");
    BOOST_TEST(number_of(db, "a") == "1");

    // And the next good mutation gets the next number.
    r = s.mutate("a", R"([{"table":"file","event":"update","row":{"id":"af","name":"renamed"}}])");
    REQUIRE_COMMITTED(r);
    BOOST_TEST(r.mutation_number == 2);
}

BOOST_AUTO_TEST_CASE(a_closed_connection_is_unavailable) {
    auto conninfo = fresh_database("t_mut_closed");
    pg_client db(conninfo);
    users(db);
    session s(conninfo);
    s.connection().close();
    auto r = s.mutate("a", "[]", "m-down");
    CHECK_REJECTED(r, "unavailable");
    BOOST_TEST(r.mutation_id == "m-down");
    BOOST_TEST(number_of(db, "a") == "0");
}

// The round trip: the replicator delivers the mutation's row changes and its
// mutation_commit (with the number apply_mutation returned) to the user, in
// the delivery of that one transaction.
BOOST_AUTO_TEST_CASE(mutation_round_trip_through_the_replicator) {
    auto conninfo = fresh_database("t_mut_roundtrip");
    state_dir dir;
    // Declared before the io threads: they outlive every handler call.
    std::mutex m;
    std::vector<pg::user_delivery> got;
    io_threads t;
    server::replicator::handlers h;
    h.on_deliveries = [&](std::vector<pg::user_delivery> d) {
        std::lock_guard l(m);
        for (auto& x : d) got.push_back(std::move(x));
    };
    server::replicator_config cfg;
    cfg.conninfo = conninfo;
    cfg.slot_name = "t_mut_roundtrip";
    cfg.state_path = (dir.path / "replicator.sqlite").string();
    cfg.backoff_initial = 100ms;
    auto r = server::make_replicator(t.io.get_executor(), t.blocking.get_executor(), cfg, h);
    r->start();
    BOOST_REQUIRE(eventually([&] { return r->stats().state == "streaming"; }, 20s));

    pg_client db(conninfo);
    users(db);
    // Registered at this LSN: the users' own inserts (committed before it) may
    // still be on their way through the replicator and then reach "a" too;
    // only what comes after counts below.
    const auto registered_at = *pg::lsn::parse(*db.exec("SELECT pg_current_wal_lsn()::text"));
    {
        // Shared with the callback: set_value may still be returning when get() does.
        auto registered = std::make_shared<std::promise<bool>>();
        const auto at = registered_at;
        auto done = registered->get_future();
        r->with_history([&, registered](pg::replication_history* hist) {
            if (!hist) return registered->set_value(false);
            std::vector<std::string> none;
            (void)hist->register_user("a", at, none, "boot", 0);
            registered->set_value(true);
        });
        BOOST_REQUIRE(done.get());
    }

    session s(conninfo);
    REQUIRE_COMMITTED(s.mutate("a", "[]", "m0"));
    auto res = s.mutate("a", R"([{"table":"file","event":"insert","row":{"id":"rt","name":"Round trip"}},
                                 {"table":"user","event":"update","row":{"id":"a","name":"Alice"}}])",
                        "m1");
    REQUIRE_COMMITTED(res);
    BOOST_TEST(res.mutation_number == 2);
    // A rejected mutation produces nothing on the stream.
    CHECK_REJECTED(s.mutate("a", R"([{"table":"file","event":"delete","row":{"id":"missing"}}])", "m2"), "not_found");
    REQUIRE_COMMITTED(s.mutate("a", "[]", "m3"));

    auto commit_number = [](const pg::user_delivery& d) -> std::int64_t {
        for (auto& e : d.changes())
            if (e.as_object().at("type").as_string() == "mutation_commit")
                return e.as_object().at("mutationNumber").as_int64();
        return 0;
    };
    BOOST_REQUIRE(eventually(
        [&] {
            std::lock_guard l(m);
            return !got.empty() && commit_number(got.back()) == 3;
        },
        10s));
    std::lock_guard l(m);
    std::erase_if(got, [&](const pg::user_delivery& d) { return d.at <= registered_at; });
    BOOST_REQUIRE(!got.empty());
    const auto first_number = got.front().sequence_number;
    std::vector<std::int64_t> numbers;
    for (auto& d : got) {
        BOOST_TEST(d.user_id == "a");
        numbers.push_back(commit_number(d));
    }
    BOOST_TEST(numbers == (std::vector<std::int64_t>{1, 2, 3}), boost::test_tools::per_element());
    // Contiguous sequence numbers within the registration.
    for (std::size_t i = 0; i < got.size(); ++i)
        BOOST_TEST(got[i].sequence_number == first_number + static_cast<std::int64_t>(i));

    BOOST_REQUIRE(got.size() >= 2u);
    auto& d = got[1];
    const auto changes = d.changes();
    BOOST_TEST_INFO("delivery: " << d.changes_json);
    std::vector<std::string> kinds;
    for (auto& e : changes) {
        auto& o = e.as_object();
        if (o.at("type").as_string() == "mutation_commit") kinds.push_back("mutation_commit");
        else kinds.push_back(std::string(o.at("table").as_string()) + ":" + std::string(o.at("event").as_string()));
    }
    BOOST_TEST(kinds == (std::vector<std::string>{"file:insert", "file_state:insert", "user:update", "mutation_commit"}),
               boost::test_tools::per_element());
    auto& file_row = changes[0].as_object().at("row").as_object();
    BOOST_TEST(file_row.at("id").as_string() == "rt");
    BOOST_TEST(file_row.at("ownerId").as_string() == "a");
    BOOST_TEST(changes[2].as_object().at("row").as_object().at("name").as_string() == "Alice");

    auto stopped = std::make_shared<std::promise<void>>();
    auto stopped_f = stopped->get_future();
    r->stop([stopped] { stopped->set_value(); });
    BOOST_REQUIRE(stopped_f.wait_for(10s) == std::future_status::ready);
}

BOOST_AUTO_TEST_SUITE_END()
