#include "test/loadtest/options.hpp"

#include <charconv>
#include <cmath>
#include <functional>
#include <string_view>

namespace tlsync::loadtest {

namespace {

std::optional<double> to_double(const std::string& s) {
    try {
        std::size_t used = 0;
        const double v = std::stod(s, &used);
        if (used != s.size() || !std::isfinite(v)) return std::nullopt;
        return v;
    } catch (...) {
        return std::nullopt;
    }
}

std::optional<int> to_int(const std::string& s) {
    int v = 0;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
    return v;
}

} // namespace

std::string usage() {
    return R"(tlsync_loadtest: a tldraw sync (protocol 8) load generator

  Target
    --url URL              ws://host:port or wss://host:port (default ws://127.0.0.1:5858)
    --allow-remote         permit a target that is not loopback
    --ca FILE              wss: verify the server against this CA (default: no verification)
  Population
    --rooms N              rooms (default 1)
    --clients N            clients per room (default 10)
    --room-prefix S        rooms are S-0, S-1, ... (default lt)
  Traffic per client
    --presence-hz R        presence put, then cursor patches at R Hz; 0: no presence (default 30)
    --edit-hz R            shape edits (x/y patches of the client's own shape) (default 5)
    --create-hz R          extra shape creates (default 0; each client creates one shape first)
    --payload-bytes N      label text carried by every create and edit (default 0)
    --ping-s S             ping interval (default 5)
  Timing
    --duration S           measured window (default 10)
    --ramp-up S            connection starts spread over S seconds (default 1)
    --connect-rate R       at most R connection starts per second overall (default: no limit)
    --warmup S             after the ramp, before the window (default 1)
    --drain S              after the window, for results in flight (default 2)
    --connect-timeout S    TCP + websocket handshake + connect response (default 10)
  Setup
    --seed-shapes N        before the clients start, push N geo shapes into every room
    --seed-only            seed and exit
  Measurement
    --threads N            io_context threads (default: CPUs this process may use)
    --server-pid PID       also report the server's CPU seconds and RSS over the window
    --json FILE            write the summary as JSON
    --intervals FILE       write one JSON line per --progress interval: latency of the
                           window's deliveries in that interval, clients connected now,
                           running counts (connections, closes by the server, pushes)
    --quiet                no progress line
    --progress S           progress line interval (default 1)
    --max-frame-bytes N    largest frame accepted from the server (default 64 MiB)
    --connect-buffer N     before connecting, reserve and touch N bytes of each client's
                           read buffer, so a large connect response is timed without the
                           generator's own page faults (given back once connected)

Latency is from the push being written to each peer reading the patch: every
push carries its sender and send time (steady_clock) in the record's meta, so
receivers in the same process need no clock sync.
)";
}

std::optional<target_url> parse_target(const std::string& url) {
    target_url t;
    std::string_view rest(url);
    if (rest.starts_with("ws://"))
        rest.remove_prefix(5);
    else if (rest.starts_with("wss://"))
        t.tls = true, rest.remove_prefix(6);
    else
        return std::nullopt;
    const auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    if (slash != std::string_view::npos) {
        t.path_prefix = std::string(rest.substr(slash));
        while (!t.path_prefix.empty() && t.path_prefix.back() == '/')
            t.path_prefix.pop_back();
    }
    if (authority.starts_with('[')) { // [::1]:port
        const auto close = authority.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        t.host = std::string(authority.substr(1, close - 1));
        authority.remove_prefix(close + 1);
        if (authority.starts_with(':'))
            t.port = std::string(authority.substr(1));
        else if (!authority.empty())
            return std::nullopt;
    } else {
        const auto colon = authority.rfind(':');
        t.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) t.port = std::string(authority.substr(colon + 1));
    }
    if (t.port.empty()) t.port = t.tls ? "443" : "80";
    if (t.host.empty() || !to_int(t.port)) return std::nullopt;
    return t;
}

bool is_loopback_host(const std::string& host) {
    if (host == "localhost" || host == "::1" || host == "0:0:0:0:0:0:0:1") return true;
    // 127.0.0.0/8 in dotted decimal
    if (!host.starts_with("127.")) return false;
    int dots = 0;
    for (char c : host) {
        if (c == '.')
            ++dots;
        else if (c < '0' || c > '9')
            return false;
    }
    return dots == 3;
}

