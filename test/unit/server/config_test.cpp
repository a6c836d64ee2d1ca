// tlsyncd settings: flag forms, TLSYNC_* environment, config file,
// precedence, validation messages and --help.

#include "server/config.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>
#include <unistd.h>

using namespace tlsync::server;
using namespace std::chrono_literals;
using args_t = std::vector<std::string>;

namespace {

// Every flag the brief promises; the tests check them against the parser
// rather than trusting its own table.
const std::vector<std::string> all_flags = {"host",
                                            "port",
                                            "tls-cert",
                                            "tls-key",
                                            "threads",
                                            "admin-token",
                                            "data-dir",
                                            "flush-interval",
                                            "fsync",
                                            "max-message-bytes",
                                            "max-frame-bytes",
                                            "max-outbound-queue-bytes",
                                            "max-connections",
                                            "max-http-body-bytes",
                                            "session-idle-timeout",
                                            "session-start-wait",
                                            "session-removal-wait",
                                            "data-debounce",
                                            "handshake-timeout",
                                            "idle-timeout",
                                            "shutdown-timeout",
                                            "room-unload-delay",
                                            "schema",
                                            "postgres",
                                            "replicator-slot",
                                            "replicator-slot-ttl",
                                            "app-users-insecure",
                                            "replicator-history-rows",
                                            "replicator-history-age",
                                            "log",
                                            "log-json",
                                            "durability",
                                            "max-messages-per-second",
                                            "max-records-per-room",
                                            "connection-rate-per-ip",
                                            "auth",
                                            "jwt-secret-file",
                                            "jwt-public-key",
                                            "max-sessions-per-room",
                                            "web-root",
                                            "max-upload-bytes",
                                            "storage",
                                            "node-id",
                                            "lease-duration"};

std::string env_name(std::string flag) {
    for (auto& c : flag)
        c = c == '-' ? '_' : static_cast<char>(std::toupper(c));
    return "TLSYNC_" + flag;
}

config parse_ok(const args_t& args, const args_t& env = {}) {
    auto r = parse_config(args, env);
    BOOST_TEST_REQUIRE(r.error == "");
    BOOST_TEST_REQUIRE(r.cfg.has_value());
    return *r.cfg;
}

std::string parse_error(const args_t& args, const args_t& env = {}) {
    auto r = parse_config(args, env);
    BOOST_TEST(!r.cfg.has_value());
    BOOST_TEST(r.output == "");
    return r.error;
}

bool contains(std::string_view hay, std::string_view needle) {
    return hay.find(needle) != std::string_view::npos;
}

// A config file that removes itself.
struct temp_file {
    std::string path;
    explicit temp_file(std::string_view text) {
        char name[] = "/tmp/tlsync-config-test-XXXXXX";
        const int fd = ::mkstemp(name);
        BOOST_TEST_REQUIRE(fd >= 0);
        ::close(fd);
        path = name;
        std::ofstream(path, std::ios::binary) << text;
    }
    ~temp_file() { std::filesystem::remove(path); }
};

// A flag value and what it must set; covers every field.
struct sample {
    std::string flag, value;
    std::function<bool(const config&)> check;
};

const std::vector<sample> samples = {
    {"host", "0.0.0.0", [](const config& c) { return c.host == "0.0.0.0"; }},
    {"port", "8080", [](const config& c) { return c.port == 8080; }},
    {"tls-cert", "/c.pem", [](const config& c) { return c.tls_cert == "/c.pem"; }},
    {"tls-key", "/k.pem", [](const config& c) { return c.tls_key == "/k.pem"; }},
    {"threads", "4", [](const config& c) { return c.threads == 4; }},
    {"admin-token", "s3cret", [](const config& c) { return c.admin_token == "s3cret"; }},
    {"data-dir", "/var/lib/tlsync",
     [](const config& c) { return c.data_dir == "/var/lib/tlsync"; }},
    {"flush-interval", "2s", [](const config& c) { return c.flush_interval == 2s; }},
    {"fsync", "true", [](const config& c) { return c.fsync; }},
    {"max-message-bytes", "1MiB", [](const config& c) { return c.max_message_bytes == 1u << 20; }},
    {"max-frame-bytes", "2KiB", [](const config& c) { return c.max_frame_bytes == 2048; }},
    {"max-outbound-queue-bytes", "1MB",
     [](const config& c) { return c.max_outbound_queue_bytes == 1'000'000; }},
    {"max-connections", "100", [](const config& c) { return c.max_connections == 100; }},
    {"max-http-body-bytes", "4096", [](const config& c) { return c.max_http_body_bytes == 4096; }},
    {"session-idle-timeout", "1m", [](const config& c) { return c.session_idle_timeout == 1min; }},
    {"session-start-wait", "500ms", [](const config& c) { return c.session_start_wait == 500ms; }},
    {"session-removal-wait", "750",
     [](const config& c) { return c.session_removal_wait == 750ms; }},
    {"data-debounce", "0", [](const config& c) { return c.data_debounce == 0ms; }},
    {"handshake-timeout", "3s", [](const config& c) { return c.handshake_timeout == 3s; }},
    {"idle-timeout", "2m", [](const config& c) { return c.idle_timeout == 2min; }},
    {"shutdown-timeout", "1h", [](const config& c) { return c.shutdown_timeout == 1h; }},
    {"room-unload-delay", "0ms", [](const config& c) { return c.room_unload_delay == 0ms; }},
    {"schema", "/etc/tlsync/shapes.json",
     [](const config& c) { return c.schema_files == std::vector<std::string>{"/etc/tlsync/shapes.json"}; }},
    {"postgres", "postgresql://u@localhost/app", [](const config& c) { return c.postgres == "postgresql://u@localhost/app"; }},
    {"replicator-slot", "node_2", [](const config& c) { return c.replicator_slot == "node_2"; }},
    {"replicator-slot-ttl", "1h", [](const config& c) { return c.replicator_slot_ttl == 1h; }},
    {"app-users-insecure", "true", [](const config& c) { return c.app_users_insecure; }},
    {"replicator-history-rows", "500", [](const config& c) { return c.replicator_history_rows == 500u; }},
    {"replicator-history-age", "1h", [](const config& c) { return c.replicator_history_age == 1h; }},
    {"log", "debug", [](const config& c) { return c.log == log_level::debug; }},
    {"log-json", "yes", [](const config& c) { return c.log_json; }},
    {"durability", "fsync", [](const config& c) { return c.durable_acks() && c.fsync; }},
    {"max-messages-per-second", "50", [](const config& c) { return c.max_messages_per_second == 50u; }},
    {"max-records-per-room", "9000", [](const config& c) { return c.max_records_per_room == 9000u; }},
    {"connection-rate-per-ip", "10", [](const config& c) { return c.connection_rate_per_ip == 10u; }},
    {"auth", "jwt", [](const config& c) { return c.auth == "jwt"; }},
    {"jwt-secret-file", "/etc/tlsync/secret", [](const config& c) { return c.jwt_secret_file == "/etc/tlsync/secret"; }},
    {"jwt-public-key", "/etc/tlsync/key.pem", [](const config& c) { return c.jwt_public_key == "/etc/tlsync/key.pem"; }},
    {"max-sessions-per-room", "12", [](const config& c) { return c.max_sessions_per_room == 12u; }},
    {"web-root", "/srv/tlsync/web", [](const config& c) { return c.web_root == "/srv/tlsync/web"; }},
    {"max-upload-bytes", "2MiB", [](const config& c) { return c.max_upload_bytes == 2u << 20; }},
    {"storage", "postgresql://tlsync@db.internal:5432/tlsync",
     [](const config& c) { return c.storage == "postgresql://tlsync@db.internal:5432/tlsync" && c.postgres_storage(); }},
    {"node-id", "node-1", [](const config& c) { return c.node_id == "node-1"; }},
    {"lease-duration", "4s", [](const config& c) { return c.lease_duration == 4s; }},
};

// Flags only valid together with another: what each sample needs alongside.
const std::map<std::string, std::pair<std::string, std::string>> partners = {
    {"tls-cert", {"tls-key", "/k.pem"}},
    {"tls-key", {"tls-cert", "/c.pem"}},
    {"app-users-insecure", {"postgres", "dbname=app"}},
    {"auth", {"jwt-secret-file", "/s"}},
    {"jwt-secret-file", {"auth", "jwt"}},
    {"jwt-public-key", {"auth", "jwt"}},
};

// The flag's partner, if it needs one, as command-line arguments.
args_t with_partner(const std::string& flag, args_t args) {
    if (const auto it = partners.find(flag); it != partners.end())
        args.insert(args.end(), {"--" + it->second.first, it->second.second});
    return args;
}

} // namespace

