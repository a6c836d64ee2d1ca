#include "test/loadtest/engine.hpp"

#include "test/loadtest/client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <algorithm>
#include <thread>

namespace tlsync::loadtest {

struct engine::impl {
    const options& opt;
    const message_builder& msgs;
    run_plan& plan;
    std::vector<std::unique_ptr<net::io_context>> contexts;
    std::vector<std::unique_ptr<thread_stats>> stats;
    std::vector<std::thread> threads;
    std::unique_ptr<net::ssl::context> ssl;
    net::ip::tcp::endpoint endpoint;

    impl(const options& o, const message_builder& m, run_plan& p) : opt(o), msgs(m), plan(p) {
        const int n = std::max(1, o.threads);
        for (int i = 0; i < n; ++i) {
            contexts.push_back(std::make_unique<net::io_context>(1));
            stats.push_back(std::make_unique<thread_stats>());
        }
    }

    client_env env(int thread) {
        return client_env{opt, msgs, plan, *stats[static_cast<std::size_t>(thread)], endpoint};
    }

    void spawn(int thread, std::uint32_t id, int room, std::int64_t start_ns, client_role role) {
        auto& ioc = *contexts[static_cast<std::size_t>(thread)];
        auto done = [&p = plan](std::exception_ptr e) {
            p.clients_done.fetch_add(1, std::memory_order_relaxed);
            if (e) {
                try {
                    std::rethrow_exception(e);
                } catch (const std::exception& x) {
                    std::fprintf(stderr, "\nloadtest: client failed: %s\n", x.what());
                }
            }
        };
        if (ssl) {
            using stream = beast::ssl_stream<beast::tcp_stream>;
            auto c = std::make_shared<client<stream>>(env(thread), id, room, start_ns, role,
                                                      ioc.get_executor(), *ssl);
            net::co_spawn(
                ioc, [c]() { return c->run(); }, done);
        } else {
            auto c = std::make_shared<client<beast::tcp_stream>>(env(thread), id, room, start_ns,
                                                                 role, ioc.get_executor());
            net::co_spawn(
                ioc, [c]() { return c->run(); }, done);
        }
    }

    void run_threads() {
        threads.clear();
        for (auto& c : contexts) {
            c->restart();
            threads.emplace_back([ioc = c.get()] { ioc->run(); });
        }
    }

    void join() {
        for (auto& t : threads)
            if (t.joinable()) t.join();
        threads.clear();
    }
};

engine::engine(const options& opt, const message_builder& msgs, run_plan& plan)
    : impl_(std::make_unique<impl>(opt, msgs, plan)) {}

engine::~engine() {
    stop();
    join();
}

std::string engine::prepare() {
    net::io_context ioc;
    net::ip::tcp::resolver resolver(ioc);
    beast::error_code ec;
    const auto results = resolver.resolve(impl_->opt.target.host, impl_->opt.target.port, ec);
    if (ec || results.empty())
        return "cannot resolve " + impl_->opt.target.host + ": " + ec.message();
    impl_->endpoint = results.begin()->endpoint();
    if (!impl_->opt.allow_remote && !impl_->endpoint.address().is_loopback())
        return "refusing non-loopback address " + impl_->endpoint.address().to_string() +
               " (pass --allow-remote)";
    if (impl_->opt.target.tls) {
        impl_->ssl = std::make_unique<net::ssl::context>(net::ssl::context::tls_client);
        if (!impl_->opt.ca_file.empty()) {
            impl_->ssl->load_verify_file(impl_->opt.ca_file, ec);
            if (ec) return "--ca: " + ec.message();
            impl_->ssl->set_verify_mode(net::ssl::verify_peer);
        } else {
            impl_->ssl->set_verify_mode(net::ssl::verify_none);
        }
    }
    return {};
}

std::string engine::seed() {
    auto& p = impl_->plan;
    const int rooms = impl_->opt.rooms;
    const int threads = static_cast<int>(impl_->contexts.size());
    p.window_start_ns = p.window_end_ns = p.drain_end_ns = INT64_MAX;
    for (int r = 0; r < rooms; ++r)
        impl_->spawn(r % threads, static_cast<std::uint32_t>(1'000'000 + r), r, 0,
                     client_role::seeder);
    impl_->run_threads();
    impl_->join();
    std::uint64_t done = 0;
    for (auto& s : impl_->stats)
        done += s->seed_done.get();
    p.clients_done = 0;
    if (done != static_cast<std::uint64_t>(rooms))
        return "seeding finished in " + std::to_string(done) + " of " + std::to_string(rooms) +
               " rooms";
    // The seeders' connections are not part of the measurement.
    for (auto& s : impl_->stats) {
        auto seeded = s->seed_pushes.get();
        s = std::make_unique<thread_stats>();
        s->seed_pushes.add(seeded);
    }
    return {};
}

void engine::start() {
    const auto& o = impl_->opt;
    const int threads = static_cast<int>(impl_->contexts.size());
    const int total = o.rooms * o.clients_per_room;
    for (int i = 0; i < total; ++i) {
        // Rooms are filled round-robin so every room fills at the same pace.
        const int room = i % o.rooms;
        double start_s = total > 1 ? o.ramp_up_s * i / (total - 1) : 0;
        if (o.connect_rate > 0) start_s = std::max(start_s, i / o.connect_rate);
        impl_->spawn(i % threads, static_cast<std::uint32_t>(i), room,
                     static_cast<std::int64_t>(start_s * 1e9), client_role::regular);
    }
    impl_->run_threads();
}

void engine::stop() {
    for (auto& c : impl_->contexts)
        c->stop();
}

void engine::join() {
    impl_->join();
}

int engine::threads() const noexcept {
    return static_cast<int>(impl_->contexts.size());
}

std::vector<std::unique_ptr<thread_stats>>& engine::stats() noexcept {
    return impl_->stats;
}

} // namespace tlsync::loadtest
