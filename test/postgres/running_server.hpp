#pragma once
// tlsyncd (server::server, as main.cpp runs it) on a thread of its own,
// stopped (flushing its rooms) when destroyed or by stop(); the config such a
// server runs with on --storage Postgres, and a client's connect message.

#include "pg_test_util.hpp"

#include "core/tldraw_schema.hpp"
#include "server/server.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <chrono>
#include <string>
#include <thread>

namespace tlsync::test {

struct running_server {
    server::server srv;
    std::string error; // from open(): startup failed, nothing runs
    std::thread thread;

    explicit running_server(server::config cfg) : srv(std::move(cfg)) {
        error = srv.open();
        if (error.empty()) thread = std::thread([this] { (void)srv.run(); });
    }
    ~running_server() { stop(); }
    running_server(const running_server&) = delete;
    running_server& operator=(const running_server&) = delete;
    void stop() {
        if (!thread.joinable()) return;
        (void)eventually([&] { return srv.running(); }, std::chrono::seconds(5));
        srv.request_stop();
        thread.join();
    }
};

// Rooms in `conninfo`, written under `node`; an ephemeral port, no web app,
// 2 threads, flushes every 50 ms.
inline server::config storage_server_config(const std::string& conninfo, const std::string& data_dir,
                                            const std::string& node) {
    using namespace std::chrono_literals;
    server::config cfg;
    cfg.port = 0;
    cfg.data_dir = data_dir;
    cfg.storage = conninfo;
    cfg.node_id = node;
    cfg.web_root = "off";
    cfg.threads = 2;
    cfg.flush_interval = 50ms;
    cfg.shutdown_timeout = 5s;
    return cfg;
}

// A tldraw client's first message, protocol 8, the default schema.
inline std::string connect_message() {
    boost::json::object m{{"type", "connect"},
                          {"connectRequestId", "c1"},
                          {"lastServerClock", -1},
                          {"protocolVersion", 8},
                          {"schema", *core::default_initial_snapshot().schema}};
    return boost::json::serialize(m);
}

} // namespace tlsync::test
