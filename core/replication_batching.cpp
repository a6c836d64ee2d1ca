#include "core/replication_batching.hpp"

#include <algorithm>

namespace tlsync::core::pg {

void batching_policy::on_server_flush(lsn flushed, stream_time now) noexcept {
    if (flushed_ && flushed < flushed_->flushed) {
        // A position never goes back; keep the higher one, with the newer time.
        flushed_->at = std::max(flushed_->at, now);
        return;
    }
    flushed_ = report{flushed, now};
}

bool batching_policy::catching_up(lsn received, stream_time now) noexcept {
    if (!flushed_ || now - flushed_->at > cfg_.flush_valid_for) return catching_up_ = false;
    const std::uint64_t behind =
        flushed_->flushed > received ? flushed_->flushed.value - received.value : 0;
    if (behind > cfg_.enter_behind_bytes) catching_up_ = true;
    else if (behind <= cfg_.leave_behind_bytes) catching_up_ = false;
    return catching_up_;
}

stream_time batching_policy::take_at(std::size_t pending_rows, stream_time oldest, lsn received,
                                     stream_time now) noexcept {
    const bool behind = catching_up(received, now);
    if (pending_rows >= cfg_.catch_up_rows) return now;
    if (behind) return oldest + cfg_.catch_up_wait;
    if (last_taken_ && cfg_.live_min_interval.count() > 0) return std::max(now, *last_taken_ + cfg_.live_min_interval);
    return now;
}

} // namespace tlsync::core::pg
