#pragma once
// Room leases in PostgreSQL (tlsync_room_lease, server/sql/rooms/002): the
// statements behind room_leases, on blocking libpq. Every expiry is computed
// and compared on Postgres's clock (clock_timestamp()), never a node's.

#include "server/pg_blocking.hpp"
#include "server/room_store.hpp"

#include <chrono>
#include <memory>
#include <string>

namespace tlsync::server {

// SQLSTATE of tlsync_room_fence's refusal: a write under a lost lease.
inline constexpr std::string_view lease_lost_sqlstate = "TL001";

class pg_room_leases final : public room_leases {
  public:
    pg_room_leases(std::shared_ptr<pg_blocking_pool> pool, std::string owner,
                   std::chrono::milliseconds duration);

    std::variant<std::int64_t, lease_refused> acquire(const std::string& room_id) override;
    lease_renewal renew(const std::vector<core::lease_table::lease>& held) override;
    void release(const std::string& room_id, std::int64_t token) override;
    std::chrono::milliseconds duration() const noexcept override { return duration_; }

  private:
    std::shared_ptr<pg_blocking_pool> pool_;
    std::string owner_;
    std::chrono::milliseconds duration_;
    std::string duration_ms_; // as a statement parameter
};

} // namespace tlsync::server
