// server::lease_keeper on a real io_context and blocking pool, over an
// in-memory room_leases: one renewal call per round for every held room, a
// lease taken elsewhere or not renewed in time reported once to its holder,
// release and stop. (Against Postgres: test/postgres/pg_room_lease_test.cpp.)

#include "server/lease_keeper.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

using namespace tlsync;
using namespace std::chrono_literals;
namespace net = boost::asio;

namespace {

// Leases as a map; renew() fails while `failing`.
struct fake_leases final : server::room_leases {
    explicit fake_leases(std::chrono::milliseconds d) : d_(d) {}

    std::variant<std::int64_t, server::lease_refused> acquire(const std::string& room) override {
        std::lock_guard l(m);
        if (room.starts_with("taken")) return server::lease_refused{"other-node", 1000ms};
        return held[room] = ++next_token;
    }
    server::lease_renewal renew(const std::vector<core::lease_table::lease>& batch) override {
        std::lock_guard l(m);
        ++renewals;
        last_batch = batch.size();
        if (failing) throw std::runtime_error("postgres: connection refused");
        server::lease_renewal out;
        for (const auto& b : batch)
            if (auto it = held.find(b.room); it != held.end() && it->second == b.token) {
                out.kept.push_back(b);
                if (wanted.contains(b.room)) out.wanted.push_back(b);
            }
        return out;
    }
    void release(const std::string& room, std::int64_t token) override {
        std::lock_guard l(m);
        if (auto it = held.find(room); it != held.end() && it->second == token) held.erase(it);
        released.push_back(room);
    }
    std::chrono::milliseconds duration() const noexcept override { return d_; }

    int renewal_count() {
        std::lock_guard l(m);
        return renewals;
    }
    std::size_t batch_size() {
        std::lock_guard l(m);
        return last_batch;
    }
    void steal(const std::string& room) {
        std::lock_guard l(m);
        held[room] += 1000;
    }

    std::mutex m;
    std::map<std::string, std::int64_t> held;
    std::set<std::string> wanted; // asked for by another node
    std::vector<std::string> released;
    std::int64_t next_token = 0;
    int renewals = 0;
    std::size_t last_batch = 0;
    bool failing = false;

  private:
    std::chrono::milliseconds d_;
};

struct lost_log {
    std::mutex m;
    std::vector<std::pair<std::string, std::int64_t>> lost;
    std::vector<std::pair<std::string, std::int64_t>> wanted;
    std::size_t without_reason = 0;
    // Called on the keeper's thread: it records, the test thread checks
    // (Boost.Test's assertions are not thread-safe).
    server::lease_keeper::lost_handler handler(const std::string& room) {
        return [this, room](server::lease_keeper::event what, std::int64_t token, std::string why) {
            std::lock_guard l(m);
            if (why.empty()) ++without_reason;
            if (what == server::lease_keeper::event::lost)
                lost.emplace_back(room, token);
            else
                wanted.emplace_back(room, token);
        };
    }
    std::size_t size() {
        std::lock_guard l(m);
        return lost.size();
    }
};

struct keeper_fixture {
    net::io_context io;
    net::thread_pool blocking{1};
    net::executor_work_guard<net::io_context::executor_type> guard{io.get_executor()};
    std::thread thread{[this] { io.run(); }};
    std::shared_ptr<fake_leases> leases;
    std::shared_ptr<server::lease_keeper> keeper;

    explicit keeper_fixture(std::chrono::milliseconds d)
        : leases(std::make_shared<fake_leases>(d)),
          keeper(std::make_shared<server::lease_keeper>(io.get_executor(), blocking.get_executor(),
                                                        leases)) {}
    ~keeper_fixture() {
        keeper->stop();
        guard.reset();
        io.stop();
        thread.join();
        blocking.join();
    }
};

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 3s) {
    for (auto until = std::chrono::steady_clock::now() + timeout;
         std::chrono::steady_clock::now() < until;) {
        if (pred()) return true;
        std::this_thread::sleep_for(2ms);
    }
    return pred();
}

std::int64_t token_of(const std::variant<std::int64_t, server::lease_refused>& v) {
    return std::holds_alternative<std::int64_t>(v) ? std::get<std::int64_t>(v) : -1;
}

} // namespace

BOOST_AUTO_TEST_SUITE(lease_keeper_suite)

