#include "server/server.hpp"

#include "server/auth.hpp"

#include "server/address_limiter.hpp"
#include "server/allocator.hpp"
#include "server/admin.hpp"
#include "server/user_plane.hpp"

#include "server/schema_loading.hpp"
#include "server/static_files.hpp"
#include "server/uploads.hpp"
#include "server/listener.hpp"
#include "server/log.hpp"
#include "server/metrics.hpp"
#include "server/tls.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

#if defined(__GLIBC__)
#include <sched.h>
#endif

#include <algorithm>
#include <array>
#include <atomic>
#include <optional>
#include <csignal>
#include <thread>
#include <vector>

namespace tlsync::server {

namespace {

// The CPUs this process may run on (taskset, cgroup cpusets), not the
// machine's: more I/O threads than that only take turns on the same core.
unsigned usable_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        if (const int n = CPU_COUNT(&set); n > 0) return static_cast<unsigned>(n);
    return std::max(1u, std::thread::hardware_concurrency());
}

using tcp = net::ip::tcp;
using namespace std::chrono_literals;

// How long idle connections get, after total cancellation, before the
// terminal one cuts websockets still in their close handshake.
constexpr std::chrono::milliseconds terminal_grace = 1s;

} // namespace

struct server::impl {
    explicit impl(config c, room_service_factory f)
        : cfg(std::move(c)), factory(std::move(f)), control(net::make_strand(io)),
          signals(control, SIGINT, SIGTERM), deadline(control), grace(control) {}

    void begin_shutdown();
    void after_rooms();
    void step_done(); // a shutdown step (rooms, replicator) finished
    [[nodiscard]] std::string open_replicator();
    void cut_remaining();
    static void run_thread(net::io_context& ctx);
    void housekeep();

    config cfg;
    room_service_factory factory;
    // --postgres: the replicator and the user plane on a thread of their own
    // (one more than --threads): the replication stream neither waits for
    // room traffic nor hops between threads per batch (docs/ARCHITECTURE.md).
    // Destroyed after `io`: a user socket's coroutine that `io` destroys
    // unfinished tells its user actor it left, posting to a plane strand;
    // the plane's handlers hold user sockets only weakly.
    net::io_context plane_io{1};
    // Destroyed last but for plane_io: everything below holds I/O objects of `io`.
    net::io_context io;
    net::thread_pool blocking{2};
    net::strand<net::io_context::executor_type> control; // signals and shutdown steps
    net::signal_set signals;
    net::steady_timer deadline; // hard end of shutdown
    net::steady_timer grace;    // total -> terminal cancellation
    net::steady_timer housekeeping{control};
    std::array<std::int64_t, 3> trimmed_at{-1, -1, -1}; // connections opened, open, rooms
    std::shared_ptr<connection_context> ctx = std::make_shared<connection_context>();
    std::shared_ptr<room_service> rooms;
    std::shared_ptr<listener> accept;
    // --postgres: the replicator, its user plane and their connection pool.
    std::optional<user_plane> plane;
    int steps_left = 0; // on `control`: shutdown steps still running
    std::atomic<bool> stopping{false};
    std::atomic<bool> serving{false};
    bool rooms_done = false; // on `control`
};

server::server(config cfg, room_service_factory factory)
    : impl_(std::make_unique<impl>(std::move(cfg), std::move(factory))) {}

server::~server() {
    // Rooms and connections hold timers and sockets of io: drop them while
    // io is still alive (it destroys its pending handlers afterwards).
    if (impl_) {
        impl_->accept.reset();
        impl_->plane.reset();
        impl_->rooms.reset();
        impl_->ctx.reset();
        impl_->blocking.join();
    }
}

void server::set_admin_handler(admin_handler handler) { impl_->ctx->admin = std::move(handler); }

