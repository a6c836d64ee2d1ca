#include "server/user_hub.hpp"

#include "server/log.hpp"
#include "server/metrics.hpp"
#include "server/pg_pool.hpp"
#include "server/user_actor.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <unordered_map>

namespace tlsync::server {

namespace pg = core::pg;

user_hub::user_hub(net::any_io_executor io, std::shared_ptr<user_backend> backend, user_hub_config cfg)
    : io_(std::move(io)), backend_(std::move(backend)), cfg_(cfg) {}

user_hub::~user_hub() = default;

void user_hub::set_replicator(std::shared_ptr<replicator> r) {
    std::lock_guard lock(mutex_);
    repl_ = std::move(r);
}

std::shared_ptr<replicator> user_hub::repl() const {
    std::lock_guard lock(mutex_);
    return repl_;
}

void user_hub::set_transaction_observer(std::function<void(const pg::transaction&)> f) {
    std::lock_guard lock(mutex_);
    on_transaction_ = std::move(f);
}

replicator::handlers user_hub::handlers() {
    // Weak: the replicator must not keep the hub (and its actors) alive.
    std::weak_ptr<user_hub> weak = weak_from_this();
    replicator::handlers h;
    h.on_transaction = [weak](const pg::transaction& t) {
        global_metrics().replicator_transactions.inc();
        auto self = weak.lock();
        if (!self) return;
        std::function<void(const pg::transaction&)> f;
        {
            std::lock_guard lock(self->mutex_);
            f = self->on_transaction_;
        }
        if (f) f(t);
        // TRUNCATE carries no rows to route: every connected user reloads
        // (their snapshot is taken after it).
        for (const auto& tr : t.truncates)
            if (tr.schema == "public" && (tr.table == "user" || tr.table == "file" || tr.table == "file_state" ||
                                          tr.table == "user_mutation_number")) {
                log::warn("app table truncated: connected users reload", {{"table", tr.table}});
                self->sequence_break();
                break;
            }
    };
    h.on_deliveries = [weak](std::vector<pg::user_delivery> d) {
        if (auto self = weak.lock()) self->deliver(std::move(d));
    };
    h.on_sequence_break = [weak] {
        global_metrics().replicator_sequence_breaks.inc();
        if (auto self = weak.lock()) self->sequence_break();
    };
    return h;
}

std::shared_ptr<user_actor> user_hub::attach(const std::string& user_id) {
    std::lock_guard lock(mutex_);
    if (stopping_) return nullptr;
    auto it = actors_.find(user_id);
    if (it != actors_.end()) return it->second;
    auto a = std::make_shared<user_actor>(user_id, weak_from_this(), io_);
    actors_.emplace(user_id, a);
    global_metrics().users_connected.set(static_cast<std::int64_t>(actors_.size()));
    return a;
}

void user_hub::actor_gone(const std::string& user_id, const user_actor* actor) {
    std::lock_guard lock(mutex_);
    if (auto it = actors_.find(user_id); it != actors_.end() && it->second.get() == actor) actors_.erase(it);
    global_metrics().users_connected.set(static_cast<std::int64_t>(actors_.size()));
}

// On the replicator's strand. Only posts: each user's share goes to that
// user's strand, so the replicator is never held up by a user.
void user_hub::deliver(std::vector<pg::user_delivery> ds) {
    std::unordered_map<std::string, std::vector<pg::user_delivery>> per_user;
    std::vector<std::string> order;
    for (auto& d : ds) {
        auto [it, fresh] = per_user.try_emplace(d.user_id);
        if (fresh) order.push_back(d.user_id);
        it->second.push_back(std::move(d));
    }
    for (auto& user : order) {
        std::shared_ptr<user_actor> a;
        {
            std::lock_guard lock(mutex_);
            if (auto it = actors_.find(user); it != actors_.end()) a = it->second;
        }
        auto& list = per_user[user];
        if (a) a->deliver(std::move(list));
        else unregister_stray(user, list.back().sequence_id);
    }
}

void user_hub::unregister_stray(const std::string& user_id, const std::string& sequence_id) {
    auto r = repl();
    if (!r) return;
    // The sequence id is epoch + boot id; only that registration goes.
    r->with_history([user_id, sequence_id](pg::replication_history* h) {
        if (!h) return;
        try {
            auto epoch = h->meta().epoch;
            if (!sequence_id.starts_with(epoch)) return;
            h->unregister_user_if(user_id, std::string_view(sequence_id).substr(epoch.size()));
        } catch (const std::exception& e) {
            log::warn("unregistering user failed", {{"user", user_id}, {"error", e.what()}});
        }
    });
}

void user_hub::sequence_break() {
    std::vector<std::shared_ptr<user_actor>> all;
    {
        std::lock_guard lock(mutex_);
        for (auto& [id, a] : actors_) all.push_back(a);
    }
    if (!all.empty()) log::warn("replication sequence break: users reload", {{"users", std::to_string(all.size())}});
    for (auto& a : all) a->sequence_break();
}

void user_hub::stop(std::uint16_t code, std::function<void()> done) {
    std::vector<std::shared_ptr<user_actor>> all;
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        for (auto& [id, a] : actors_) all.push_back(a);
    }
    for (auto& a : all) a->stop(code, "server shutting down");
    if (done) net::post(io_, std::move(done));
}