BOOST_AUTO_TEST_SUITE(config)

BOOST_AUTO_TEST_CASE(durability_is_flush_or_fsync) {
    BOOST_TEST(!parse_ok({}).durable_acks());
    BOOST_TEST(!parse_ok({}).fsync);
    BOOST_TEST(contains(parse_error({"--durability", "always"}), "--durability: expected flush or fsync"));
}

BOOST_AUTO_TEST_CASE(storage_is_sqlite_or_a_postgres_connection_string) {
    BOOST_TEST(parse_ok({}).storage == "sqlite");
    BOOST_TEST(!parse_ok({}).postgres_storage());
    BOOST_TEST(parse_ok({"--storage", "host=db dbname=tlsync"}).postgres_storage());
    BOOST_TEST(parse_ok({"--storage", "postgres://db/tlsync"}).postgres_storage());
    BOOST_TEST(contains(parse_error({"--storage", "mysql"}), "--storage: expected sqlite, a postgres:// URI"));
    BOOST_TEST(contains(parse_error({"--storage", "sqlite3"}), "--storage: expected sqlite"));
    BOOST_TEST(contains(parse_error({"--storage", "hots=db"}), "--storage: not a valid PostgreSQL connection string"));
    // The reason comes from libpq, not an echo of a value that may hold a password.
    const auto e = parse_error({"--storage", "postgres://u:hunter2@db/x?bogus=1"});
    BOOST_TEST(contains(e, "--storage: not a valid PostgreSQL connection string"));
    BOOST_TEST(!contains(e, "hunter2"));
    BOOST_TEST(contains(parse_error({"--storage", ""}), "--storage"));
}

