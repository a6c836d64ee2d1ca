// Replicator benchmark (scripts/bench-replicator runs it; not a test).
//
//   bench_replicator --mode setup   --conninfo C --users 1000
//   bench_replicator --mode live    --conninfo C --url ws://127.0.0.1:P --users 1000 --rate 5000 --duration 20
//   bench_replicator --mode backlog --conninfo C --url ... --backlog-rows 200000
//                    --server-stop 'CMD' --server-start 'CMD'
//
// setup creates users b0..bN-1 with --files-per-user files each. live
// connects one user socket per user to /app/{userId}/connect, then writer
// threads (blocking libpq, one connection each) commit file updates at
// --rate rows/s (--rows-per-tx rows per transaction, one UPDATE ... FROM
// unnest(...)), each row carrying "bench<run>:<seq>" in its thumbnail (<run>
// differs per process, so rows of an earlier run redelivered do not count). A row goes
// to its file's owner only. Lag = the time the owner's socket received the
// row - the time the writer's COMMIT returned (same process, steady clock),
// for rows committed after --warmup. backlog connects the users, runs
// --server-stop, commits --backlog-rows rows as fast as it can, runs
// --server-start and times until every row reached its user (sockets
// reconnect with the LSN they last saw, so the server replays or streams).
// write runs the writers alone (--rate 0: as fast as they can): the
// database's own ceiling on this machine. replicator-live and
// replicator-backlog do what live and backlog do with the replicator
// (server/replicator) in this process and no sockets: users are registered
// in its history and a row counts as received when on_deliveries hands it
// over, which isolates the replication path from the user socket plane.

#include "server/pg_connection.hpp"
#include "server/pg_migrations.hpp"
#include "server/replicator.hpp"
#include "test/loadtest/histogram.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>

#include <libpq-fe.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <pthread.h>
#include <future>
#include <optional>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace json = boost::json;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

struct options {
    std::string mode = "live";
    std::string conninfo;
    std::string host = "127.0.0.1", port = "5858";
    int users = 1000;
    int files_per_user = 2;
    double rate = 5000;
    int rows_per_tx = 1;
    int writers = 4;
    double duration_s = 20;
    double warmup_s = 3;
    double drain_s = 10;
    long backlog_rows = 200'000;
    int backlog_rows_per_tx = 100;
    double catch_up_timeout_s = 180;
    std::string server_stop, server_start;
    std::string json_out;
    std::string user_prefix = "b";
    std::string state_dir = "/tmp"; // replicator-* modes: where the replicator's SQLite state goes
    int cache_kib = 0;               // history mode: SQLite page cache (0: sqlite_options' default)
};

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch()).count();
}

// "bench<run>:", the thumbnail prefix of this process's rows.
const std::string& mark_prefix() {
    static const std::string p = [] {
        char b[32];
        std::snprintf(b, sizeof b, "bench%llx:",
                      static_cast<unsigned long long>(std::chrono::system_clock::now().time_since_epoch().count()) &
                          0xffffffffffULL);
        return std::string(b);
    }();
    return p;
}

// ---------------------------------------------------------------- Postgres side

struct pg {
    PGconn* c;
    explicit pg(const std::string& conninfo) : c(PQconnectdb(conninfo.c_str())) {
        if (PQstatus(c) != CONNECTION_OK) throw std::runtime_error(std::string("connect: ") + PQerrorMessage(c));
    }
    ~pg() { PQfinish(c); }
    void exec(const std::string& sql, const std::vector<std::string>& params = {}) {
        std::vector<const char*> v;
        for (auto& p : params) v.push_back(p.c_str());
        PGresult* r = PQexecParams(c, sql.c_str(), static_cast<int>(v.size()), nullptr, v.data(), nullptr, nullptr, 0);
        auto st = PQresultStatus(r);
        std::string err = PQresultErrorMessage(r);
        PQclear(r);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) throw std::runtime_error("SQL: " + err);
    }
};

std::string user_id(const options& o, int u) { return o.user_prefix + std::to_string(u); }
int file_count(const options& o) { return o.users * o.files_per_user; }
// File f belongs to user f % users.
std::string file_id(const options& o, long f) { return o.user_prefix + "f" + std::to_string(f); }

// The app migrations, as tlsyncd applies them (recorded, so it agrees).
void migrate(const options& o) {
    net::io_context io;
    auto f = net::co_spawn(
        io,
        [&]() -> net::awaitable<tlsync::server::migrate_report> {
            tlsync::server::pg_connection c(io.get_executor());
            auto s = co_await c.connect(o.conninfo, 10s);
            if (!s) co_return tlsync::server::migrate_report{s};
            co_return co_await tlsync::server::migrate(c, tlsync::server::app_migrations());
        },
        net::use_future);
    io.run();
    auto rep = f.get();
    if (!rep.status) throw std::runtime_error("migrations: " + rep.status.error);
}

void setup(const options& o) {
    migrate(o);
    pg db(o.conninfo);
    db.exec(R"(INSERT INTO "user" (id, name, "createdAt", "updatedAt")
               SELECT $1 || g, $1 || g, 1, 1 FROM generate_series(0, $2::int - 1) g ON CONFLICT DO NOTHING)",
            {o.user_prefix, std::to_string(o.users)});
    db.exec(R"(INSERT INTO file (id, "ownerId", name, "publishedSlug", "createdAt", "updatedAt")
               SELECT $1 || 'f' || g, $1 || (g % $2::int), 'bench', $1 || 's' || g, 1, 1
                 FROM generate_series(0, $3::int - 1) g ON CONFLICT DO NOTHING)",
            {o.user_prefix, std::to_string(o.users), std::to_string(file_count(o))});
    db.exec(R"(INSERT INTO file_state ("userId", "fileId", "isFileOwner")
               SELECT "ownerId", id, true FROM file WHERE id LIKE $1 || 'f%' ON CONFLICT DO NOTHING)",
            {o.user_prefix});
    std::cout << "setup: " << o.users << " users, " << file_count(o) << " files\n";
}

