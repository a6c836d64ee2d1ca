// Server-side writes: updateStore (US1-US6) and loadSnapshot (SR10). Both
// commit in one storage transaction under their own id, so the room's change
// listener sees a foreign write and broadcasts it (RC4), or forces everyone
// to reconnect when no incremental diff exists (RC5).

#include "core/room.hpp"

#include <map>
#include <set>
#include <stdexcept>

namespace tlsync::core {

namespace {

constexpr std::string_view update_txn_id = "tlsync.update_store";
constexpr std::string_view load_txn_id = "tlsync.load_snapshot";

struct closed_context_error : std::logic_error {
    closed_context_error() : std::logic_error("StoreUpdateContext is closed") {}
};

} // namespace

// A view over the transaction that buffers writes until the updater returns.
class room::update_context final : public store_update {
public:
    update_context(const storage_txn& txn, const schema& s) : txn_(txn), schema_(s) {}

    std::optional<json::object> get(std::string_view id) const override {
        check_open();
        if (auto it = puts_.find(id); it != puts_.end()) return it->second;
        if (deletes_.contains(std::string(id))) return std::nullopt;
        if (const auto* r = txn_.get(id)) return *r; // a copy: mutating it does nothing (US1)
        return std::nullopt;
    }

    void put(json::object record) override {
        check_open();
        schema_.validate_record(record); // US2: unknown types and invalid records throw
        const auto* id_value = record.if_contains("id");
        std::string id(id_value->get_string()); // validate_record checked it is a string
        deletes_.erase(id);
        const auto* stored = txn_.get(id);
        if (stored && deep_equal(*stored, record))
            puts_.erase(id);
        else
            puts_.insert_or_assign(std::move(id), std::move(record));
    }

    void remove(std::string_view id) override {
        check_open();
        puts_.erase(std::string(id)); // US3
        if (txn_.get(id)) deletes_.insert(std::string(id));
    }

    std::vector<json::object> get_all() const override {
        check_open();
        std::vector<json::object> out;
        for (const auto& [id, r] : puts_) out.push_back(r); // US4
        txn_.for_each([&](std::string_view id, const json::object& r) {
            const std::string key(id);
            if (!deletes_.contains(key) && !puts_.contains(key)) out.push_back(r);
        });
        return out;
    }

    void close() noexcept { open_ = false; }

    void commit(storage_txn& txn) {
        for (auto& [id, r] : puts_) txn.set(id, std::move(r));
        for (const auto& id : deletes_) txn.remove(id);
    }

private:
    void check_open() const {
        if (!open_) throw closed_context_error(); // US6
    }

    const storage_txn& txn_;
    const schema& schema_;
    std::map<std::string, json::object, std::less<>> puts_;
    std::set<std::string> deletes_;
    bool open_ = true;
};

void room::update_store(const std::function<void(store_update&)>& updater) {
    if (closed_) throw std::logic_error("cannot update the store of a closed room"); // US6
    storage_->transaction(
        [&](storage_txn& txn) {
            update_context ctx(txn, *schema_);
            try {
                updater(ctx);
            } catch (...) {
                ctx.close();
                throw;
            }
            ctx.close();
            ctx.commit(txn); // US5: one transaction, one clock step at most
        },
        {std::string(update_txn_id), false});
    after_external_write();
}

void room::load_snapshot(const room_snapshot& snapshot) {
    if (closed_) throw std::logic_error("cannot load a snapshot into a closed room");
    storage_->transaction(
        [&](storage_txn& txn) {
            load_snapshot_into_storage(txn, snapshot); // SL2, SL3
            schema_->migrate_storage(txn);             // SL4
        },
        {std::string(load_txn_id), false});
    after_external_write();
}

} // namespace tlsync::core