BOOST_AUTO_TEST_CASE(defaults_without_input) {
    const auto c = parse_ok({});
    BOOST_TEST(c.host == "127.0.0.1");
    BOOST_TEST(c.port == 5858);
    BOOST_TEST(!c.tls_enabled());
    BOOST_TEST(c.data_dir == "./data");
    BOOST_TEST(c.session_idle_timeout.count() == 20000); // RC6
    BOOST_TEST(c.data_debounce.count() == 16);           // RB1
    BOOST_TEST((c.log == log_level::info));
    BOOST_TEST(c.web_root == "auto");
    BOOST_TEST(c.max_upload_bytes == 10u << 20);
}

BOOST_AUTO_TEST_CASE(samples_cover_every_flag) {
    // Every setting --help lists has a sample here (a new flag needs one).
    std::istringstream help(help_text());
    for (std::string line; std::getline(help, line);) {
        if (!line.starts_with("  --")) continue;
        const auto name = line.substr(4, line.find(' ', 4) - 4);
        if (name == "config" || name == "help" || name == "version") continue;
        const bool listed = std::ranges::find(all_flags, name) != all_flags.end();
        BOOST_TEST(listed, "--" << name << " has no sample");
    }
    BOOST_TEST_REQUIRE(samples.size() == all_flags.size());
    for (std::size_t i = 0; i < samples.size(); ++i)
        BOOST_TEST(samples[i].flag == all_flags[i]);
}

BOOST_AUTO_TEST_CASE(every_flag_in_both_forms) {
    for (const auto& s : samples) {
        BOOST_TEST_CONTEXT("--" << s.flag) {
            BOOST_TEST(s.check(parse_ok(with_partner(s.flag, {"--" + s.flag, s.value}))));
            BOOST_TEST(s.check(parse_ok(with_partner(s.flag, {"--" + s.flag + "=" + s.value}))));
        }
    }
}

BOOST_AUTO_TEST_CASE(every_flag_from_environment) {
    for (const auto& s : samples) {
        BOOST_TEST_CONTEXT(env_name(s.flag)) {
            auto env = args_t{env_name(s.flag) + "=" + s.value, "PATH=/usr/bin"};
            if (const auto it = partners.find(s.flag); it != partners.end())
                env.push_back(env_name(it->second.first) + "=" + it->second.second);
            BOOST_TEST(s.check(parse_ok({}, env)));
        }
    }
}