// Rows are numbered from 1; row `seq` updates file seq % files.
struct row_clock {
    explicit row_clock(std::size_t n) : sent(n + 1), committed(n + 1), received(n + 1), copies(n + 1) {}
    std::vector<std::atomic<std::int64_t>> sent;      // ns when the writer sent the statement
    std::vector<std::atomic<std::int64_t>> committed; // ns when COMMIT returned
    std::vector<std::atomic<std::int64_t>> received;  // ns of the first receipt
    std::vector<std::atomic<std::uint32_t>> copies;   // receipts (> 1: redelivered)
};

// Commits rows [first, last] of this writer's share (seq % writers == w)
// on a schedule of `rate` rows/s overall (0: as fast as possible).
struct write_stats {
    long rows = 0, txs = 0, late_txs = 0;
    std::string error;
};

write_stats write_rows(const options& o, row_clock& rc, int w, long first, long last, double rate, int per_tx,
                       std::int64_t start_ns) {
    pthread_setname_np(pthread_self(), "bench-writer"); // left out of the replicator's CPU
    write_stats ws;
    try {
        pg db(o.conninfo);
        const std::string sql = R"(UPDATE file SET thumbnail = v.t, "updatedAt" = v.u
                                   FROM unnest($1::text[], $2::text[], $3::bigint[]) AS v(id, t, u)
                                   WHERE file.id = v.id)";
        std::vector<long> mine;
        for (long s = first; s <= last; ++s)
            if (s % o.writers == w) mine.push_back(s);
        const double tx_rate = rate > 0 ? rate / per_tx : 0;
        for (std::size_t at = 0; at < mine.size(); at += static_cast<std::size_t>(per_tx)) {
            // Open loop: transaction k of all writers is due at start + k / tx_rate.
            if (tx_rate > 0) {
                const double k = static_cast<double>(mine[at] - first) / per_tx;
                auto due = start_ns + static_cast<std::int64_t>(k / tx_rate * 1e9);
                auto now = now_ns();
                if (due > now) std::this_thread::sleep_for(std::chrono::nanoseconds(due - now));
                else if (now - due > 1'000'000) ++ws.late_txs;
            }
            std::string ids = "{", marks = "{", ts = "{";
            auto end = std::min(mine.size(), at + static_cast<std::size_t>(per_tx));
            for (auto i = at; i < end; ++i) {
                if (i > at) ids += ",", marks += ",", ts += ",";
                ids += file_id(o, mine[i] % file_count(o));
                marks += mark_prefix() + std::to_string(mine[i]);
                ts += std::to_string(now_ns() / 1000);
            }
            const auto sent = now_ns();
            for (auto i = at; i < end; ++i) rc.sent[static_cast<std::size_t>(mine[i])].store(sent);
            db.exec(sql, {ids + "}", marks + "}", ts + "}"});
            const auto done = now_ns();
            for (auto i = at; i < end; ++i) rc.committed[static_cast<std::size_t>(mine[i])].store(done);
            ws.rows += static_cast<long>(end - at);
            ++ws.txs;
        }
    } catch (const std::exception& e) {
        ws.error = e.what();
    }
    return ws;
}

write_stats write_all(const options& o, row_clock& rc, long first, long last, double rate, int per_tx) {
    std::vector<write_stats> per(static_cast<std::size_t>(o.writers));
    std::vector<std::thread> threads;
    const auto start = now_ns() + 10'000'000;
    for (int w = 0; w < o.writers; ++w)
        threads.emplace_back([&, w] { per[static_cast<std::size_t>(w)] = write_rows(o, rc, w, first, last, rate, per_tx, start); });
    for (auto& t : threads) t.join();
    write_stats total;
    for (auto& p : per) {
        total.rows += p.rows;
        total.txs += p.txs;
        total.late_txs += p.late_txs;
        if (total.error.empty()) total.error = p.error;
    }
    return total;
}

// ---------------------------------------------------------------- user sockets

struct socket_stats {
    std::atomic<int> connected{0};      // sockets that got hello/initial_data at least once
    std::atomic<int> open{0};           // sockets open now
    std::atomic<long> connects{0};      // successful upgrades
    std::atomic<long> connect_failures{0};
    std::atomic<long> reloads{0};
    std::atomic<long> frames{0};
    std::atomic<long> rows{0};          // bench rows received (with copies)
    std::atomic<long> unknown_frames{0};
    std::mutex m;
    std::map<std::string, long> closes; // why sockets ended
};

class user_socket : public std::enable_shared_from_this<user_socket> {
public:
    user_socket(net::io_context& io, const options& o, int user, row_clock& rc, socket_stats& st,
                const std::atomic<bool>& stop)
        : io_(io), o_(o), user_(user), rc_(rc), st_(st), stop_(stop) {}

    net::awaitable<void> run(std::chrono::milliseconds delay) {
        net::steady_timer t(io_);
        t.expires_after(delay);
        (void)co_await t.async_wait(net::as_tuple(net::use_awaitable));
        while (!stop_) {
            co_await session();
            if (stop_) break;
            t.expires_after(100ms); // reconnect, with the LSN last seen
            (void)co_await t.async_wait(net::as_tuple(net::use_awaitable));
        }
    }

    [[nodiscard]] bool got_hello() const { return hello_; }

private:
    static constexpr auto tuple = net::as_tuple(net::use_awaitable);

