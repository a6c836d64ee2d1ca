#include "server/config.hpp"

#include "proto/messages.hpp"
#include "server/pg_blocking.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <span>
#include <variant>

namespace tlsync::server {
namespace {

using ms = std::chrono::milliseconds;

constexpr std::uint64_t kib = 1024;
constexpr std::uint64_t mib = kib * 1024;
constexpr std::uint64_t gib = mib * 1024;
constexpr std::uint64_t minute = 60'000;
constexpr std::uint64_t hour = 60 * minute;
constexpr std::uint64_t day = 24 * hour;

// `count` and `size` share std::size_t members but differ in what they accept
// (sizes take units), so the kind cannot be derived from the member type.
enum class kind { text, list, port, count, size, duration, boolean, level };

using member =
    std::variant<std::string config::*, std::uint16_t config::*, int config::*,
                 std::size_t config::*, ms config::*, bool config::*, log_level config::*,
                 std::vector<std::string> config::*>;

struct option {
    std::string_view name;  // the flag without "--", also the config-file key
    std::string_view group; // --help section
    std::string_view meta;  // value placeholder in --help
    kind type;
    member field;
    std::string_view help;
    std::uint64_t min = 0; // numeric bounds; milliseconds for durations
    std::uint64_t max = 0;
    bool allow_empty = false; // text only: empty means "off"
};

// One row per config field; flags, TLSYNC_* variables, file keys and --help
// are all generated from it, so they cannot drift apart. Laid out by hand,
// two lines a row.
// clang-format off
const option options[] = {
    {"host", "Network", "ADDR", kind::text, &config::host,
     "address to listen on; 0.0.0.0 or :: for all interfaces"},
    {"port", "Network", "N", kind::port, &config::port,
     "TCP port; 0 picks a free one (tests; the bound port is logged)", 0, 65535},
    {"tls-cert", "Network", "FILE", kind::text, &config::tls_cert,
     "PEM certificate chain; with --tls-key serves wss:// and https://", 0, 0, true},
    {"tls-key", "Network", "FILE", kind::text, &config::tls_key,
     "PEM private key for --tls-cert", 0, 0, true},
    {"threads", "Network", "N", kind::count, &config::threads,
     "I/O threads, 0-1024; 0 means one per CPU core this process may use", 0, 1024},
    {"admin-token", "Network", "TOKEN", kind::text, &config::admin_token,
     "bearer token for /admin/...; empty disables the admin API", 0, 0, true},
    {"auth", "Network", "MODE", kind::text, &config::auth,
     "none (anyone may open any room; local use) or jwt (signed access tokens)"},
    {"jwt-secret-file", "Network", "FILE", kind::text, &config::jwt_secret_file,
     "with --auth jwt: HS256 shared secret (32+ bytes) read from FILE", 0, 0, true},
    {"jwt-public-key", "Network", "FILE", kind::text, &config::jwt_public_key,
     "with --auth jwt: RS256 (RSA) or EdDSA (Ed25519) PEM public key file", 0, 0, true},
    {"web-root", "Network", "DIR", kind::text, &config::web_root,
     "the web app served at / (built by scripts/setup): auto finds web/dist, off disables it"},
    {"data-dir", "Storage", "DIR", kind::text, &config::data_dir,
     "where room databases (DIR/rooms/<room>.sqlite) and uploads (DIR/uploads/) live"},
    {"storage", "Storage", "WHERE", kind::text, &config::storage,
     "where rooms are kept: sqlite (files under --data-dir) or PostgreSQL (a postgres:// URI or "
     "key=value conninfo; tables shared by every node)"},
    {"node-id", "Storage", "NAME", kind::text, &config::node_id,
     "this server's name in the room write log and leases (--storage postgres); empty: hostname:pid", 0, 0, true},
    {"lease-duration", "Storage", "DURATION", kind::duration, &config::lease_duration,
     "with --storage postgres: how long a room's lease outlives its owner's last renewal (renewed every "
     "third of it); another node takes the rooms of a dead one after this", 500, hour},
    {"flush-interval", "Storage", "DURATION", kind::duration, &config::flush_interval,
     "how often changed rooms are written to storage", 1, hour},
    {"fsync", "Storage", "[BOOL]", kind::boolean, &config::fsync,
     "SQLite synchronous=FULL: survives power loss, slower writes"},
    {"durability", "Storage", "MODE", kind::text, &config::durability,
     "flush (acknowledge edits at once, write within --flush-interval) or fsync (acknowledge and "
     "broadcast an edit only once it is on disk; implies --fsync)"},
    {"max-message-bytes", "Limits", "SIZE", kind::size, &config::max_message_bytes,
     "largest client message after chunk reassembly", 128, 4 * gib},
    {"max-frame-bytes", "Limits", "SIZE", kind::size, &config::max_frame_bytes,
     "largest single websocket frame", 128, 4 * gib},
    {"max-outbound-queue-bytes", "Limits", "SIZE", kind::size, &config::max_outbound_queue_bytes,
     "unsent bytes per connection before it is closed as a slow consumer", 128, 16 * gib},
    {"max-connections", "Limits", "N", kind::count, &config::max_connections,
     "concurrent websocket connections; more are refused", 1, 1'000'000},
    {"max-sessions-per-room", "Limits", "N", kind::count, &config::max_sessions_per_room,
     "sessions one room serves at once; more are closed 4099 ROOM_FULL; 0: no limit", 0, 1'000'000},
    {"max-messages-per-second", "Limits", "N", kind::count, &config::max_messages_per_second,
     "messages one session or user socket may send a second (bursts of 2N); more: 4099 RATE_LIMITED "
     "(user sockets: 1008); 0: no limit", 0,
     1'000'000},
    {"max-records-per-room", "Limits", "N", kind::count, &config::max_records_per_room,
     "records one room may hold; a push adding more: 4099 ROOM_FULL; 0: no limit", 0, 100'000'000},
    {"connection-rate-per-ip", "Limits", "N", kind::count, &config::connection_rate_per_ip,
     "new websocket connections a second from one address (bursts of 2N); more: HTTP 429; 0: no limit", 0,
     1'000'000},
    {"max-http-body-bytes", "Limits", "SIZE", kind::size, &config::max_http_body_bytes,
     "largest HTTP request body (admin snapshot uploads)", 128, 4 * gib},
    {"max-upload-bytes", "Limits", "SIZE", kind::size, &config::max_upload_bytes,
     "largest asset upload (PUT /uploads/{id}, images pasted into a board); 0 disables uploads", 0, 4 * gib},
    {"session-idle-timeout", "Timing", "DURATION", kind::duration, &config::session_idle_timeout,
     "drop sessions silent this long; 0 disables idle pruning", 0, day},
    {"session-start-wait", "Timing", "DURATION", kind::duration, &config::session_start_wait,
     "time a new socket has to send its connect message", 1, day},
    {"session-removal-wait", "Timing", "DURATION", kind::duration, &config::session_removal_wait,
     "how long a closed session lingers before removal; 0: at once", 0, day},
    {"data-debounce", "Timing", "DURATION", kind::duration, &config::data_debounce,
     "batching window for data broadcasts; 0 sends at once", 0, minute},
    {"handshake-timeout", "Timing", "DURATION", kind::duration, &config::handshake_timeout,
     "deadline for TLS, HTTP request and upgrade", 1, day},
    {"idle-timeout", "Timing", "DURATION", kind::duration, &config::idle_timeout,
     "close websockets that send no frame for this long", 1, day},
    {"shutdown-timeout", "Timing", "DURATION", kind::duration, &config::shutdown_timeout,
     "graceful shutdown deadline on SIGTERM/SIGINT (flush, close sessions)", 1, day},
    {"room-unload-delay", "Timing", "DURATION", kind::duration, &config::room_unload_delay,
     "keep an empty room loaded this long; 0: unload at once", 0, day},
    {"schema", "Schemas", "FILE", kind::list, &config::schema_files,
     "JSON schema file extending the tldraw schema; repeat for more (env: paths joined by ':')"},
    {"postgres", "Replicator", "CONNINFO", kind::text, &config::postgres,
     "PostgreSQL (wal_level=logical, wal2json) for app data and the replicator; empty: off", 0, 0, true},
    {"replicator-slot", "Replicator", "NAME", kind::text, &config::replicator_slot,
     "logical replication slot of this node: 1-63 of a-z, 0-9, _ (default: tlsync_<node id> with --node-id, "
     "else tlsync_replicator)"},
    {"replicator-slot-ttl", "Replicator", "DURATION", kind::duration, &config::replicator_slot_ttl,
     "drop another node's slot when its node was not seen for this long and nobody streams from it; 0: never",
     0, 365 * day},
    {"app-users-insecure", "Replicator", "[BOOL]", kind::boolean, &config::app_users_insecure,
     "INSECURE: accept /app/{userId}/connect for any user id, with no authentication"},
    {"replicator-history-rows", "Replicator", "N", kind::count, &config::replicator_history_rows,
     "row changes kept so reconnecting users get what they missed", 1, 100'000'000},
    {"replicator-history-age", "Replicator", "DURATION", kind::duration, &config::replicator_history_age,
     "drop kept changes older than this", 1000, 365 * day},
    {"log", "Logging", "LEVEL", kind::level, &config::log,
     "trace, debug, info, warn or error"},
    {"log-json", "Logging", "[BOOL]", kind::boolean, &config::log_json,
     "one JSON object per line instead of logfmt"},
};
// clang-format on

// Indexed by log_level.
constexpr std::string_view level_names[] = {"trace", "debug", "info", "warn", "error"};

constexpr std::string_view groups[] = {"Network", "Storage", "Limits", "Timing",
                                       "Schemas", "Replicator", "Logging"};

const option* find_option(std::string_view name) {
    for (const auto& o : options)
        if (o.name == name) return &o;
    return nullptr;
}

std::string env_name(std::string_view flag) {
    std::string out = "TLSYNC_";
    for (char c : flag)
        out += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
    return std::ranges::equal(a, b, [](char x, char y) { return lower(x) == lower(y); });
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

struct unit {
    std::string_view name;
    std::uint64_t scale;
};
// Largest first, so formatting picks the largest unit that divides exactly.
constexpr unit size_units[] = {{"GiB", gib}, {"GB", 1'000'000'000}, {"MiB", mib}, {"MB", 1'000'000},
                               {"KiB", kib}, {"KB", 1000},          {"B", 1}};
constexpr unit duration_units[] = {{"h", hour}, {"m", minute}, {"s", 1000}, {"ms", 1}};

// Digits, then an optional unit (none means bytes or milliseconds); rejects
// signs, fractions and anything that overflows once the unit is applied.
// Duration units are case-sensitive because "1M" could as well mean a month.
std::optional<std::uint64_t> parse_scaled(std::string_view s, std::span<const unit> units,
                                          bool ignore_case) {
    const auto digits = std::ranges::find_if(s, [](char c) { return c < '0' || c > '9'; });
    const auto n_len = static_cast<std::size_t>(digits - s.begin());
    std::uint64_t n = 0;
    if (n_len == 0 || std::from_chars(s.data(), s.data() + n_len, n).ec != std::errc{})
        return std::nullopt;
    const std::string_view suffix = trim(s.substr(n_len));
    std::uint64_t scale = suffix.empty() ? 1 : 0;
    for (const auto& u : units)
        if (ignore_case ? iequals(suffix, u.name) : suffix == u.name) scale = u.scale;
    if (scale == 0 || n > std::numeric_limits<std::uint64_t>::max() / scale) return std::nullopt;
    return n * scale;
}

std::string format_scaled(std::uint64_t n, std::span<const unit> units) {
    for (const auto& u : units)
        if (n >= u.scale && n % u.scale == 0) return std::to_string(n / u.scale) += u.name;
    return std::to_string(n) += units.back().name;
}

std::string format_size(std::uint64_t n) {
    return format_scaled(n, size_units);
}
std::string format_duration(std::uint64_t n) {
    return format_scaled(n, duration_units);
}

std::optional<bool> parse_bool(std::string_view s) {
    for (auto t : {"true", "1", "yes", "on"})
        if (iequals(s, t)) return true;
    for (auto f : {"false", "0", "no", "off"})
        if (iequals(s, f)) return false;
    return std::nullopt;
}

std::string expected(const option& o) {
    const auto range = [&](auto fmt) { return fmt(o.min) + "-" + fmt(o.max); };
    const auto plain = [](std::uint64_t n) { return std::to_string(n); };
    if (o.type == kind::port) return "a port " + range(plain);
    if (o.type == kind::count) return "an integer " + range(plain);
    if (o.type == kind::size)
        return "a size " + range(format_size) + " (e.g. 64MiB, 2KiB, 1MB, bytes)";
    if (o.type == kind::duration)
        return "a duration " + range(format_duration) + " (e.g. 500ms, 2s, 1m, milliseconds)";
    if (o.type == kind::boolean) return "true or false";
    if (o.type == kind::level) return "trace, debug, info, warn or error";
    if (o.type == kind::list) return "a non-empty path";
    return "a non-empty value";
}

// Stores `value` into the field `o` names; returns false if it is malformed
// or out of range.
bool assign(const option& o, config& cfg, std::string_view value) {
    const auto number = [&]() -> std::optional<std::uint64_t> {
        auto n = o.type == kind::size       ? parse_scaled(value, size_units, true)
                 : o.type == kind::duration ? parse_scaled(value, duration_units, false)
                                            : parse_scaled(value, {}, false);
        if (n && (*n < o.min || *n > o.max)) return std::nullopt;
        return n;
    };
    return std::visit(
        [&]<typename T>(T config::*m) {
            if constexpr (std::is_same_v<T, std::string>) {
                if (value.empty() && !o.allow_empty) return false;
                cfg.*m = std::string(value);
            } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
                if (value.empty()) return false;
                (cfg.*m).emplace_back(value);
            } else if constexpr (std::is_same_v<T, bool>) {
                const auto b = parse_bool(value);
                if (!b) return false;
                cfg.*m = *b;
            } else if constexpr (std::is_same_v<T, log_level>) {
                const auto it = std::ranges::find_if(
                    level_names, [&](std::string_view n) { return iequals(value, n); });
                if (it != std::end(level_names)) {
                    cfg.*m = static_cast<log_level>(it - std::begin(level_names));
                } else if (iequals(value, "warning")) {
                    cfg.*m = log_level::warn;
                } else {
                    return false;
                }
            } else if constexpr (std::is_same_v<T, ms>) {
                const auto n = number();
                if (!n) return false;
                cfg.*m = ms(static_cast<ms::rep>(*n));
            } else {
                const auto n = number();
                if (!n) return false;
                cfg.*m = static_cast<T>(*n);
            }
            return true;
        },
        o.field);
}

void clear_list(const option& o, config& cfg) {
    if (auto* m = std::get_if<std::vector<std::string> config::*>(&o.field)) (cfg.*(*m)).clear();
}

std::string quoted(std::string_view v) {
    constexpr std::size_t max_shown = 80;
    std::string out = "'";
    out += v.substr(0, max_shown);
    if (v.size() > max_shown) out += "...";
    return out + "'";
}

// `where` says which source set the value so the message points at it.
std::string apply(const option& o, config& cfg, std::string_view value, std::string_view where) {
    if (assign(o, cfg, value)) return {};
    return std::string(where) + ": expected " + expected(o) + ", got " + quoted(value);
}

std::string load_file(const std::string& path, config& cfg) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return "--config: cannot read " + quoted(path) + ": " + std::strerror(errno);
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
        std::string_view l = trim(line);
        if (n == 1 && l.starts_with("\xEF\xBB\xBF")) l = trim(l.substr(3)); // editors' BOM
        if (l.empty() || l.front() == '#') continue;
        const std::string at = path + ":" + std::to_string(n);
        const auto eq = l.find('=');
        std::string key(trim(l.substr(0, eq)));
        std::ranges::replace(key, '_', '-');
        const option* o = find_option(key);
        if (!o) return at + ": unknown key " + quoted(key) + " (keys are flag names without --)";
        std::string_view value = eq == std::string_view::npos ? "" : trim(l.substr(eq + 1));
        if (eq == std::string_view::npos) {
            if (o->type != kind::boolean) return at + ": expected '" + key + " = value'";
            value = "true";
        } else if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
                   value.back() == value.front()) {
            value = value.substr(1, value.size() - 2);
        }
        if (auto err = apply(*o, cfg, value, at + ": " + key + " (--" + key + ")"); !err.empty())
            return err;
    }
    return {};
}

} // namespace