BOOST_AUTO_TEST_CASE(every_flag_from_config_file) {
    for (const auto& s : samples) {
        BOOST_TEST_CONTEXT(s.flag) {
            std::string text = s.flag + " = " + s.value + "\n";
            if (const auto it = partners.find(s.flag); it != partners.end())
                text += it->second.first + " = " + it->second.second + "\n";
            temp_file f(text);
            BOOST_TEST(s.check(parse_ok({"--config", f.path})));
        }
    }
}

BOOST_AUTO_TEST_CASE(booleans_stand_alone_or_take_a_value) {
    BOOST_TEST(parse_ok({"--fsync"}).fsync);
    BOOST_TEST(!parse_ok({"--fsync=false"}).fsync);
    BOOST_TEST(!parse_ok({"--fsync", "--fsync=off"}).fsync);
    BOOST_TEST(parse_ok({"--log-json", "--port", "1"}).log_json);
    BOOST_TEST(!parse_ok({"--log-json=0"}).log_json);
    BOOST_TEST(!parse_ok({"--fsync", "false"}).fsync);
    BOOST_TEST(parse_ok({"--fsync", "yes", "--log-json"}).log_json);
    // A bare boolean only takes a following boolean word.
    BOOST_TEST(parse_error({"--fsync", "maybe"}) == "unexpected argument 'maybe' (see --help)");
    BOOST_TEST(parse_error({"--fsync=maybe"}) == "--fsync: expected true or false, got 'maybe'");
}

BOOST_AUTO_TEST_CASE(duration_and_size_units) {
    BOOST_TEST(parse_ok({"--idle-timeout", "500ms"}).idle_timeout.count() == 500);
    BOOST_TEST(parse_ok({"--idle-timeout", "2s"}).idle_timeout.count() == 2000);
    BOOST_TEST(parse_ok({"--idle-timeout", "1m"}).idle_timeout.count() == 60000);
    BOOST_TEST(parse_ok({"--idle-timeout", "1500"}).idle_timeout.count() == 1500);
    BOOST_TEST(parse_ok({"--max-message-bytes", "64MiB"}).max_message_bytes == 64u << 20);
    BOOST_TEST(parse_ok({"--max-message-bytes", "2KiB"}).max_message_bytes == 2048);
    BOOST_TEST(parse_ok({"--max-message-bytes", "1MB"}).max_message_bytes == 1'000'000);
    BOOST_TEST(parse_ok({"--max-message-bytes", "1gib"}).max_message_bytes == 1u << 30);
    BOOST_TEST(parse_ok({"--max-message-bytes", "4096"}).max_message_bytes == 4096);
    for (auto bad : {"1.5s", "2 weeks", "s", "-1", "+5", "1S", "99999999999999999999"})
        BOOST_TEST(contains(parse_error({"--idle-timeout", bad}), "--idle-timeout: expected"), bad);
    for (auto bad : {"1.5MiB", "12XB", "MiB", "-4096", "18446744073709551615GiB"})
        BOOST_TEST(contains(parse_error({"--max-frame-bytes", bad}), "--max-frame-bytes: expected"),
                   bad);
}

BOOST_AUTO_TEST_CASE(port_zero_means_ephemeral) {
    BOOST_TEST(parse_ok({"--port", "0"}).port == 0);
    BOOST_TEST(parse_ok({"--port", "65535"}).port == 65535);
}

BOOST_AUTO_TEST_CASE(zero_disables_only_where_it_makes_sense) {
    // RC6: 0 turns idle pruning off.
    BOOST_TEST(parse_ok({"--session-idle-timeout", "0"}).session_idle_timeout.count() == 0);
    for (auto f : {"session-removal-wait", "data-debounce", "room-unload-delay"})
        BOOST_TEST(parse_ok({std::string("--") + f, "0"}).data_dir == "./data", f);
    for (auto f : {"flush-interval", "session-start-wait", "handshake-timeout", "idle-timeout",
                   "shutdown-timeout"})
        BOOST_TEST(
            contains(parse_error({std::string("--") + f, "0"}), std::string("--") + f + ": "), f);
}