    net::awaitable<void> session() {
        websocket::stream<beast::tcp_stream> ws(io_);
        net::ip::tcp::resolver resolver(io_);
        auto [rec, eps] = co_await resolver.async_resolve(o_.host, o_.port, tuple);
        if (rec) {
            note_failure("resolve: " + rec.message());
            co_return;
        }
        beast::get_lowest_layer(ws).expires_after(10s);
        auto [cec, ep] = co_await beast::get_lowest_layer(ws).async_connect(eps, tuple);
        if (cec) {
            note_failure("connect: " + cec.message());
            co_return;
        }
        beast::get_lowest_layer(ws).expires_never();
        ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
        ws.read_message_max(64 << 20);
        std::string target = "/app/" + user_id(o_, user_) + "/connect";
        if (!lsn_.empty()) target += "?lsn=" + lsn_;
        websocket::response_type res;
        auto [hec] = co_await ws.async_handshake(res, o_.host + ":" + o_.port, target, tuple);
        if (hec) {
            note_failure("handshake: " + hec.message() + " HTTP " + std::to_string(res.result_int()));
            co_return;
        }
        ++st_.connects;
        ++st_.open;
        beast::flat_buffer buf;
        for (;;) {
            auto [ec, n] = co_await ws.async_read(buf, tuple);
            if (ec) {
                std::string why = ec == websocket::error::closed ? "close " + std::to_string(ws.reason().code) + " " +
                                                                       std::string(ws.reason().reason.c_str())
                                                                 : ec.message();
                std::lock_guard l(st_.m);
                ++st_.closes[why];
                break;
            }
            on_frame(std::string_view(static_cast<const char*>(buf.cdata().data()), buf.size()));
            buf.consume(buf.size());
            if (stop_) {
                (void)co_await ws.async_close(websocket::close_code::normal, tuple);
                break;
            }
        }
        --st_.open;
    }

    void note_failure(const std::string& why) {
        ++st_.connect_failures;
        std::lock_guard l(st_.m);
        ++st_.closes[why.substr(0, 80)];
    }

    void on_frame(std::string_view text) {
        const auto now = now_ns();
        ++st_.frames;
        boost::system::error_code ec;
        // Parsed into a reused buffer: the client shares the machine with
        // the server, and malloc per JSON node was most of its CPU.
        json::monotonic_resource mr(parse_buffer_.data(), parse_buffer_.size());
        auto v = json::parse(text, ec, &mr);
        if (ec || !v.is_object()) return void(++st_.unknown_frames);
        auto& o = v.get_object();
        auto* type = o.if_contains("type");
        if (!type || !type->is_string()) return void(++st_.unknown_frames);
        if (auto* l = o.if_contains("lsn"); l && l->is_string()) lsn_ = l->get_string();
        const auto t = type->get_string();
        if (t == "hello" || t == "initial_data") {
            if (!hello_) ++st_.connected;
            hello_ = true;
            return;
        }
        if (t == "reload") {
            ++st_.reloads;
            lsn_.clear(); // start over from a snapshot
            return;
        }
        if (t != "changes") return;
        auto* changes = o.if_contains("changes");
        if (!changes || !changes->is_array()) return;
        for (auto& c : changes->get_array()) {
            auto* row = c.is_object() ? c.get_object().if_contains("row") : nullptr;
            auto* th = row && row->is_object() ? row->get_object().if_contains("thumbnail") : nullptr;
            if (!th || !th->is_string()) continue;
            std::string_view s = th->get_string();
            if (!s.starts_with(mark_prefix())) continue;
            long seq = 0;
            std::from_chars(s.data() + mark_prefix().size(), s.data() + s.size(), seq);
            if (seq <= 0 || static_cast<std::size_t>(seq) >= rc_.received.size()) continue;
            std::int64_t zero = 0;
            rc_.received[static_cast<std::size_t>(seq)].compare_exchange_strong(zero, now);
            rc_.copies[static_cast<std::size_t>(seq)].fetch_add(1);
            ++st_.rows;
        }
    }

    net::io_context& io_;
    const options& o_;
    int user_;
    row_clock& rc_;
    socket_stats& st_;
    const std::atomic<bool>& stop_;
    std::string lsn_;
    bool hello_ = false;
    std::array<unsigned char, 16 * 1024> parse_buffer_{};
};

struct fleet {
    // Sockets outlive the context, whose destructor destroys the coroutines.
    std::vector<std::shared_ptr<user_socket>> sockets;
    net::io_context io;
    socket_stats st;
    std::atomic<bool> stop{false};
    std::thread thread;

    fleet(const options& o, row_clock& rc) {
        for (int u = 0; u < o.users; ++u) {
            auto s = std::make_shared<user_socket>(io, o, u, rc, st, stop);
            sockets.push_back(s);
            // Staggered: 1,000 sockets over ~1 s.
            net::co_spawn(io, s->run(std::chrono::milliseconds(u)), net::detached);
        }
        thread = std::thread([this] {
            pthread_setname_np(pthread_self(), "bench-sockets");
            io.run();
        });
    }
    void finish() {
        stop = true;
        // Sockets close on their next frame; the rest end with the context.
        std::this_thread::sleep_for(200ms);
        io.stop();
        thread.join();
    }
};

bool wait_for(const std::function<bool()>& pred, double seconds) {
    auto end = clock_type::now() + std::chrono::milliseconds(static_cast<long>(seconds * 1000));
    while (clock_type::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(10ms);
    }
    return pred();
}

// ---------------------------------------------------------------- reports

std::string ms(std::uint64_t us) {
    char b[32];
    std::snprintf(b, sizeof b, "%.2f", static_cast<double>(us) / 1000.0);
    return b;
}

