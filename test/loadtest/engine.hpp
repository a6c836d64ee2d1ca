#pragma once
// The generator's network side: one io_context per thread, the clients on
// them, and the seeding phase. Asio and Beast stay behind this interface (in
// engine.cpp, the one translation unit that instantiates them).

#include "test/loadtest/messages.hpp"
#include "test/loadtest/options.hpp"
#include "test/loadtest/stats.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace tlsync::loadtest {

class engine {
  public:
    engine(const options& opt, const message_builder& msgs, run_plan& plan);
    ~engine();
    engine(const engine&) = delete;
    engine& operator=(const engine&) = delete;

    // Resolves the target and prepares TLS. Returns an error text or "".
    [[nodiscard]] std::string prepare();
    // Pushes opt.seed_shapes shapes into every room and waits for their
    // results. Returns an error text or "".
    [[nodiscard]] std::string seed();
    // Creates the clients on their threads and starts the threads.
    void start();
    // Stops the io_contexts (clients that did not finish by themselves).
    void stop();
    void join();

    [[nodiscard]] int threads() const noexcept;
    [[nodiscard]] std::vector<std::unique_ptr<thread_stats>>& stats() noexcept;

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace tlsync::loadtest