BOOST_AUTO_TEST_CASE(every_validation_error_names_the_flag_and_value) {
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"host", ""},
        {"port", "65536"},
        {"port", "http"},
        {"port", "-1"},
        {"threads", "1025"},
        {"threads", "-2"},
        {"data-dir", ""},
        {"flush-interval", "2d"},
        {"fsync", "2"},
        {"max-message-bytes", "0"},
        {"max-frame-bytes", "64"},
        {"max-outbound-queue-bytes", "17GiB"},
        {"max-connections", "0"},
        {"max-connections", "1k"},
        {"max-http-body-bytes", "5GiB"},
        {"max-upload-bytes", "5GiB"},
        {"web-root", ""},
        {"session-idle-timeout", "25h"},
        {"session-start-wait", "x"},
        {"session-removal-wait", "-5"},
        {"data-debounce", "2m"},
        {"handshake-timeout", "0s"},
        {"idle-timeout", "soon"},
        {"shutdown-timeout", "0"},
        {"room-unload-delay", "1d"},
        {"lease-duration", "100ms"},
        {"lease-duration", "2h"},
        {"lease-duration", "forever"},
        {"log", "verbose"},
        {"log-json", "nope"}};
    for (const auto& [flag, value] : bad) {
        const auto err = parse_error({"--" + flag + "=" + value});
        BOOST_TEST(err.starts_with("--" + flag + ": expected "), err);
        BOOST_TEST(contains(err, "got '" + value + "'"), err);
    }
    BOOST_TEST(parse_error({"--port", "70000"}) == "--port: expected a port 0-65535, got '70000'");
    BOOST_TEST(parse_error({"--threads", "2000"}) ==
               "--threads: expected an integer 0-1024, got '2000'");
}

BOOST_AUTO_TEST_CASE(tls_cert_and_key_go_together) {
    BOOST_TEST(parse_error({"--tls-cert", "/c.pem"}) ==
               "--tls-cert and --tls-key must be given together (only --tls-cert is set)");
    BOOST_TEST(parse_error({}, {"TLSYNC_TLS_KEY=/k.pem"}) ==
               "--tls-cert and --tls-key must be given together (only --tls-key is set)");
    BOOST_TEST(parse_ok({"--tls-cert", "/c.pem", "--tls-key", "/k.pem"}).tls_enabled());
}

BOOST_AUTO_TEST_CASE(unknown_flags_and_missing_values) {
    BOOST_TEST(parse_error({"--x"}) == "unknown flag --x (see --help)");
    BOOST_TEST(parse_error({"--prot=1"}) == "unknown flag --prot (see --help)");
    BOOST_TEST(parse_error({"--data_dir", "/d"}) == "unknown flag --data_dir (see --help)");
    BOOST_TEST(parse_error({"-p", "1"}) == "unexpected argument '-p' (see --help)");
    BOOST_TEST(parse_error({"serve"}) == "unexpected argument 'serve' (see --help)");
    BOOST_TEST(parse_error({"--port"}) == "--port: missing value (see --help)");
    BOOST_TEST(parse_error({"--port", "--host", "h"}) == "--port: missing value (see --help)");
    BOOST_TEST(parse_error({"--config"}) == "--config: missing value (see --help)");
    // An explicit empty value is a value, and host must not be empty.
    BOOST_TEST(contains(parse_error({"--host="}), "--host: expected a non-empty value"));
    BOOST_TEST(parse_ok({"--admin-token="}).admin_token == "");
    BOOST_TEST(parse_ok({"--admin-token=--odd"}).admin_token == "--odd");
}

BOOST_AUTO_TEST_CASE(precedence_defaults_file_env_flags) {
    temp_file f("port = 1001\nhost = file-host\ndata-dir = /from/file\nthreads = 3\n");
    const args_t env = {"TLSYNC_CONFIG=" + f.path, "TLSYNC_PORT=1002", "TLSYNC_HOST=env-host"};
    const auto c = parse_ok({"--port", "1003"}, env);
    BOOST_TEST(c.port == 1003);             // flag beats env and file
    BOOST_TEST(c.host == "env-host");       // env beats file
    BOOST_TEST(c.data_dir == "/from/file"); // file beats default
    BOOST_TEST(c.threads == 3);
    BOOST_TEST(c.max_connections == 20000u); // default
    // The last of repeated flags wins.
    BOOST_TEST(parse_ok({"--port", "1", "--port=2"}).port == 2);
}

