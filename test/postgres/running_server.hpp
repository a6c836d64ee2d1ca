#pragma once
// tlsyncd (server::server, as main.cpp runs it) on a thread of its own,
// stopped (flushing its rooms) when destroyed or by stop().

#include "pg_test_util.hpp"

#include "server/server.hpp"

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

} // namespace tlsync::test
