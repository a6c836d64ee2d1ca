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

bool batching_policy::catching_up(lsn received, stream_time now) const noexcept {
    if (!flushed_ || now - flushed_->at > cfg_.flush_valid_for) return false;
    return flushed_->flushed.value > received.value && flushed_->flushed.value - received.value > cfg_.behind_bytes;
}

stream_time batching_policy::take_at(std::size_t pending_rows, stream_time oldest, lsn received,
                                     stream_time now) const noexcept {
    if (pending_rows >= cfg_.catch_up_rows || !catching_up(received, now)) return now;
    return oldest + cfg_.catch_up_wait;
}

} // namespace tlsync::core::pg
