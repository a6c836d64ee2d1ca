#pragma once
// tlsyncd's settings. Sources, later ones winning: built-in defaults, an
// optional config file (--config FILE, `key = value` lines using the long
// flag names), TLSYNC_* environment variables (TLSYNC_DATA_DIR for
// --data-dir), command-line flags. server/config.cpp parses and validates;
// an invalid value is reported naming the flag, and tlsyncd exits with 2.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tlsync::server {

enum class log_level { trace, debug, info, warn, error };

struct config {
    // network
    std::string host = "127.0.0.1";
    std::uint16_t port = 5858;
    std::string tls_cert; // PEM chain file; TLS is on when both are set
    std::string tls_key;  // PEM private key file
    int threads = 0;      // io_context threads; 0: number of cores
    std::string admin_token; // bearer token for /admin/...; empty: admin API disabled
    // Access tokens (server/auth.hpp): "none" (anyone may open any room) or
    // "jwt" (signed tokens, with exactly one of the two key files).
    std::string auth = "none";
    std::string jwt_secret_file; // HS256: the shared secret, the file's bytes (a trailing newline dropped)
    std::string jwt_public_key;  // RS256/EdDSA: a PEM public key file

    // storage
    std::string data_dir = "./data";
    // Where rooms are kept: "sqlite" (one file per room under data_dir/rooms)
    // or PostgreSQL, a postgres:// / postgresql:// URI or key=value conninfo
    // (shared tables, server/pg_room_storage.hpp).
    std::string storage = "sqlite";
    // Who this process is in the room write log and the room leases; empty: hostname:pid.
    std::string node_id;
    // --storage postgres: a room is served by the node holding its lease in
    // Postgres; a lease not renewed for this long lapses (docs/SCALING.md).
    std::chrono::milliseconds lease_duration{10000};
    std::chrono::milliseconds flush_interval{500}; // write-behind to storage
    bool fsync = false; // SQLite synchronous=FULL instead of NORMAL
    // "flush": edits are acknowledged at once and written within
    // --flush-interval. "fsync": a room's messages that follow an edit
    // (its push_result, the patches of it, later connects) leave only once
    // the edit is committed to disk with synchronous=FULL; writes are group
    // committed, one transaction for everything that came in meanwhile.
    std::string durability = "flush";
    [[nodiscard]] bool durable_acks() const noexcept { return durability == "fsync"; }

    // limits
    std::size_t max_message_bytes = 32u << 20;      // one (reassembled) client message
    std::size_t max_frame_bytes = 2u << 20;         // one websocket frame (a chunk is <= 1 MiB)
    std::size_t max_outbound_queue_bytes = 64u << 20; // per connection, before it is closed
    std::size_t max_connections = 20000;
    std::size_t max_sessions_per_room = 0; // 0: no limit; more get 4099 ROOM_FULL
    // Per session, in bursts of up to twice as many; more get 4099 RATE_LIMITED.
    // 0: no limit. tldraw's client sends at most ~60 pushes a second.
    std::size_t max_messages_per_second = 300;
    // New websocket connections per second from one address, in bursts of up
    // to twice as many; more are answered 429. 0: no limit.
    std::size_t connection_rate_per_ip = 0;
    // Records (documents) one room may hold; a push adding more gets 4099
    // ROOM_FULL. 0: no limit.
    std::size_t max_records_per_room = 0;
    std::size_t max_http_body_bytes = 64u << 20;    // admin uploads (snapshots)
    std::size_t max_upload_bytes = 10u << 20;       // one asset (PUT /uploads/{id}); 0: uploads off

    // timing (SPEC defaults)
    std::chrono::milliseconds session_idle_timeout{20000};   // RC6
    std::chrono::milliseconds session_start_wait{10000};     // SES1
    std::chrono::milliseconds session_removal_wait{5000};    // SES1
    std::chrono::milliseconds data_debounce{16};             // RB1
    std::chrono::milliseconds handshake_timeout{10000};      // HTTP request + TLS + upgrade
    std::chrono::milliseconds idle_timeout{60000};           // websocket with no frames at all
    std::chrono::milliseconds shutdown_timeout{10000};       // graceful shutdown deadline
    std::chrono::milliseconds room_unload_delay{5000};       // empty room kept loaded this long

    // The web app's files (server/static_files.hpp): "auto" (web/dist of the
    // source tree, if built), "off", or a directory holding index.html.
    std::string web_root = "auto";

    // schemas: JSON schema files extending the built-in tldraw schema (--schema, repeatable)
    std::vector<std::string> schema_files;

    // Postgres replicator and user sockets (off unless --postgres is set)
    std::string postgres;                           // libpq conninfo or postgresql:// URI
    std::string replicator_slot;                    // logical replication slot; empty: replicator_slot_name()
    std::chrono::milliseconds replicator_slot_ttl{15 * 60 * 1000}; // drop gone nodes' slots after; 0: never
    bool app_users_insecure = false;                // /app/{userId}/connect trusts the URL's user id
    std::size_t replicator_history_rows = 20000;    // changes kept for users that reconnect
    std::chrono::milliseconds replicator_history_age{24 * 3600 * 1000};

    // logging
    log_level log = log_level::info;
    bool log_json = false;

    [[nodiscard]] bool tls_enabled() const noexcept { return !tls_cert.empty() && !tls_key.empty(); }
    [[nodiscard]] bool postgres_storage() const noexcept { return !storage.empty() && storage != "sqlite"; }
};

// The replication slot this node streams from: --replicator-slot if given;
// else tlsync_<node id> when --node-id is set (one slot per node: two nodes
// on one slot take it from each other), with the id lowercased, other
// characters as '_' and, when that changed the id or it had to be
// shortened, a hash of the id appended so that distinct ids keep distinct
// slots; else tlsync_replicator.
[[nodiscard]] std::string replicator_slot_name(const config& cfg);

// Result of parsing: a config, or --help/--version text to print and exit 0,
// or an error to print and exit 2.
struct config_result {
    std::optional<config> cfg;
    std::string output; // help/version text
    std::string error;  // names the flag: "--port: expected 1-65535, got 'x'"
    // Non-fatal findings (an unknown TLSYNC_* variable, most likely a typo)
    // for the caller to log once logging is configured.
    std::vector<std::string> warnings;
};

// `env` is the process environment (KEY=VALUE strings).
[[nodiscard]] config_result parse_config(const std::vector<std::string>& args,
                                         const std::vector<std::string>& env);

[[nodiscard]] std::string help_text();

// "tlsyncd 0.1.0 (tldraw sync protocol 8)", what --version prints.
[[nodiscard]] std::string version_text();

// "trace", "debug", "info", "warn", "error": the --log spelling.
[[nodiscard]] std::string_view to_string(log_level level) noexcept;

} // namespace tlsync::server
