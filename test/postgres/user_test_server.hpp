#pragma once
// tlsyncd's user plane around a listener of the test's own: the same pieces
// server.cpp wires with --postgres (room service, replicator, user hub, pool,
// admin API), plus the dispatch of user upgrades to run_user_websocket that
// the listener needs (see docs/REPLICATOR.md, "Wiring"). Clients are real
// Beast websockets over loopback TCP.

#include "pg_test_util.hpp"

#include "server/config.hpp"
#include "server/connection_context.hpp"
#include "server/room_service.hpp"
#include "server/user_plane.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/json/object.hpp>

#include <atomic>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace tlsync::test {

struct temp_data_dir {
    std::filesystem::path path;
    temp_data_dir();
    ~temp_data_dir();
};

class user_test_server {
public:
    // `tweak` adjusts the config before anything starts.
    user_test_server(const std::string& conninfo, const std::string& slot,
                     const std::function<void(server::config&)>& tweak = {});
    ~user_test_server();

    [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
    [[nodiscard]] const server::config& cfg() const noexcept { return cfg_; }
    [[nodiscard]] server::replicator& repl() { return *plane_.repl; }
    [[nodiscard]] server::room_service& rooms() { return *rooms_; }
    [[nodiscard]] const std::filesystem::path& data_dir() const { return dir_.path; }
    bool wait_streaming(std::chrono::milliseconds t = std::chrono::seconds(30));

private:
    temp_data_dir dir_;
    server::config cfg_;
    // The user plane on a thread of its own, as tlsyncd runs it; destroyed
    // after t_, whose unfinished socket coroutines post to plane strands as
    // they are destroyed (server.cpp orders its io_contexts the same way).
    io_threads plane_t_{1};
    io_threads t_{2};
    std::shared_ptr<server::connection_context> ctx_;
    std::shared_ptr<server::room_service> rooms_;
    server::user_plane plane_;
    std::shared_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
    std::uint16_t port_ = 0;
};

// A websocket client on its own io thread that records every text frame.
class ws_client {
public:
    ws_client() = default;
    ~ws_client();
    // Opens ws://127.0.0.1:port + target; false when the upgrade is refused.
    bool connect(std::uint16_t port, const std::string& target);
    void send(std::string text);
    // Stops reading (the server's frames pile up in TCP buffers) / resumes.
    void pause_reading(bool paused);
    void close();

    [[nodiscard]] std::vector<boost::json::object> frames();
    // Frames whose "type" is `type`.
    [[nodiscard]] std::vector<boost::json::object> of_type(const std::string& type);
    // Waits until `n` frames of `type` have arrived.
    bool wait_for(const std::string& type, std::size_t n, std::chrono::milliseconds t = std::chrono::seconds(20));
    [[nodiscard]] bool closed() const { return closed_.load(); }
    [[nodiscard]] int close_code();
    [[nodiscard]] std::string close_reason();
    bool wait_closed(std::chrono::milliseconds t = std::chrono::seconds(20));

private:
    void read_loop();
    void write_next();

    boost::asio::io_context io_;
    std::optional<boost::beast::websocket::stream<boost::beast::tcp_stream>> ws_;
    std::thread thread_;
    std::mutex m_;
    std::vector<boost::json::object> frames_;
    std::deque<std::string> outbox_;
    bool writing_ = false;
    std::atomic<bool> closed_{false};
    std::atomic<bool> paused_{false};
    bool read_pending_ = false;
    int close_code_ = 0;
    std::string close_reason_;
    boost::beast::flat_buffer buffer_;
};

// A plain HTTP GET; returns {status, body}.
std::pair<int, std::string> http_get(std::uint16_t port, const std::string& target,
                                     const std::string& bearer = {}, bool upgrade = false);

// The user's sequence numbers of `changes` frames, in arrival order.
std::vector<std::int64_t> sequence_numbers(const std::vector<boost::json::object>& changes);

} // namespace tlsync::test
