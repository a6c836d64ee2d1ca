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
// unnest(...)), each row carrying "bench:<seq>" in its thumbnail. A row goes
// to its file's owner only. Lag = the time the owner's socket received the
// row - the time the writer's COMMIT returned (same process, steady clock),
// for rows committed after --warmup. backlog connects the users, runs
// --server-stop, commits --backlog-rows rows as fast as it can, runs
// --server-start and times until every row reached its user (sockets
// reconnect with the LSN they last saw, so the server replays or streams).
// write runs the writers alone (--rate 0: as fast as they can): the
// database's own ceiling on this machine.

#include "test/loadtest/histogram.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json/parse.hpp>

#include <libpq-fe.h>

#include <atomic>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <fstream>
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
};

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch()).count();
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

void setup(const options& o) {
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
    explicit row_clock(std::size_t n) : committed(n + 1), received(n + 1), copies(n + 1) {}
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
                marks += "bench:" + std::to_string(mine[i]);
                ts += std::to_string(now_ns() / 1000);
            }
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
        auto v = json::parse(text, ec);
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
            if (!s.starts_with("bench:")) continue;
            long seq = 0;
            std::from_chars(s.data() + 6, s.data() + s.size(), seq);
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
        thread = std::thread([this] { io.run(); });
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
    tlsync::loadtest::histogram lag;
    long expected = 0, received = 0, duplicated = 0;
};

lag_report lags(const row_clock& rc, long first, long last) {
    lag_report r;
    for (long s = first; s <= last; ++s) {
        auto c = rc.committed[static_cast<std::size_t>(s)].load();
        if (!c) continue;
        ++r.expected;
        auto got = rc.received[static_cast<std::size_t>(s)].load();
        if (!got) continue;
        ++r.received;
        if (rc.copies[static_cast<std::size_t>(s)].load() > 1) ++r.duplicated;
        // Received before the writer saw COMMIT return counts as 0.
        r.lag.record(static_cast<std::uint64_t>(std::max<std::int64_t>(0, got - c) / 1000));
    }
    return r;
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
    std::cout << "  commit -> user socket lag ms: p50 " << ms(r.lag.quantile(0.5)) << "  p90 " << ms(r.lag.quantile(0.9))
              << "  p99 " << ms(r.lag.quantile(0.99)) << "  p99.9 " << ms(r.lag.quantile(0.999)) << "  max "
              << ms(r.lag.max()) << "\n";
    print_sockets(f.st);
    write_json(o, "{\"mode\":\"live\",\"users\":" + std::to_string(o.users) + ",\"rate\":" +
                      std::to_string(static_cast<double>(ws.rows) / write_s) + ",\"rows_per_tx\":" +
                      std::to_string(o.rows_per_tx) + ",\"received\":" + std::to_string(r.received) +
                      ",\"expected\":" + std::to_string(r.expected) + ",\"p50_ms\":" + ms(r.lag.quantile(0.5)) +
                      ",\"p90_ms\":" + ms(r.lag.quantile(0.9)) + ",\"p99_ms\":" + ms(r.lag.quantile(0.99)) +
                      ",\"max_ms\":" + ms(r.lag.max()) + "}");
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

void usage() {
    std::cout << "bench_replicator --mode setup|live|backlog|write --conninfo C [--url ws://H:P] [--users N]\n"
                 "  [--files-per-user N] [--rate ROWS/S] [--rows-per-tx N] [--writers N] [--duration S]\n"
                 "  [--warmup S] [--drain S] [--backlog-rows N] [--backlog-rows-per-tx N]\n"
                 "  [--server-stop CMD --server-start CMD] [--catch-up-timeout S] [--user-prefix P] [--json FILE]\n";
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
        else throw std::runtime_error("unknown flag " + a);
    }
    if (o.conninfo.empty()) throw std::runtime_error("--conninfo is required");
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
        throw std::runtime_error("unknown --mode " + o.mode);
    } catch (const std::exception& e) {
        std::cerr << "bench_replicator: " << e.what() << "\n";
        return 1;
    }
}