std::string server::open() {
    auto& m = *impl_;
    m.ctx->cfg = m.cfg;
    if (m.cfg.tls_enabled()) {
        auto tls = make_tls_context(m.cfg);
        if (!tls.context) return tls.error;
        m.ctx->tls = std::move(tls.context);
    } else if (!m.cfg.tls_cert.empty() || !m.cfg.tls_key.empty()) {
        return m.cfg.tls_cert.empty() ? "--tls-cert: required when --tls-key is set"
                                      : "--tls-key: required when --tls-cert is set";
    }

    if (m.cfg.connection_rate_per_ip > 0) {
        const auto rate = static_cast<double>(m.cfg.connection_rate_per_ip);
        m.ctx->connection_rate = std::make_shared<address_limiter>(rate, 2 * rate);
    }

    auto auth = authenticator::from_config(m.cfg);
    if (!auth.error.empty()) return auth.error;
    m.ctx->auth = std::move(auth.auth);
    if (m.ctx->auth) {
        log::info("access tokens required", {{"auth", "jwt"}, {"alg", std::string(to_string(m.ctx->auth->verifier().alg()))}});
    } else {
        log::warn("--auth none: anyone who can reach this port may open, read and change every room. Fine for "
                  "local use; on a network, use --auth jwt (docs/CONFIGURATION.md).");
    }

    std::error_code exe_ec;
    const auto web = find_web_root(m.cfg.web_root, std::filesystem::read_symlink("/proc/self/exe", exe_ec));
    if (!web.error.empty()) return web.error;
    if (web.root) {
        m.ctx->site = std::make_shared<static_site>(*web.root);
        log::info("serving the web app at /", {{"web_root", web.root->string()}});
    } else if (m.cfg.web_root == "off") {
        log::info("web app off (--web-root off): GET / answers 404");
    } else {
        log::info("web app not found, GET / answers 404: build it with scripts/setup, or give --web-root DIR",
                  {{"looked_in", web.looked}});
    }
    m.ctx->uploads = std::make_shared<upload_service>(std::filesystem::path(m.cfg.data_dir) / "uploads",
                                                      m.cfg.max_upload_bytes, m.ctx->auth,
                                                      m.blocking.get_executor());

    beast::error_code ec;
    tcp::resolver resolver(m.io);
    const auto results = resolver.resolve(m.cfg.host, std::to_string(m.cfg.port),
                                          tcp::resolver::passive | tcp::resolver::numeric_service, ec);
    if (ec || results.empty())
        return "--host: cannot resolve '" + m.cfg.host + "': " + (ec ? ec.message() : "no address");
    const tcp::endpoint endpoint = *results.begin();

    auto loaded = load_server_schema(m.cfg);
    if (!loaded.schema) return loaded.error;
    try {
        m.rooms = m.factory ? m.factory(m.io.get_executor(), m.blocking.get_executor(), m.cfg)
                            : make_room_service(m.io.get_executor(), m.blocking.get_executor(),
                                                m.cfg, std::move(loaded.schema));
    } catch (const std::exception& e) {
        // Errors that name their flag (--storage: ...) keep it; the rest are the data dir's.
        const std::string_view what = e.what();
        return what.starts_with("--") ? std::string(what) : "--data-dir: " + std::string(what);
    }
    m.ctx->rooms = m.rooms;
    if (!m.cfg.postgres.empty())
        if (auto error = m.open_replicator(); !error.empty()) return error;
    if ((!m.cfg.admin_token.empty() || m.ctx->auth) && !m.ctx->admin) {
        diagnostics_provider diagnostics;
        if (m.plane) diagnostics = m.plane->diagnostics();
        m.ctx->admin = make_admin_handler(m.rooms, m.ctx->cfg, std::move(diagnostics), m.ctx->auth);
    }

    m.accept = std::make_shared<listener>(m.io, m.ctx);
    std::string step;
    if (const auto bec = m.accept->open(endpoint, step))
        return "--host/--port: cannot listen on " + m.cfg.host + ":" + std::to_string(m.cfg.port) +
               " (" + step + "): " + bec.message();
    return {};
}

std::uint16_t server::port() const {
    return impl_->accept ? impl_->accept->local_endpoint().port() : 0;
}

bool server::running() const noexcept { return impl_->serving.load(); }

void server::request_stop() {
    net::post(impl_->control, [m = impl_.get()] { m->begin_shutdown(); });
}

