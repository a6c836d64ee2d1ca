// tlsyncd-sticker: tlsyncd (same flags, same behaviour) serving the schema
// of sticker_schema.cpp. The server takes its room service from a factory;
// this one hands every room the extended schema.

#include "sticker_schema.hpp"

#include "server/config.hpp"
#include "server/log.hpp"
#include "server/server.hpp"

#include <csignal>
#include <iostream>

extern char** environ;

int main(int argc, char** argv) {
    using namespace tlsync::server;
    std::vector<std::string> env;
    for (char** e = environ; e && *e; ++e) env.emplace_back(*e);
    const config_result parsed = parse_config({argv + 1, argv + argc}, env);
    if (!parsed.error.empty()) {
        std::cerr << "tlsyncd-sticker: " << parsed.error << "\n";
        return 2;
    }
    if (!parsed.cfg) {
        std::cout << parsed.output << "\n";
        return 0;
    }
    std::signal(SIGPIPE, SIG_IGN);
    log::configure(parsed.cfg->log, parsed.cfg->log_json);
    try {
        auto schema = sticker_example::make_sticker_schema();
        server s(*parsed.cfg, [schema](net::any_io_executor io, net::any_io_executor blocking, const config& cfg) {
            return make_room_service(std::move(io), std::move(blocking), cfg, schema);
        });
        if (const std::string error = s.open(); !error.empty()) {
            std::cerr << "tlsyncd-sticker: " << error << "\n";
            return 2;
        }
        return s.run();
    } catch (const std::exception& e) {
        std::cerr << "tlsyncd-sticker: fatal: " << e.what() << "\n";
        return 1;
    }
}