BOOST_AUTO_TEST_CASE(schema_files_repeat_and_later_sources_replace_the_list) {
    using list = std::vector<std::string>;
    BOOST_TEST(parse_ok({"--schema", "a.json", "--schema=b.json"}).schema_files == (list{"a.json", "b.json"}));
    BOOST_TEST(parse_ok({}, {"TLSYNC_SCHEMA=a.json::/x/b.json"}).schema_files == (list{"a.json", "/x/b.json"}));
    temp_file f("schema = f1.json\nschema = 'f 2.json'\n");
    BOOST_TEST(parse_ok({"--config", f.path}).schema_files == (list{"f1.json", "f 2.json"}));
    // env replaces the file's list; flags replace both
    BOOST_TEST(parse_ok({"--config", f.path}, {"TLSYNC_SCHEMA=e.json"}).schema_files == (list{"e.json"}));
    BOOST_TEST(parse_ok({"--config", f.path, "--schema", "c.json"}, {"TLSYNC_SCHEMA=e.json"}).schema_files ==
               (list{"c.json"}));
    BOOST_TEST(parse_error({"--schema="}) == "--schema: expected a non-empty path, got ''");
}

BOOST_AUTO_TEST_CASE(replicator_settings_are_checked) {
    BOOST_TEST(parse_ok({}).postgres == "");
    BOOST_TEST(replicator_slot_name(parse_ok({})) == "tlsync_replicator");
    // One slot per node: derived from --node-id unless --replicator-slot is given.
    BOOST_TEST(replicator_slot_name(parse_ok({"--node-id", "node_2"})) == "tlsync_node_2");
    BOOST_TEST(replicator_slot_name(parse_ok({"--node-id", "node_2", "--replicator-slot", "mine"})) == "mine");
    const auto dashed = replicator_slot_name(parse_ok({"--node-id", "Node-2"}));
    BOOST_TEST(dashed.starts_with("tlsync_node_2_"));
    BOOST_TEST(dashed != replicator_slot_name(parse_ok({"--node-id", "node-2"}))); // distinct ids, distinct slots
    const auto long_id = replicator_slot_name(parse_ok({"--node-id", std::string(100, 'n')}));
    BOOST_TEST(long_id.size() == 63u);
    BOOST_TEST(long_id != replicator_slot_name(parse_ok({"--node-id", std::string(99, 'n')})));
    for (const auto& id : {std::string("host.example:1234"), std::string(200, '-')}) {
        const auto s = replicator_slot_name(parse_ok({"--node-id=" + id}));
        BOOST_TEST(s.size() <= 63u);
        BOOST_TEST(std::ranges::all_of(s, [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }), s);
    }
    BOOST_TEST(parse_ok({}).replicator_slot_ttl == std::chrono::minutes(15));
    BOOST_TEST(parse_ok({"--replicator-slot-ttl", "0"}).replicator_slot_ttl.count() == 0);
    BOOST_TEST(contains(parse_error({"--replicator-slot-ttl", "soon"}), "--replicator-slot-ttl: expected a duration"));
    BOOST_TEST(parse_error({"--replicator-slot", "Bad-Slot"}) ==
               "--replicator-slot: expected 1-63 characters of a-z, 0-9 and _, got 'Bad-Slot'");
    BOOST_TEST(contains(parse_error({"--replicator-slot", std::string(64, 'a')}), "--replicator-slot"));
    BOOST_TEST(parse_error({"--app-users-insecure"}) == "--app-users-insecure: user sockets need --postgres");
    BOOST_TEST(parse_error({"--replicator-history-rows", "0"}) ==
               "--replicator-history-rows: expected an integer 1-100000000, got '0'");
}

BOOST_AUTO_TEST_CASE(config_flag_beats_tlsync_config) {
    temp_file by_env("port = 1\n"), by_flag("port = 2\n");
    BOOST_TEST(parse_ok({"--config=" + by_flag.path}, {"TLSYNC_CONFIG=" + by_env.path}).port == 2);
    BOOST_TEST(parse_ok({}, {"TLSYNC_CONFIG=" + by_env.path}).port == 1);
}

BOOST_AUTO_TEST_CASE(config_file_syntax) {
    temp_file f("\xEF\xBB\xBF# tlsyncd.conf\n"
                "\n"
                "   # indented comment\n"
                "port=9000\r\n"
                "  admin-token = \"a token # with hash\"  \n"
                "data_dir = '/srv/tl sync'\n"
                "fsync\n"
                "max-frame-bytes = 4 KiB\n");
    const auto c = parse_ok({"--config", f.path});
    BOOST_TEST(c.port == 9000);
    BOOST_TEST(c.admin_token == "a token # with hash");
    BOOST_TEST(c.data_dir == "/srv/tl sync");
    BOOST_TEST(c.fsync);
    BOOST_TEST(c.max_frame_bytes == 4096u);
}