BOOST_AUTO_TEST_CASE(every_held_room_is_renewed_by_one_call_per_round) {
    keeper_fixture f(300ms); // a round every 100 ms
    lost_log log;
    for (const std::string room : {"a", "b", "c"})
        BOOST_TEST(token_of(f.keeper->acquire(room, log.handler(room))) > 0);
    std::this_thread::sleep_for(550ms);
    const int rounds = f.leases->renewal_count();
    BOOST_TEST(rounds >= 3);
    BOOST_TEST(rounds <= 7);
    BOOST_TEST(f.leases->batch_size() == 3u);
    BOOST_TEST(log.size() == 0u);
}

BOOST_AUTO_TEST_CASE(a_refusal_is_returned_and_nothing_is_renewed) {
    keeper_fixture f(300ms);
    lost_log log;
    const auto got = f.keeper->acquire("taken-1", log.handler("taken-1"));
    BOOST_TEST_REQUIRE(std::holds_alternative<server::lease_refused>(got));
    BOOST_TEST(std::get<server::lease_refused>(got).holder == "other-node");
    std::this_thread::sleep_for(250ms);
    BOOST_TEST(f.leases->renewal_count() == 0);
}

BOOST_AUTO_TEST_CASE(a_lease_taken_elsewhere_is_reported_once_with_its_token) {
    keeper_fixture f(300ms);
    lost_log log;
    const auto token = token_of(f.keeper->acquire("a", log.handler("a")));
    (void)f.keeper->acquire("b", log.handler("b"));
    f.leases->steal("a");
    BOOST_TEST_REQUIRE(eventually([&] { return log.size() == 1u; }, 1s));
    std::this_thread::sleep_for(300ms);
    std::lock_guard l(log.m);
    BOOST_TEST_REQUIRE(log.lost.size() == 1u); // once, and only "a"
    BOOST_TEST(log.lost[0].first == "a");
    BOOST_TEST(log.lost[0].second == token);
    BOOST_TEST(log.without_reason == 0u); // (under the lock taken above)
}

BOOST_AUTO_TEST_CASE(leases_not_renewed_in_time_are_lost_before_they_expire) {
    keeper_fixture f(400ms);
    lost_log log;
    {
        std::lock_guard l(f.leases->m);
        f.leases->failing = true; // Postgres unreachable from the start
    }
    const auto t0 = std::chrono::steady_clock::now();
    (void)f.keeper->acquire("a", log.handler("a"));
    BOOST_TEST_REQUIRE(eventually([&] { return log.size() == 1u; }, 2s));
    const auto after = std::chrono::steady_clock::now() - t0;
    // At duration - duration/10 (360 ms), retried every 40 ms meanwhile.
    BOOST_TEST(after >= 340ms);
    BOOST_TEST(after < 400ms);
    BOOST_TEST(f.leases->renewal_count() >= 3);
}

BOOST_AUTO_TEST_CASE(a_lease_another_node_asks_for_is_reported_at_each_renewal_and_kept) {
    keeper_fixture f(300ms);
    lost_log log;
    const auto token = token_of(f.keeper->acquire("a", log.handler("a")));
    {
        std::lock_guard l(f.leases->m);
        f.leases->wanted.insert("a");
    }
    BOOST_TEST_REQUIRE(eventually([&] {
        std::lock_guard l(log.m);
        return log.wanted.size() >= 2;
    }));
    std::lock_guard l(log.m);
    BOOST_TEST((log.wanted[0] == std::pair(std::string("a"), token)));
    BOOST_TEST(log.lost.empty()); // the holder decides; the lease is still renewed
    BOOST_TEST(log.without_reason == 0u); // (under the lock taken above)
}

BOOST_AUTO_TEST_CASE(a_released_lease_is_not_renewed_and_stop_ends_renewals) {
    keeper_fixture f(300ms);
    lost_log log;
    const auto a = token_of(f.keeper->acquire("a", log.handler("a")));
    (void)f.keeper->acquire("b", log.handler("b"));
    f.keeper->release("a", a);
    {
        std::lock_guard l(f.leases->m);
        BOOST_TEST(f.leases->released == std::vector<std::string>{"a"});
    }
    std::this_thread::sleep_for(250ms);
    BOOST_TEST(f.leases->batch_size() == 1u); // "b" alone
    f.keeper->stop();
    std::this_thread::sleep_for(50ms);
    const int rounds = f.leases->renewal_count();
    std::this_thread::sleep_for(300ms);
    BOOST_TEST(f.leases->renewal_count() == rounds);
    BOOST_TEST(log.size() == 0u); // stopping reports nothing
}

BOOST_AUTO_TEST_SUITE_END()
