#pragma once
// Command line of tlsync_loadtest (scripts/loadtest --help).

#include <cstdint>
#include <optional>
#include <string>

namespace tlsync::loadtest {

struct target_url {
    bool tls = false;
    std::string host;
    std::string port;
    std::string
        path_prefix; // "" or "/base" (no trailing slash); rooms are at <prefix>/connect/<room>
};

struct options {
    std::string url = "ws://127.0.0.1:5858";
    target_url target;
    bool allow_remote = false;
    std::string ca_file; // wss: verify against this CA; without it certificates are not checked

    int rooms = 1;
    int clients_per_room = 10;
    std::string room_prefix = "lt";

    double presence_hz = 30; // cursor patches per client; 0: no presence at all
    double edit_hz = 5;      // shape edits per client
    double create_hz = 0;    // extra shape creates per client (each client creates one at start)
    int payload_bytes = 0;   // label text carried by creates and edits
    double ping_s = 5;

    double duration_s = 10;  // measured window
    double ramp_up_s = 1;    // connection starts spread over this long
    double connect_rate = 0; // connections/s overall; 0: no limit beyond the ramp
    double warmup_s = 1;     // after the ramp, before the window
    double drain_s = 2;      // after the window: wait for results and patches in flight
    double connect_timeout_s = 10;

    int seed_shapes = 0; // per room, pushed by a seeding client before the clients start
    bool seed_only = false;

    int threads = 0;    // io_context threads; 0: CPUs this process may run on
    int server_pid = 0; // read /proc/<pid> for CPU seconds and RSS over the window
    std::string json_path;
    std::string intervals_path; // one JSON line per --progress interval
    bool quiet = false;
    double progress_s = 1;
    int max_frame_bytes = 64 << 20;
    // Bytes of each client's read buffer reserved and touched before its
    // connect message is written (0: grow as messages come).
    int connect_buffer_bytes = 0;
};

// Parses argv into `o`. Returns an error text, or nullopt. `--help` sets `help`.
[[nodiscard]] std::optional<std::string> parse_options(int argc, char** argv, options& o,
                                                       bool& help);
[[nodiscard]] std::string usage();

// ws://host[:port][/prefix] or wss://...
[[nodiscard]] std::optional<target_url> parse_target(const std::string& url);
// 127.0.0.0/8, ::1, localhost.
[[nodiscard]] bool is_loopback_host(const std::string& host);

} // namespace tlsync::loadtest
