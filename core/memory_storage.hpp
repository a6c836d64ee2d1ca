#pragma once
// InMemorySyncStorage: the room's working storage. Rooms run on it for speed;
// the server persists it by flushing delta_since() into a sqlite_storage off
// the room's thread, and restores a room with memory_storage(sqlite.get_snapshot()).
// Not thread-safe: touch it from the room's strand only.

#include "core/storage.hpp"

namespace tlsync::core {

namespace detail {
class memory_txn;
}

class memory_storage final : public sync_storage {
  public:
    // Without a snapshot: default_initial_snapshot() (SS1). A snapshot without
    // a schema gets `default_schema`, else tldraw's earliest schema (IM5).
    // The snapshot's clocks are made consistent: the document clock is raised
    // to the newest clock it contains (IM1), the tombstone history start is
    // lowered to the document clock (IM2), and tombstones are dropped when the
    // history is empty (IM3). Duplicate document ids: the last wins (IM6).
    // Documents in snapshot->texts stay text until first used (see
    // stored_texts): get() and the other readers parse them then, and throw
    // storage_error if a stored text turns out not to be a JSON object.
    explicit memory_storage(std::optional<room_snapshot> snapshot = std::nullopt,
                            std::optional<json::object> default_schema = std::nullopt);
    ~memory_storage() override;

    txn_result transaction(const std::function<void(storage_txn&)>& f,
                           const txn_options& opts = {}) override;
    [[nodiscard]] std::int64_t get_clock() const override { return clock_; }
    [[nodiscard]] room_snapshot get_snapshot() const override;
    void prune_tombstones() override;

    // Everything a receiver at `flushed_clock` lacks. O(documents + tombstones).
    // Call it on the room's strand; the result owns its data, so it can be
    // handed to the persistence thread for sqlite_storage::write_delta. The
    // schema is included unless the receiver is known to hold this one
    // (`flushed_schema_version` == schema_version()) and the delta is not full.
    [[nodiscard]] room_delta
    delta_since(std::int64_t flushed_clock,
                std::optional<std::uint64_t> flushed_schema_version = std::nullopt) const;

    // Changes whenever the schema does (a committed set_schema); starts at 1.
    [[nodiscard]] std::uint64_t schema_version() const noexcept { return schema_version_; }

    [[nodiscard]] std::int64_t tombstone_history_starts_at_clock() const noexcept {
        return history_start_;
    }
    [[nodiscard]] std::size_t tombstone_count() const noexcept { return tombstones_.size(); }
    [[nodiscard]] std::size_t document_count() const noexcept { return documents_.size(); }
    // How many documents are still held as their stored text.
    [[nodiscard]] std::size_t unparsed_count() const noexcept { return unparsed_; }

  private:
    friend class detail::memory_txn;

    // A document: its record, or, until first used, the record's stored JSON
    // text (a slice of texts_->puts; `text` is empty once parsed).
    struct document {
        mutable json::object state;
        mutable std::string_view text;
        std::int64_t last_changed_clock = 0;
    };
    // The record, parsed now if it was still text.
    const json::object& record(const std::string& id, const document& d) const;
    [[nodiscard]] stored_document take(const std::string& id, document& d);

    std::map<std::string, document, std::less<>> documents_;
    // What the unparsed documents' texts point into, and the clock at which
    // its puts are every document of the room (-1: not any more).
    mutable shared_text texts_;
    std::int64_t texts_clock_ = -1;
    mutable std::size_t unparsed_ = 0;
    std::map<std::string, std::int64_t, std::less<>> tombstones_;
    std::optional<json::object> schema_;
    std::uint64_t schema_version_ = 1;
    std::int64_t clock_ = 0;
    std::int64_t history_start_ = 0;
    bool in_transaction_ = false;
};

} // namespace tlsync::core