struct lag_report {
    tlsync::loadtest::histogram lag;      // from COMMIT returned (0 when received earlier)
    tlsync::loadtest::histogram from_sent; // from the statement sent: an upper bound
    long expected = 0, received = 0, duplicated = 0;
    std::vector<std::uint64_t> max_by_second; // worst lag (us) of the rows committed in each second
};

lag_report lags(const row_clock& rc, long first, long last) {
    lag_report r;
    std::int64_t base = 0;
    for (long s = first; s <= last; ++s) {
        auto c = rc.committed[static_cast<std::size_t>(s)].load();
        if (!c) continue;
        if (!base) base = c;
        ++r.expected;
        auto got = rc.received[static_cast<std::size_t>(s)].load();
        if (!got) continue;
        ++r.received;
        if (rc.copies[static_cast<std::size_t>(s)].load() > 1) ++r.duplicated;
        // Received before the writer saw COMMIT return counts as 0.
        const auto lag_us = static_cast<std::uint64_t>(std::max<std::int64_t>(0, got - c) / 1000);
        r.lag.record(lag_us);
        const auto sec = static_cast<std::size_t>(std::max<std::int64_t>(0, c - base) / 1'000'000'000);
        if (r.max_by_second.size() <= sec) r.max_by_second.resize(sec + 1);
        r.max_by_second[sec] = std::max(r.max_by_second[sec], lag_us);
        r.from_sent.record(static_cast<std::uint64_t>(
            std::max<std::int64_t>(0, got - rc.sent[static_cast<std::size_t>(s)].load()) / 1000));
    }
    return r;
}

// The worst lag of each second's commits, in whole ms: shows whether a tail
// is steady, periodic, or one stall.
std::string per_second(const lag_report& r) {
    std::string out;
    for (auto us : r.max_by_second) out += (out.empty() ? "" : " ") + std::to_string(us / 1000);
    return out;
}

std::string quantiles(const tlsync::loadtest::histogram& h) {
    return "p50 " + ms(h.quantile(0.5)) + "  p90 " + ms(h.quantile(0.9)) + "  p99 " + ms(h.quantile(0.99)) +
           "  p99.9 " + ms(h.quantile(0.999)) + "  max " + ms(h.max());
}

void print_sockets(socket_stats& st) {
    std::cout << "sockets: connects " << st.connects << ", connect failures " << st.connect_failures << ", reloads "
              << st.reloads << ", frames " << st.frames << ", unparsed frames " << st.unknown_frames << "\n";
    std::lock_guard l(st.m);
    for (auto& [why, n] : st.closes) std::cout << "  ended: " << why << " x" << n << "\n";
}

void write_json(const options& o, const std::string& body) {
    if (o.json_out.empty()) return;
    std::ofstream(o.json_out) << body << "\n";
}

int run_live(const options& o) {
    const auto rows = static_cast<long>(o.rate * (o.warmup_s + o.duration_s));
    row_clock rc(static_cast<std::size_t>(rows));
    fleet f(o, rc);
    if (!wait_for([&] { return f.st.connected >= o.users; }, 60)) {
        std::cerr << "only " << f.st.connected << " of " << o.users << " users connected\n";
        print_sockets(f.st);
        f.finish();
        return 1;
    }
    std::cout << "connected " << o.users << " users\n";
    const auto t0 = now_ns();
    auto ws = write_all(o, rc, 1, rows, o.rate, o.rows_per_tx);
    const double write_s = static_cast<double>(now_ns() - t0) / 1e9;
    if (!ws.error.empty()) std::cerr << "writer error: " << ws.error << "\n";
    const long warm = static_cast<long>(o.rate * o.warmup_s);
    (void)wait_for([&] { return lags(rc, 1, rows).received >= ws.rows; }, o.drain_s);
    f.finish();
    auto r = lags(rc, warm + 1, rows);
    std::cout << "live: " << o.users << " users, " << ws.rows << " rows in " << ws.txs << " transactions over "
              << write_s << " s (" << static_cast<double>(ws.rows) / write_s << " rows/s, " << o.rows_per_tx
              << " rows/tx, " << ws.late_txs << " transactions started >1 ms late)\n";
    std::cout << "  measured (after " << o.warmup_s << " s warm-up): " << r.received << "/" << r.expected
              << " rows received, " << r.duplicated << " redelivered\n";
    std::cout << "  commit -> user socket lag ms: " << quantiles(r.lag) << "\n"
              << "  worst lag per second of commits, ms: " << per_second(r) << "\n"
              << "  sent -> user socket (upper bound) ms: " << quantiles(r.from_sent) << "\n";
    print_sockets(f.st);
    write_json(o, "{\"mode\":\"live\",\"users\":" + std::to_string(o.users) + ",\"rate\":" +
                      std::to_string(static_cast<double>(ws.rows) / write_s) + ",\"rows_per_tx\":" +
                      std::to_string(o.rows_per_tx) + ",\"received\":" + std::to_string(r.received) +
                      ",\"expected\":" + std::to_string(r.expected) + ",\"p50_ms\":" + ms(r.lag.quantile(0.5)) +
                      ",\"p90_ms\":" + ms(r.lag.quantile(0.9)) + ",\"p99_ms\":" + ms(r.lag.quantile(0.99)) +
                      ",\"max_ms\":" + ms(r.lag.max()) + ",\"sent_p99_ms\":" + ms(r.from_sent.quantile(0.99)) + "}");
    return r.received == r.expected ? 0 : 2;
}

int run_backlog(const options& o) {
    const long rows = o.backlog_rows;
    row_clock rc(static_cast<std::size_t>(rows));
    fleet f(o, rc);
    if (!wait_for([&] { return f.st.connected >= o.users; }, 60)) {
        std::cerr << "only " << f.st.connected << " of " << o.users << " users connected\n";
        f.finish();
        return 1;
    }
    std::cout << "connected " << o.users << " users; stopping the server\n";
    if (std::system(o.server_stop.c_str()) != 0) std::cerr << "--server-stop failed\n";
    (void)wait_for([&] { return f.st.open == 0; }, 15);
    const auto w0 = now_ns();
    auto ws = write_all(o, rc, 1, rows, 0, o.backlog_rows_per_tx);
    const double write_s = static_cast<double>(now_ns() - w0) / 1e9;
    if (!ws.error.empty()) std::cerr << "writer error: " << ws.error << "\n";
    std::cout << "backlog: committed " << ws.rows << " rows in " << ws.txs << " transactions, " << write_s << " s ("
              << static_cast<double>(ws.rows) / write_s << " rows/s); starting the server\n";
    const auto s0 = now_ns();
    if (std::system(o.server_start.c_str()) != 0) std::cerr << "--server-start failed\n";
    const bool all = wait_for([&] { return f.st.rows >= ws.rows && lags(rc, 1, rows).received >= ws.rows; },
                              o.catch_up_timeout_s);
    f.finish();
    std::int64_t first = INT64_MAX, last = 0;
    long got = 0;
    for (long s = 1; s <= rows; ++s) {
        auto t = rc.received[static_cast<std::size_t>(s)].load();
        if (!t) continue;
        ++got;
        first = std::min(first, t);
        last = std::max(last, t);
    }
    const double total_s = static_cast<double>(last - s0) / 1e9;
    const double stream_s = static_cast<double>(last - first) / 1e9;
    std::cout << "catch-up: " << got << "/" << ws.rows << " rows " << (all ? "" : "(TIMED OUT) ") << "reached their users\n"
              << "  from server start: first row after " << static_cast<double>(first - s0) / 1e9 << " s, last after "
              << total_s << " s -> " << static_cast<double>(got) / total_s << " rows/s\n"
              << "  first to last row: " << stream_s << " s -> " << static_cast<double>(got) / stream_s << " rows/s\n";
    print_sockets(f.st);
    write_json(o, "{\"mode\":\"backlog\",\"rows\":" + std::to_string(got) + ",\"from_start_s\":" +
                      std::to_string(total_s) + ",\"rate_from_start\":" + std::to_string(got / total_s) +
                      ",\"rate_first_to_last\":" + std::to_string(got / stream_s) + "}");
    return all ? 0 : 2;
}

// Writers only, no sockets: what the database sustains on its own.
int run_write(const options& o) {
    const long rows = o.rate > 0 ? static_cast<long>(o.rate * o.duration_s) : o.backlog_rows;
    row_clock rc(static_cast<std::size_t>(rows));
    const auto t0 = now_ns();
    auto ws = write_all(o, rc, 1, rows, o.rate, o.rows_per_tx);
    const double s = static_cast<double>(now_ns() - t0) / 1e9;
    if (!ws.error.empty()) std::cerr << "writer error: " << ws.error << "\n";
    std::cout << "write: " << ws.rows << " rows in " << ws.txs << " transactions, " << s << " s ("
              << static_cast<double>(ws.rows) / s << " rows/s; " << ws.late_txs << " transactions started >1 ms late)\n";
    return ws.error.empty() ? 0 : 1;
}

// ---------------------------------------------------------------- in-process replicator

struct inproc {
    const options& o;
    row_clock& rc;
    std::string state_path;
    net::io_context io;
    net::thread_pool blocking{1};
    std::optional<net::executor_work_guard<net::io_context::executor_type>> guard{io.get_executor()};
    std::thread thread{[this] { io.run(); }};
    std::shared_ptr<tlsync::server::replicator> r;
    std::atomic<long> rows{0};

    inproc(const options& opt, row_clock& clocks, std::string path) : o(opt), rc(clocks), state_path(std::move(path)) {}
    ~inproc() {
        stop();
        guard.reset();
        io.stop();
        thread.join();
        blocking.join();
    }

    void start() {
        tlsync::server::replicator_config cfg;
        cfg.conninfo = o.conninfo;
        cfg.slot_name = "bench_inproc";
        cfg.state_path = state_path;
        cfg.history.max_rows = 10'000'000; // never prune the backlog away
        tlsync::server::replicator::handlers h;
        h.on_deliveries = [this](std::vector<tlsync::core::pg::user_delivery> ds) {
            const auto now = now_ns();
            const std::string quoted_mark = '"' + mark_prefix();
            for (auto& d : ds)
                for (auto at = d.changes_json.find(quoted_mark); at != std::string::npos;
                     at = d.changes_json.find(quoted_mark, at + 1)) {
                    const char* digits = d.changes_json.data() + at + quoted_mark.size();
                    long seq = 0;
                    std::from_chars(digits, d.changes_json.data() + d.changes_json.size(), seq);
                    if (seq <= 0 || static_cast<std::size_t>(seq) >= rc.received.size()) continue;
                    std::int64_t zero = 0;
                    rc.received[static_cast<std::size_t>(seq)].compare_exchange_strong(zero, now);
                    rc.copies[static_cast<std::size_t>(seq)].fetch_add(1);
                    ++rows;
                }
        };
        r = tlsync::server::make_replicator(io.get_executor(), blocking.get_executor(), cfg, h);
        r->start();
    }
    bool streaming() { return wait_for([&] { return r->stats().state == "streaming"; }, 30); }
    void stop() {
        if (!r) return;
        std::promise<void> p;
        r->stop([&] { p.set_value(); });
        p.get_future().wait_for(10s);
        r.reset();
    }
    void register_users() {
        std::promise<void> p;
        r->with_history([&](tlsync::core::pg::replication_history* h) {
            auto seen = h->meta().recorded;
            std::vector<std::string> none;
            for (int u = 0; u < o.users; ++u) (void)h->register_user(user_id(o, u), seen, none, "bench", 0);
            p.set_value();
        });
        p.get_future().wait();
    }
};

// CPU seconds used by this process's threads other than the writers (and
// the sockets' thread, named bench-sockets): the replicator's share.
double replicator_cpu_s() {
    double ticks = 0;
    for (auto& t : std::filesystem::directory_iterator("/proc/self/task")) {
        std::ifstream stat(t.path() / "stat");
        std::string line;
        std::getline(stat, line);
        auto open = line.find('('), close = line.rfind(')');
        if (open == std::string::npos || close == std::string::npos) continue;
        auto comm = line.substr(open + 1, close - open - 1);
        if (comm == "bench-writer" || comm == "bench-sockets") continue;
        std::istringstream rest(line.substr(close + 2));
        std::string field;
        for (int i = 3; i <= 15 && rest >> field; ++i)
            if (i == 14 || i == 15) ticks += std::stod(field);
    }
    return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Drops the in-process replicator's slot, so the next run starts from now
// (its walsender may hold it for a moment after the stop).
void drop_slot(const options& o, const std::string& slot) {
    pg db(o.conninfo);
    for (int i = 0; i < 50; ++i) {
        try {
            db.exec("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1", {slot});
            return;
        } catch (const std::exception&) {
            std::this_thread::sleep_for(100ms);
        }
    }
}

std::string temp_state(const options& o) {
    std::string t = o.state_dir + "/tlsync-bench-inproc-XXXXXX";
    if (!mkdtemp(t.data())) throw std::runtime_error("mkdtemp");
    return t;
}

int run_inproc_live(const options& o) {
    const auto rows = static_cast<long>(o.rate * (o.warmup_s + o.duration_s));
    row_clock rc(static_cast<std::size_t>(rows));
    auto dir = temp_state(o);
    inproc rep(o, rc, dir + "/replicator.sqlite");
    rep.start();
    if (!rep.streaming()) throw std::runtime_error("the replicator is not streaming");
    rep.register_users();
    const auto t0 = now_ns();
    const double cpu0 = replicator_cpu_s();
    auto ws = write_all(o, rc, 1, rows, o.rate, o.rows_per_tx);
    const double write_s = static_cast<double>(now_ns() - t0) / 1e9;
    if (!ws.error.empty()) std::cerr << "writer error: " << ws.error << "\n";
    (void)wait_for([&] { return rep.rows >= ws.rows; }, o.drain_s);
    const double cpu = replicator_cpu_s() - cpu0;
    auto r = lags(rc, static_cast<long>(o.rate * o.warmup_s) + 1, rows);
    rep.stop();
    drop_slot(o, "bench_inproc");
    std::filesystem::remove_all(dir);
    std::cout << "replicator-live: " << o.users << " registered users, " << ws.rows << " rows over " << write_s
              << " s (" << static_cast<double>(ws.rows) / write_s << " rows/s, " << o.rows_per_tx << " rows/tx, "
              << ws.late_txs << " transactions started >1 ms late)\n"
              << "  measured: " << r.received << "/" << r.expected << " rows delivered\n"
              << "  commit -> on_deliveries lag ms: " << quantiles(r.lag) << "\n"
              << "  worst lag per second of commits, ms: " << per_second(r) << "\n"
              << "  sent -> on_deliveries (upper bound) ms: " << quantiles(r.from_sent) << "\n"
              << "  replicator CPU: " << cpu << " s = " << cpu / write_s * 100 << " % of a core, "
              << cpu * 1e6 / static_cast<double>(std::max(1L, ws.rows)) << " us per row\n";
    return r.received == r.expected ? 0 : 2;
}

int run_inproc_backlog(const options& o) {
    const long rows = o.backlog_rows;
    row_clock rc(static_cast<std::size_t>(rows));
    auto dir = temp_state(o);
    inproc rep(o, rc, dir + "/replicator.sqlite");
    rep.start();
    if (!rep.streaming()) throw std::runtime_error("the replicator is not streaming");
    rep.register_users();
    rep.stop();
    const auto w0 = now_ns();
    auto ws = write_all(o, rc, 1, rows, 0, o.backlog_rows_per_tx);
    const double write_s = static_cast<double>(now_ns() - w0) / 1e9;
    std::cout << "backlog: committed " << ws.rows << " rows in " << ws.txs << " transactions, " << write_s << " s\n";
    const auto s0 = now_ns();
    const double cpu0 = replicator_cpu_s();
    rep.start();
    const bool all = wait_for([&] { return rep.rows >= ws.rows; }, o.catch_up_timeout_s);
    const double cpu = replicator_cpu_s() - cpu0;
    std::int64_t first = INT64_MAX, last = 0;
    for (long s = 1; s <= rows; ++s)
        if (auto t = rc.received[static_cast<std::size_t>(s)].load()) first = std::min(first, t), last = std::max(last, t);
    rep.stop();
    drop_slot(o, "bench_inproc");
    std::filesystem::remove_all(dir);
    const double total_s = static_cast<double>(last - s0) / 1e9;
    std::cout << "replicator-backlog: " << rep.rows << "/" << ws.rows << " rows delivered " << (all ? "" : "(TIMED OUT) ")
              << "to " << o.users << " registered users\n"
              << "  from start: first after " << static_cast<double>(first - s0) / 1e9 << " s, last after " << total_s
              << " s -> " << static_cast<double>(ws.rows) / total_s << " rows/s\n"
              << "  replicator CPU: " << cpu << " s, " << cpu * 1e6 / static_cast<double>(std::max(1L, ws.rows))
              << " us per row\n";
    return all ? 0 : 2;
}

// The same writers with Postgres's own consumer, pg_recvlogical (wal2json v2
// to a pipe), as the yardstick under the same machine load: a row counts as
// received when its line is read.
int run_recvlogical_live(const options& o) {
    const auto rows = static_cast<long>(o.rate * (o.warmup_s + o.duration_s));
    row_clock rc(static_cast<std::size_t>(rows));
    const std::string slot = "bench_recvlogical";
    {
        pg db(o.conninfo);
        db.exec("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1", {slot});
        db.exec("SELECT pg_create_logical_replication_slot($1, 'wal2json')", {slot});
    }
    // Spawned with its pid kept, so it is stopped by pid.
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("pipe");
    const std::string bin = "/usr/lib/postgresql/15/bin/pg_recvlogical";
    std::vector<std::string> args{bin, "-d", o.conninfo, "--slot", slot, "-o", "format-version=2",
                                  "-o", "add-tables=public.file", "-o", "include-transaction=false",
                                  "--start", "-f", "-", "-s", "1"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    pid_t pid = 0;
    if (posix_spawn(&pid, bin.c_str(), &fa, nullptr, argv.data(), environ) != 0)
        throw std::runtime_error("spawn pg_recvlogical");
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    FILE* p = fdopen(fds[0], "r");
    std::atomic<long> got{0};
    std::thread reader([&] {
        char line[1 << 16];
        while (std::fgets(line, sizeof line, p)) {
            const auto now = now_ns();
            std::string_view l(line);
            const auto& m = mark_prefix();
            for (auto at = l.find(m); at != std::string_view::npos; at = l.find(m, at + m.size())) {
                long seq = 0;
                std::from_chars(l.data() + at + m.size(), l.data() + l.size(), seq);
                if (seq <= 0 || static_cast<std::size_t>(seq) >= rc.received.size()) continue;
                std::int64_t zero = 0;
                if (rc.received[static_cast<std::size_t>(seq)].compare_exchange_strong(zero, now)) ++got;
            }
        }
    });
    std::this_thread::sleep_for(1s);
    auto ws = write_all(o, rc, 1, rows, o.rate, o.rows_per_tx);
    (void)wait_for([&] { return got >= ws.rows; }, o.drain_s);
    auto r = lags(rc, static_cast<long>(o.rate * o.warmup_s) + 1, rows);
    kill(pid, SIGTERM);
    reader.join();
    fclose(p);
    waitpid(pid, nullptr, 0);
    {
        pg db(o.conninfo);
        db.exec("SELECT pg_drop_replication_slot($1)", {slot});
    }
    std::cout << "recvlogical-live: " << ws.rows << " rows, " << o.rows_per_tx << " rows/tx; measured " << r.received
              << "/" << r.expected << "\n  commit -> pg_recvlogical lag ms: " << quantiles(r.lag) << "\n"
              << "  worst lag per second of commits, ms: " << per_second(r) << "\n"
              << "  sent -> pg_recvlogical (upper bound) ms: " << quantiles(r.from_sent) << "\n";
    return 0;
}

// The replicator's two CPU costs without Postgres or sockets: decoding a
// wal2json v2 file UPDATE (REPLICA IDENTITY FULL: the old row too), and
// replication_history::record with --users active users, for batches of 1,
// 10 and 100 transactions of --rows-per-tx rows per SQLite commit.
std::int64_t thread_cpu_ns() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

int run_history(const options& o) {
    namespace pg = tlsync::core::pg;
    auto column = [](std::string n, std::string t, std::string v) {
        return R"({"name":")" + n + R"(","type":")" + t + R"(","value":)" + v + "}";
    };
    auto file_columns = [&](long f, long seq) {
        std::string u = "\"" + user_id(o, static_cast<int>(f % o.users)) + "\"";
        return "[" + column("id", "text", "\"" + file_id(o, f) + "\"") + "," + column("ownerId", "text", u) + "," +
               column("name", "text", "\"bench\"") + "," + column("thumbnail", "text", "\"bench:" + std::to_string(seq) + "\"") +
               "," + column("shared", "boolean", "true") + "," + column("sharedLinkType", "text", "\"edit\"") + "," +
               column("published", "boolean", "false") + "," + column("lastPublished", "bigint", "0") + "," +
               column("publishedSlug", "text", "\"slug" + std::to_string(f) + "\"") + "," +
               column("isEmpty", "boolean", "true") + "," + column("isDeleted", "boolean", "false") + "," +
               column("createdAt", "bigint", "1") + "," + column("updatedAt", "bigint", std::to_string(1700000000000 + seq)) + "]";
    };
    auto line = [&](long seq) {
        long f = seq % file_count(o);
        return R"({"action":"U","xid":1000,"lsn":"0/1000","schema":"public","table":"file","columns":)" +
               file_columns(f, seq) + R"(,"identity":)" + file_columns(f, seq - 1) + "}";
    };
    // Decoding.
    const long n_decode = 50'000;
    std::vector<std::string> lines;
    for (long i = 1; i <= 1000; ++i) lines.push_back(line(i));
    auto t0 = thread_cpu_ns();
    std::size_t sink = 0;
    for (long i = 0; i < n_decode; ++i) {
        auto r = pg::decode_wal2json(lines[static_cast<std::size_t>(i % 1000)]);
        sink += r.index();
    }
    const double decode_us = static_cast<double>(thread_cpu_ns() - t0) / 1e3 / n_decode;
    std::cout << "decode_wal2json, file UPDATE with the old row (" << lines[0].size() << " bytes): " << decode_us
              << " us CPU per row" << (sink == 0 ? "" : "") << "\n";

    // Recording.
    for (const char* where : {"/tmp", "/dev/shm"}) {
        for (int batch : {1, 10, 100}) {
            options oo = o;
            oo.state_dir = where;
            auto dir = temp_state(oo);
            {
                tlsync::core::sqlite_options so;
                if (o.cache_kib > 0) so.cache_kib = o.cache_kib;
                pg::replication_history h(dir + "/state.sqlite", so);
                (void)h.begin_slot("s", "sys", pg::lsn{1}, "E");
                std::vector<std::string> none;
                for (int u = 0; u < o.users; ++u) (void)h.register_user(user_id(o, u), pg::lsn{1}, none, "boot", 0);
                const long txs = 20'000 / o.rows_per_tx;
                std::vector<pg::transaction> all;
                long seq = 1;
                for (long t = 0; t < txs; ++t) {
                    pg::transaction tx;
                    tx.end_lsn = pg::lsn{static_cast<std::uint64_t>(100 + t)};
                    for (int r = 0; r < o.rows_per_tx; ++r, ++seq)
                        tx.changes.push_back(std::get<pg::row_change>(pg::decode_wal2json(line(seq))));
                    all.push_back(std::move(tx));
                }
                std::size_t delivered = 0;
                t0 = thread_cpu_ns();
                for (std::size_t i = 0; i < all.size(); i += static_cast<std::size_t>(batch)) {
                    auto n = std::min(all.size() - i, static_cast<std::size_t>(batch));
                    delivered += h.record(std::span(all).subspan(i, n), 0).size();
                }
                const double us = static_cast<double>(thread_cpu_ns() - t0) / 1e3 / static_cast<double>(seq - 1);
                std::cout << "record, state in " << where << ", " << batch << " tx of " << o.rows_per_tx
                          << " rows per SQLite commit, " << o.users << " active users, cache " << (o.cache_kib ? o.cache_kib : tlsync::core::sqlite_options{}.cache_kib)
                          << " KiB: " << us << " us CPU per row ("
                          << delivered << " deliveries)\n";
            }
            std::filesystem::remove_all(dir);
        }
    }
    return 0;
}

void usage() {
    std::cout << "bench_replicator --mode setup|live|backlog|write|replicator-live|replicator-backlog --conninfo C [--url ws://H:P] [--users N]\n"
                 "  [--files-per-user N] [--rate ROWS/S] [--rows-per-tx N] [--writers N] [--duration S]\n"
                 "  [--warmup S] [--drain S] [--backlog-rows N] [--backlog-rows-per-tx N]\n"
                 "  [--server-stop CMD --server-start CMD] [--catch-up-timeout S] [--user-prefix P] [--json FILE]\n"
                 "  [--state-dir DIR (replicator-* modes)] [--cache-kib N (history mode)]\n";
}

options parse(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "-h" || a == "--help") usage(), std::exit(0);
        if (i + 1 >= argc) throw std::runtime_error(a + ": missing value");
        std::string v = argv[++i];
        if (a == "--mode") o.mode = v;
        else if (a == "--conninfo") o.conninfo = v;
        else if (a == "--url") {
            auto hp = v.substr(v.find("://") == std::string::npos ? 0 : v.find("://") + 3);
            if (auto slash = hp.find('/'); slash != std::string::npos) hp.resize(slash);
            auto colon = hp.rfind(':');
            if (colon == std::string::npos) throw std::runtime_error("--url: need host:port");
            o.host = hp.substr(0, colon);
            o.port = hp.substr(colon + 1);
        } else if (a == "--users") o.users = std::stoi(v);
        else if (a == "--files-per-user") o.files_per_user = std::stoi(v);
        else if (a == "--rate") o.rate = std::stod(v);
        else if (a == "--rows-per-tx") o.rows_per_tx = std::stoi(v);
        else if (a == "--writers") o.writers = std::stoi(v);
        else if (a == "--duration") o.duration_s = std::stod(v);
        else if (a == "--warmup") o.warmup_s = std::stod(v);
        else if (a == "--drain") o.drain_s = std::stod(v);
        else if (a == "--backlog-rows") o.backlog_rows = std::stol(v);
        else if (a == "--backlog-rows-per-tx") o.backlog_rows_per_tx = std::stoi(v);
        else if (a == "--catch-up-timeout") o.catch_up_timeout_s = std::stod(v);
        else if (a == "--server-stop") o.server_stop = v;
        else if (a == "--server-start") o.server_start = v;
        else if (a == "--user-prefix") o.user_prefix = v;
        else if (a == "--json") o.json_out = v;
        else if (a == "--state-dir") o.state_dir = v;
        else if (a == "--cache-kib") o.cache_kib = std::stoi(v);
        else throw std::runtime_error("unknown flag " + a);
    }
    if (o.conninfo.empty() && o.mode != "history") throw std::runtime_error("--conninfo is required");
    if (o.users < 1 || o.files_per_user < 1 || o.writers < 1 || o.rows_per_tx < 1 || o.backlog_rows_per_tx < 1)
        throw std::runtime_error("counts must be positive");
    if (o.mode == "backlog" && (o.server_stop.empty() || o.server_start.empty()))
        throw std::runtime_error("--mode backlog needs --server-stop and --server-start");
    return o;
}

} // namespace

int main(int argc, char** argv) {
    try {
        auto o = parse(argc, argv);
        if (o.mode == "setup") return setup(o), 0;
        if (o.mode == "live") return run_live(o);
        if (o.mode == "backlog") return run_backlog(o);
        if (o.mode == "write") return run_write(o);
        if (o.mode == "replicator-live") return run_inproc_live(o);
        if (o.mode == "recvlogical-live") return run_recvlogical_live(o);
        if (o.mode == "history") return run_history(o);
        if (o.mode == "replicator-backlog") return run_inproc_backlog(o);
        throw std::runtime_error("unknown --mode " + o.mode);
    } catch (const std::exception& e) {
        std::cerr << "bench_replicator: " << e.what() << "\n";
        return 1;
    }
}
