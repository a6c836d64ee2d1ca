// tlsyncd: a self-hostable tldraw sync server (protocol 8).

#include "server/config.hpp"
#include "server/log.hpp"
#include "server/room_store.hpp"
#include "server/server.hpp"

#include <csignal>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

extern char** environ;

int main(int argc, char** argv) {
    using namespace tlsync::server;
    const std::vector<std::string> args(argv + 1, argv + argc);
    std::vector<std::string> env;
    for (char** e = environ; e && *e; ++e) env.emplace_back(*e);

    const config_result parsed = parse_config(args, env);
    if (!parsed.error.empty()) {
        std::cerr << "tlsyncd: " << parsed.error << "\n";
        return 2;
    }
    if (!parsed.cfg) {
        std::cout << parsed.output;
        if (!parsed.output.empty() && parsed.output.back() != '\n') std::cout << "\n";
        return 0;
    }
    // A closed stderr pipe or a peer that vanished mid-write must be an
    // error value, not a signal that kills every session.
    std::signal(SIGPIPE, SIG_IGN);
    log::configure(parsed.cfg->log, parsed.cfg->log_json);
    for (const auto& w : parsed.warnings) log::warn(w);
    if (parsed.cfg->postgres_storage()) {
        // Fail fast, naming the flag: Postgres unreachable, refusing us, or
        // migrated by a newer server. (Connects once; the server's own
        // pool connects again.)
        try {
            (void)make_room_backend(*parsed.cfg);
        } catch (const std::exception& e) {
            std::cerr << "tlsyncd: " << e.what() << "\n";
            return 2;
        }
    }
    try {
        server s(*parsed.cfg);
        if (const std::string error = s.open(); !error.empty()) {
            std::cerr << "tlsyncd: " << error << "\n";
            return 2;
        }
        return s.run();
    } catch (const std::exception& e) {
        std::cerr << "tlsyncd: fatal: " << e.what() << "\n";
        return 1;
    }
}
