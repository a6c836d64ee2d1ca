#pragma once
// The node's room leases kept alive (--storage postgres; docs/SCALING.md):
// core::lease_table decides, this actor carries out. On its own strand, one
// timer follows the table's next deadline; a renewal round is one statement
// on the blocking pool (never on an io thread), one in flight at a time; a
// lease found lost is reported to the room that holds it, which stops
// writing and sends its sessions to reconnect.
//
//   auto keeper = std::make_shared<lease_keeper>(io, blocking, backend->leases());
//   // blocking pool: before loading a room
//   auto got = keeper->acquire("board", [](std::int64_t token, std::string why) { ... });
//   // ... after the room's last flush, on the blocking pool:
//   keeper->release("board", token);
//   keeper->stop(); // at the end of shutdown: no more renewals

#include "core/lease_table.hpp"
#include "server/room_store.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <functional>
#include <map>
#include <memory>
#include <string>

namespace tlsync::server {

class lease_keeper : public std::enable_shared_from_this<lease_keeper> {
  public:
    // What the holder of a lease hears of it.
    enum class event {
        lost,   // gone: stop writing, send the sessions away
        wanted, // another node was refused the room lately: hand it over when convenient
    };
    // Called on the keeper's strand for the lease granted with `token`; must
    // only post. Never called after stop() or release().
    using lost_handler = std::function<void(event what, std::int64_t token, std::string why)>;

    lease_keeper(boost::asio::any_io_executor io, boost::asio::any_io_executor blocking,
                 std::shared_ptr<room_leases> leases);

    // Blocking (call it on the blocking pool): takes the room's lease and
    // keeps it renewed until release() or its loss, which `on_lost` hears
    // of (as it hears of requests for the room). Throws when storage is
    // unreachable.
    [[nodiscard]] std::variant<std::int64_t, lease_refused> acquire(const std::string& room_id,
                                                                    lost_handler on_lost);
    // Blocking: stops renewing the lease and gives it up in Postgres, so
    // another node may take the room at once. Failures are logged (the lease
    // then lapses by itself).
    void release(const std::string& room_id, std::int64_t token);
    // A write under `token` was refused by the fence: stop renewing it.
    // Thread-safe; does not call the lost handler (the caller knows).
    void fenced(const std::string& room_id, std::int64_t token, std::string why);
    // No more renewals or reports; what is held lapses by itself in Postgres.
    void stop();

    [[nodiscard]] std::chrono::milliseconds lease_duration() const noexcept {
        return leases_->duration();
    }

  private:
    using clock = std::chrono::steady_clock;
    static core::lease_table::time now();
    void pump(); // on the strand: expire, report, renew, re-arm
    void renewed(const core::lease_table::renewal& r, lease_renewal result);
    void renewal_failed(const core::lease_table::renewal& r, const std::string& error);
    void report_lost();
    void publish(); // the held leases' gauge (tlsync_room_leases_held)

    boost::asio::strand<boost::asio::any_io_executor> strand_;
    boost::asio::any_io_executor blocking_;
    std::shared_ptr<room_leases> leases_;
    // On the strand:
    core::lease_table table_;
    std::map<std::string, std::pair<std::int64_t, lost_handler>, std::less<>> handlers_;
    boost::asio::steady_timer timer_;
    std::optional<core::lease_table::time> armed_for_;
    bool stopped_ = false;
    std::int64_t published_ = 0; // this keeper's part of the gauge
};

} // namespace tlsync::server