std::string_view to_string(log_level level) noexcept {
    const auto i = static_cast<std::size_t>(level);
    return i < std::size(level_names) ? level_names[i] : "info";
}

std::string version_text() {
    return "tlsyncd 0.1.0 (tldraw sync protocol " + std::to_string(proto::protocol_version) + ")";
}

config_result parse_config(const std::vector<std::string>& args,
                           const std::vector<std::string>& env) {
    config_result result;
    struct flag_value {
        const option* opt;
        std::string value;
    };
    std::vector<flag_value> flags;
    std::optional<std::string> config_path;
    bool help = false, version = false;
    std::string error;

    // The whole line is scanned even after an error so that `--help` anywhere
    // still prints help, as people append it to a failing command.
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string_view a = args[i];
        if (a == "-h" || a == "--help") help = true;
        if (a == "--version") version = true;
        if (!error.empty() || a == "-h" || a == "--help" || a == "--version") continue;
        if (!a.starts_with("--") || a.size() == 2) {
            error = "unexpected argument " + quoted(a) + " (see --help)";
            continue;
        }
        const auto eq = a.find('=');
        const std::string name(a.substr(2, eq == std::string_view::npos ? a.npos : eq - 2));
        const option* o = find_option(name);
        if (!o && name != "config") {
            error = "unknown flag --" + name + " (see --help)";
            continue;
        }
        std::string value;
        if (eq != std::string_view::npos) {
            value = a.substr(eq + 1);
        } else if (o && o->type == kind::boolean) {
            // With no positional arguments `--fsync false` is unambiguous;
            // anything that is not a boolean word is left for the next round.
            const bool word = i + 1 < args.size() && parse_bool(args[i + 1]).has_value();
            value = word ? args[++i] : "true";
        } else if (i + 1 >= args.size() || args[i + 1].starts_with("--")) {
            error = "--" + name + ": missing value (see --help)";
            continue;
        } else {
            value = args[++i];
        }
        if (o)
            flags.push_back({o, std::move(value)});
        else
            config_path = std::move(value);
    }
    const auto fail = [&](std::string message) {
        result.error = std::move(message);
        return result;
    };
    if (help) {
        result.output = help_text();
        return result;
    }
    if (version) {
        result.output = version_text() + "\n";
        return result;
    }
    if (!error.empty()) return fail(std::move(error));

    std::map<std::string, std::string, std::less<>> vars;
    for (const auto& kv : env) {
        const auto eq = kv.find('=');
        if (eq != std::string::npos && kv.starts_with("TLSYNC_"))
            vars[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    if (!config_path) {
        if (auto it = vars.find("TLSYNC_CONFIG"); it != vars.end() && !it->second.empty())
            config_path = it->second;
    }
    if (config_path && config_path->empty()) return fail("--config: missing value");

    config cfg;
    if (config_path) {
        if (auto err = load_file(*config_path, cfg); !err.empty()) return fail(std::move(err));
    }
    for (const auto& [key, value] : vars) {
        if (key == "TLSYNC_CONFIG") continue;
        const auto o =
            std::ranges::find_if(options, [&](const option& o) { return env_name(o.name) == key; });
        if (o == std::end(options)) {
            result.warnings.push_back("ignoring unknown environment variable " + key);
            continue;
        }
        // Empty counts as unset: EnvironmentFile templates often leave `KEY=` lines.
        if (value.empty()) continue;
        const std::string where = key + " (--" + std::string(o->name) + ")";
        if (o->type == kind::list) {
            // A list from a later source replaces the earlier one; PATH-style.
            clear_list(*o, cfg);
            std::string_view rest = value;
            while (!rest.empty()) {
                const auto colon = rest.find(':');
                const auto item = rest.substr(0, colon);
                rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
                if (item.empty()) continue;
                if (auto err = apply(*o, cfg, item, where); !err.empty()) return fail(std::move(err));
            }
            continue;
        }
        if (auto err = apply(*o, cfg, value, where); !err.empty()) return fail(std::move(err));
    }
    std::vector<const option*> lists_from_flags;
    for (const auto& f : flags) {
        if (f.opt->type == kind::list && std::ranges::find(lists_from_flags, f.opt) == lists_from_flags.end()) {
            lists_from_flags.push_back(f.opt);
            clear_list(*f.opt, cfg);
        }
        if (auto err = apply(*f.opt, cfg, f.value, "--" + std::string(f.opt->name)); !err.empty())
            return fail(std::move(err));
    }

    const auto slot_ok = cfg.replicator_slot.empty() ||
                         (cfg.replicator_slot.size() <= 63 && std::ranges::all_of(cfg.replicator_slot, [](char c) {
                              return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
                          }));
    if (!slot_ok)
        return fail("--replicator-slot: expected 1-63 characters of a-z, 0-9 and _, got " +
                    quoted(cfg.replicator_slot));
    if (cfg.storage != "sqlite") {
        if (!looks_like_conninfo(cfg.storage))
            return fail("--storage: expected sqlite, a postgres:// URI or a key=value conninfo, got " +
                        quoted(cfg.storage));
        // The value may hold a password: libpq's reason, not the value.
        if (auto why = conninfo_error(cfg.storage); !why.empty())
            return fail("--storage: not a valid PostgreSQL connection string: " + why);
    }
    if (cfg.node_id.size() > 200) return fail("--node-id: expected at most 200 characters");
    if (cfg.app_users_insecure && cfg.postgres.empty())
        return fail("--app-users-insecure: user sockets need --postgres");
    if (cfg.durability != "flush" && cfg.durability != "fsync")
        return fail("--durability: expected flush or fsync, got " + quoted(cfg.durability));
    if (cfg.durable_acks()) cfg.fsync = true; // an acknowledgement after a commit that could be lost is no promise
    if (cfg.auth != "none" && cfg.auth != "jwt") return fail("--auth: expected none or jwt, got " + quoted(cfg.auth));
    if (cfg.auth == "jwt" && cfg.jwt_secret_file.empty() == cfg.jwt_public_key.empty())
        return fail("--auth jwt needs exactly one of --jwt-secret-file (HS256) and --jwt-public-key (RS256/EdDSA)");
    if (cfg.auth == "none" && (!cfg.jwt_secret_file.empty() || !cfg.jwt_public_key.empty()))
        return fail(std::string(cfg.jwt_secret_file.empty() ? "--jwt-public-key" : "--jwt-secret-file") +
                    " is set but --auth is none: add --auth jwt");

    if (cfg.tls_cert.empty() != cfg.tls_key.empty()) {
        return fail(std::string("--tls-cert and --tls-key must be given together (only ") +
                    (cfg.tls_cert.empty() ? "--tls-key" : "--tls-cert") + " is set)");
    }
    result.cfg = std::move(cfg);
    return result;
}

std::string help_text() {
    const config defaults;
    const auto shown_default = [&](const option& o) -> std::string {
        return std::visit(
            [&]<typename T>(T config::*m) -> std::string {
                const T& v = defaults.*m;
                if constexpr (std::is_same_v<T, std::string>)
                    return v.empty() ? "none" : v;
                else if constexpr (std::is_same_v<T, std::vector<std::string>>)
                    return "none";
                else if constexpr (std::is_same_v<T, bool>)
                    return v ? "true" : "false";
                else if constexpr (std::is_same_v<T, log_level>)
                    return std::string(to_string(v));
                else if constexpr (std::is_same_v<T, ms>)
                    return format_duration(static_cast<std::uint64_t>(v.count()));
                else if (o.type == kind::size)
                    return format_size(v);
                else
                    return std::to_string(v);
            },
            o.field);
    };
    const auto pad = [](std::string s, std::size_t width) {
        s.resize(std::max(width, s.size() + 1), ' ');
        return s;
    };

    std::string out = version_text() + R"( - a self-hostable tldraw sync server

Usage: tlsyncd [flags]

Run it:
  tlsyncd --data-dir ./data                  # http://127.0.0.1:5858, rooms at /connect/<room>
  tlsyncd --config /etc/tlsync/tlsyncd.conf  # settings from a file, e.g. under systemd

Settings come from, later ones winning: built-in defaults, the config file
(`name = value` lines, names as below without --), TLSYNC_* environment
variables, flags. Flags take `--name value` or `--name=value`; booleans also
stand alone (--fsync) or take =false. Durations: 500ms, 2s, 1m, 1h or
milliseconds. Sizes: 64MiB, 2KiB, 1MB or bytes.

General:
  --config FILE                   TLSYNC_CONFIG
      read settings from FILE first
  -h, --help
      print this help and exit
  --version
      print the version and exit
)";
    for (const auto group : groups) {
        out += "\n" + std::string(group) + ":\n";
        for (const auto& o : options) {
            if (o.group != group) continue;
            out += pad("  --" + std::string(o.name) + " " + std::string(o.meta), 34);
            out += pad(env_name(o.name), 34) + "default " + shown_default(o) + "\n";
            out += "      " + std::string(o.help) + "\n";
        }
    }
    return out;
}

std::string replicator_slot_name(const config& cfg) {
    if (!cfg.replicator_slot.empty()) return cfg.replicator_slot;
    if (cfg.node_id.empty()) return "tlsync_replicator";
    constexpr std::size_t max_len = 63; // NAMEDATALEN - 1
    std::string name = "tlsync_";
    bool changed = false;
    for (char c : cfg.node_id) {
        const char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
        const bool ok = (lower >= 'a' && lower <= 'z') || (lower >= '0' && lower <= '9') || lower == '_';
        changed |= !ok || lower != c;
        name += ok ? lower : '_';
    }
    if (!changed && name.size() <= max_len) return name;
    // FNV-1a of the id as given: "node-1" and "node_1" keep distinct slots.
    std::uint32_t h = 2166136261u;
    for (unsigned char c : cfg.node_id) h = (h ^ c) * 16777619u;
    char suffix[10];
    std::snprintf(suffix, sizeof suffix, "_%08x", h);
    name.resize(std::min(name.size(), max_len - 9));
    return name + suffix;
}

} // namespace tlsync::server