boost::json::array user_hub::users_json() const {
    std::vector<std::shared_ptr<user_actor>> all;
    {
        std::lock_guard lock(mutex_);
        for (auto& [id, a] : actors_) all.push_back(a);
    }
    boost::json::array out;
    for (auto& a : all) {
        auto i = a->info();
        out.push_back(boost::json::object{{"userId", i.user_id},
                                          {"sockets", i.sockets},
                                          {"queuedFrames", i.queued_frames},
                                          {"queuedBytes", i.queued_bytes},
                                          {"sequenceId", i.sequence_id},
                                          {"sequenceNumber", i.sequence_number},
                                          {"pendingMutations", i.pending_mutations}});
    }
    return out;
}

std::size_t user_hub::user_count() const {
    std::lock_guard lock(mutex_);
    return actors_.size();
}

namespace {

// Every node's slot (docs/SCALING.md), from the registry and Postgres's own
// view: who streams, when each node was last seen, how much WAL each keeps.
// On the pool's executor, which its connections belong to.
net::awaitable<boost::json::value> slot_registry(std::shared_ptr<pg_pool> pool) {
    namespace json = boost::json;
    auto [s, conn] = co_await pool->acquire(std::chrono::seconds(2));
    if (!s) co_return json::object{{"error", s.error}};
    pg_rows rows;
    auto st = co_await conn->exec(
        "SELECT n.slot_name, n.node_id, "
        "to_char(n.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
        "to_char(n.seen_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
        "s.active, s.confirmed_flush_lsn, "
        "pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::bigint "
        "FROM tlsync_replicator_slot n LEFT JOIN pg_replication_slots s ON s.slot_name = n.slot_name "
        "ORDER BY n.slot_name",
        {}, &rows, std::chrono::seconds(2));
    if (!st) co_return json::object{{"error", st.error}};
    json::array out;
    for (int i = 0; i < rows.rows(); ++i) {
        const auto text = [&](int col) -> json::value {
            auto v = rows.get(i, col);
            return v ? json::value(json::string(*v)) : json::value(nullptr);
        };
        const auto exists = rows.get(i, 4).has_value();
        json::object o{{"slot", text(0)},     {"node", text(1)},  {"startedAt", text(2)},
                       {"seenAt", text(3)},   {"exists", exists}, {"confirmedLsn", text(5)}};
        o["active"] = exists ? json::value(rows.get(i, 4) == "t") : json::value(nullptr);
        const auto retained = rows.get(i, 6);
        o["retainedWalBytes"] =
            retained ? json::value(std::stoll(std::string(*retained))) : json::value(nullptr);
        out.push_back(std::move(o));
    }
    co_return out;
}

} // namespace

net::awaitable<boost::json::object> replicator_diagnostics(std::shared_ptr<replicator> r,
                                                          std::shared_ptr<user_hub> hub,
                                                          std::shared_ptr<pg_pool> pool) {
    namespace json = boost::json;
    json::object out;
    if (r) {
        auto st = r->stats();
        out["replicator"] = json::object{{"state", st.state},
                                         {"recordedLsn", st.recorded},
                                         {"serverWalEnd", st.server_wal_end},
                                         {"epoch", st.epoch},
                                         {"sessions", st.sessions},
                                         {"transactions", st.transactions},
                                         {"batches", st.batches},
                                         {"catchUpBatches", st.catch_up_batches},
                                         {"redelivered", st.redelivered},
                                         {"sequenceBreaks", st.sequence_breaks},
                                         {"lastError", st.last_error}};
        std::function<json::value(pg::replication_history*)> diag = [](pg::replication_history* h) -> json::value {
            if (!h) return nullptr;
            try {
                auto d = h->diagnostics();
                json::object o{{"slot", d.meta.slot_name},
                               {"systemId", d.meta.system_id},
                               {"recordedLsn", d.meta.recorded.to_string()},
                               {"floorLsn", d.meta.floor.to_string()},
                               {"epoch", d.meta.epoch},
                               {"historyRows", d.history_rows},
                               {"activeUsers", d.active_users},
                               {"subscriptions", d.subscriptions}};
                o["earliestLsn"] = d.earliest ? json::value(d.earliest->to_string()) : json::value(nullptr);
                o["latestLsn"] = d.latest ? json::value(d.latest->to_string()) : json::value(nullptr);
                return o;
            } catch (const std::exception& e) {
                return json::object{{"error", e.what()}};
            }
        };
        out["history"] = co_await history_call<json::value>(r, std::move(diag));
    }
    if (pool) {
        auto p = pool->stats();
        out["pool"] = json::object{{"open", p.open}, {"idle", p.idle}, {"waiting", p.waiting}, {"timeouts", p.timeouts}};
        out["slots"] = co_await net::co_spawn(pool->get_executor(), slot_registry(pool), net::use_awaitable);
    }
    if (hub) {
        auto users = hub->users_json();
        out["connectedUsers"] = users.size();
        out["users"] = std::move(users);
    }
    co_return out;
}

} // namespace tlsync::server