std::optional<std::string> parse_options(int argc, char** argv, options& o, bool& help) {
    help = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        std::optional<std::string> inline_value;
        if (const auto eq = a.find('='); a.starts_with("--") && eq != std::string::npos) {
            inline_value = a.substr(eq + 1);
            a.resize(eq);
        }
        std::string error;
        auto value = [&]() -> std::optional<std::string> {
            if (inline_value) return inline_value;
            if (i + 1 >= argc) return std::nullopt;
            return std::string(argv[++i]);
        };
        auto num = [&](double& out, double min) -> bool {
            const auto v = value();
            const auto d = v ? to_double(*v) : std::nullopt;
            if (!d || *d < min)
                return error = a + ": expected a number >= " + std::to_string(min), false;
            out = *d;
            return true;
        };
        auto integer = [&](int& out, int min) -> bool {
            const auto v = value();
            const auto d = v ? to_int(*v) : std::nullopt;
            if (!d || *d < min)
                return error = a + ": expected an integer >= " + std::to_string(min), false;
            out = *d;
            return true;
        };
        auto text = [&](std::string& out) -> bool {
            const auto v = value();
            if (!v) return error = a + ": missing value", false;
            out = *v;
            return true;
        };
        if (a == "--help" || a == "-h") {
            help = true;
            return std::nullopt;
        }
        bool ok = true;
        if (a == "--url")
            ok = text(o.url);
        else if (a == "--allow-remote")
            o.allow_remote = true;
        else if (a == "--ca")
            ok = text(o.ca_file);
        else if (a == "--rooms")
            ok = integer(o.rooms, 1);
        else if (a == "--clients")
            ok = integer(o.clients_per_room, 0);
        else if (a == "--room-prefix")
            ok = text(o.room_prefix);
        else if (a == "--presence-hz")
            ok = num(o.presence_hz, 0);
        else if (a == "--edit-hz")
            ok = num(o.edit_hz, 0);
        else if (a == "--create-hz")
            ok = num(o.create_hz, 0);
        else if (a == "--payload-bytes")
            ok = integer(o.payload_bytes, 0);
        else if (a == "--ping-s")
            ok = num(o.ping_s, 0.1);
        else if (a == "--duration")
            ok = num(o.duration_s, 0);
        else if (a == "--ramp-up")
            ok = num(o.ramp_up_s, 0);
        else if (a == "--connect-rate")
            ok = num(o.connect_rate, 0);
        else if (a == "--warmup")
            ok = num(o.warmup_s, 0);
        else if (a == "--drain")
            ok = num(o.drain_s, 0);
        else if (a == "--connect-timeout")
            ok = num(o.connect_timeout_s, 0.1);
        else if (a == "--seed-shapes")
            ok = integer(o.seed_shapes, 0);
        else if (a == "--seed-only")
            o.seed_only = true;
        else if (a == "--threads")
            ok = integer(o.threads, 0);
        else if (a == "--server-pid")
            ok = integer(o.server_pid, 0);
        else if (a == "--json")
            ok = text(o.json_path);
        else if (a == "--intervals")
            ok = text(o.intervals_path);
        else if (a == "--quiet")
            o.quiet = true;
        else if (a == "--progress")
            ok = num(o.progress_s, 0.1);
        else if (a == "--connect-buffer")
            ok = integer(o.connect_buffer_bytes, 0);
        else if (a == "--max-frame-bytes")
            ok = integer(o.max_frame_bytes, 1024);
        else
            return "unknown option " + a + " (see --help)";
        if (!ok) return error;
    }
    const auto t = parse_target(o.url);
    if (!t) return "--url: expected ws://host[:port] or wss://host[:port], got '" + o.url + "'";
    o.target = *t;
    if (!o.allow_remote && !is_loopback_host(o.target.host))
        return "refusing non-loopback target " + o.target.host + " (pass --allow-remote)";
    if (o.payload_bytes > (1 << 20)) return "--payload-bytes: at most 1 MiB";
    if (o.presence_hz > 1000 || o.edit_hz > 1000 || o.create_hz > 1000)
        return "rates above 1000 Hz per client are not supported";
    return std::nullopt;
}

} // namespace tlsync::loadtest