BOOST_AUTO_TEST_CASE(config_file_errors_name_file_and_line) {
    temp_file unknown("port = 1\n\nprot = 2\n");
    BOOST_TEST(parse_error({"--config", unknown.path}) ==
               unknown.path + ":3: unknown key 'prot' (keys are flag names without --)");
    temp_file bad_value("# x\nport = http\n");
    BOOST_TEST(parse_error({"--config", bad_value.path}) ==
               bad_value.path + ":2: port (--port): expected a port 0-65535, got 'http'");
    temp_file no_equals("host\n");
    BOOST_TEST(parse_error({"--config", no_equals.path}) ==
               no_equals.path + ":1: expected 'host = value'");
    temp_file not_a_key("config = /etc/other.conf\n");
    BOOST_TEST(contains(parse_error({"--config", not_a_key.path}), ":1: unknown key 'config'"));
    const auto missing = parse_error({"--config", "/nonexistent/tlsyncd.conf"});
    BOOST_TEST(missing.starts_with("--config: cannot read '/nonexistent/tlsyncd.conf'"), missing);
}

BOOST_AUTO_TEST_CASE(environment_errors_and_warnings) {
    BOOST_TEST(parse_error({}, {"TLSYNC_PORT=abc"}) ==
               "TLSYNC_PORT (--port): expected a port 0-65535, got 'abc'");
    // A flag overriding a bad env value does not hide the error: both are input.
    BOOST_TEST(contains(parse_error({"--port", "1"}, {"TLSYNC_PORT=abc"}), "TLSYNC_PORT"));
    // Empty means unset, as EnvironmentFile templates leave `KEY=` lines.
    BOOST_TEST(parse_ok({}, {"TLSYNC_PORT=", "TLSYNC_CONFIG="}).port == 5858);
    const auto r = parse_config({}, {"TLSYNC_PROT=1", "OTHER=1", "TLSYNC_PORT=7"});
    BOOST_TEST_REQUIRE(r.cfg.has_value());
    BOOST_TEST(r.cfg->port == 7);
    BOOST_TEST_REQUIRE(r.warnings.size() == 1u);
    BOOST_TEST(r.warnings[0] == "ignoring unknown environment variable TLSYNC_PROT");
}

BOOST_AUTO_TEST_CASE(help_and_version) {
    const auto h = parse_config({"--help"}, {});
    BOOST_TEST(!h.cfg.has_value());
    BOOST_TEST(h.error == "");
    BOOST_TEST(h.output == help_text());
    BOOST_TEST(parse_config({"-h"}, {}).output == help_text());
    // Help wins even over a broken command line it is appended to.
    BOOST_TEST(parse_config({"--bogus", "--help"}, {}).output == help_text());
    BOOST_TEST(parse_config({"--port", "x", "-h"}, {}).output == help_text());
    BOOST_TEST(parse_config({"--version"}, {}).output ==
               "tlsyncd 0.1.0 (tldraw sync protocol 8)\n");
    BOOST_TEST(version_text() == "tlsyncd 0.1.0 (tldraw sync protocol 8)");
}

BOOST_AUTO_TEST_CASE(help_lists_every_flag_env_var_and_group) {
    const auto h = help_text();
    for (const auto& f : all_flags) {
        BOOST_TEST(contains(h, "--" + f + " "), f);
        BOOST_TEST(contains(h, env_name(f)), f);
    }
    for (auto s : {"--config FILE", "TLSYNC_CONFIG", "--help", "--version",
                   "Network:", "Storage:", "Limits:", "Timing:", "Schemas:", "Replicator:", "Logging:", "default 5858",
                   "default 64MiB", "default 20s", "default 127.0.0.1", "tlsyncd --data-dir ./data",
                   "tlsyncd --config /etc/tlsync/tlsyncd.conf"})
        BOOST_TEST(contains(h, s), s);
}

BOOST_AUTO_TEST_CASE(log_level_names_round_trip) {
    for (auto l :
         {log_level::trace, log_level::debug, log_level::info, log_level::warn, log_level::error})
        BOOST_TEST((parse_ok({"--log", std::string(to_string(l))}).log == l));
    BOOST_TEST((parse_ok({"--log=WARNING"}).log == log_level::warn));
}

BOOST_AUTO_TEST_SUITE_END()