int server::run() {
    auto& m = *impl_;
    if (!m.accept) {
        log::error("server::run() without a successful open()");
        return 2;
    }
    m.signals.async_wait([mp = &m](const beast::error_code& ec, int sig) {
        if (ec) return;
        log::info("signal received", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
        mp->begin_shutdown();
    });
    m.accept->start();
    if (m.plane) m.plane->start();
    net::post(m.control, [mp = &m] { mp->housekeep(); });
    m.serving = true;
    const auto ep = m.accept->local_endpoint();
    log::info("listening on " + m.cfg.host + ":" + std::to_string(ep.port()) +
                  (m.ctx->tls ? " (tls on)" : " (tls off)"),
              {{"host", m.cfg.host}, {"port", std::to_string(ep.port())},
               {"tls", m.ctx->tls ? "on" : "off"}, {"allocator", std::string(allocator::name())}});

    const unsigned n = m.cfg.threads > 0 ? static_cast<unsigned>(m.cfg.threads) : usable_cpus();
    std::vector<std::thread> threads;
    threads.reserve(n);
    auto plane_work = net::make_work_guard(m.plane_io);
    if (m.plane) threads.emplace_back([mp = &m] { impl::run_thread(mp->plane_io); });
    for (unsigned i = 1; i < n; ++i) threads.emplace_back([mp = &m] { impl::run_thread(mp->io); });
    impl::run_thread(m.io);
    // The plane has stopped by now (a shutdown step), or the deadline cut it.
    plane_work.reset();
    m.plane_io.stop();
    for (auto& t : threads) t.join();
    m.serving = false;

    m.blocking.join(); // storage work posted during shutdown completes
    log::info("stopped");
    return 0;
}

void server::impl::run_thread(net::io_context& ctx) {
    for (;;) {
        try {
            ctx.run();
            return;
        } catch (const std::exception& e) {
            // Handlers should never throw; if one does, log it and keep serving.
            log::error("unhandled exception in io thread", {{"error", e.what()}});
        }
    }
}

// Steps, all on `control`: stop accepting; rooms flush and close their
// sessions with 1012 (service restart) so clients reconnect; then total
// cancellation ends idle HTTP connections, terminal cancellation after a
// grace period cuts whatever is left, and io stops once no connection
// remains, or at config::shutdown_timeout whatever happens.
// Every few seconds, when connections or rooms came or went since the last
// time, the heap's free pages go back to the system (allocator.hpp): the
// buffers of a burst of connections (handshakes, parsers, a room's load)
// leave free pages all through the heap, and neither glibc nor an idle
// jemalloc returns them by itself.
// A cost of milliseconds on the blocking pool, none when nothing changed.
void server::impl::housekeep() {
    static constexpr auto period = std::chrono::seconds(5);
    if (stopping) return;
    auto& metrics = global_metrics();
    const std::array<std::int64_t, 3> now{static_cast<std::int64_t>(metrics.connections_total.value()),
                                          metrics.connections_open.value(), metrics.rooms_loaded.value()};
    if (now != trimmed_at) {
        trimmed_at = now;
        net::post(blocking, [] { allocator::release_free_memory(); });
    }
    housekeeping.expires_after(period);
    housekeeping.async_wait([this](const beast::error_code& ec) {
        if (!ec) housekeep();
    });
}

void server::impl::begin_shutdown() {
    if (stopping.exchange(true)) return;
    serving = false;
    housekeeping.cancel();
    log::info("shutting down", {{"connections", std::to_string(ctx->tracker.size())}});
    beast::error_code ec;
    signals.cancel(ec);
    accept->stop();

    deadline.expires_after(cfg.shutdown_timeout);
    deadline.async_wait([this](const beast::error_code& ec) {
        if (ec) return;
        log::warn("shutdown deadline reached; stopping now",
                  {{"connections", std::to_string(ctx->tracker.size())}});
        io.stop();
    });
    steps_left = plane ? 2 : 1;
    if (plane) {
        // User sockets get 1012 like room sessions; the replicator stops
        // streaming (what it recorded is acknowledged already) and closes
        // its state file. Both within the same deadline.
        plane->stop([this] {
            log::info("replicator stopped");
            net::post(control, [this] { step_done(); });
        });
    }
    rooms->shutdown(1012 /*service_restart*/, [this] { net::post(control, [this] { step_done(); }); });
}

void server::impl::step_done() {
    if (--steps_left == 0) after_rooms();
}

// --postgres: the replicator (state in <data-dir>/replicator.sqlite), its
// user plane (/app/{userId}/connect) and rooms following their files.
std::string server::impl::open_replicator() {
    if (cfg.app_users_insecure)
        log::warn("INSECURE: --app-users-insecure is set: /app/{userId}/connect trusts the user id in the URL; "
                  "anyone who can reach this port can read and change any user's files. Use it only behind "
                  "your own authentication or for development; --auth jwt authenticates user sockets by token.");
    try {
        user_plane_options o;
        o.own_thread = true;
        plane = make_user_plane(plane_io.get_executor(), blocking.get_executor(), cfg, rooms, o);
    } catch (const std::exception& e) {
        return std::string("--postgres: ") + e.what();
    }
    return {};
}

// Asio cancels only the operation in flight: a cancellation that lands
// while a connection is between two operations is lost. Repeat it until the
// connections are gone or the deadline stops io.
void server::impl::cut_remaining() {
    ctx->tracker.cancel_all(net::cancellation_type::terminal);
    grace.expires_after(250ms);
    grace.async_wait([this](const beast::error_code& ec) {
        if (!ec) cut_remaining();
    });
}

void server::impl::after_rooms() {
    if (rooms_done) return;
    rooms_done = true;
    ctx->tracker.cancel_all(net::cancellation_type::total);
    const auto left = deadline.expiry() - std::chrono::steady_clock::now();
    grace.expires_after(std::min<std::chrono::steady_clock::duration>(terminal_grace, left / 2));
    grace.async_wait([this](const beast::error_code& ec) {
        if (!ec) cut_remaining();
    });
    ctx->tracker.when_empty([this] {
        net::post(control, [this] {
            deadline.cancel();
            grace.cancel();
            io.stop();
        });
    });
}

} // namespace tlsync::server
