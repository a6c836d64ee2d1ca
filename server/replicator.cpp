#include "server/replicator.hpp"

#include "server/log.hpp"
#include "server/metrics.hpp"
#include "server/pg_connection.hpp"
#include "server/pg_migrations.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <mutex>
#include <random>

namespace tlsync::server {

namespace {

namespace pg = core::pg;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

pg::stream_time stream_now() {
    return std::chrono::duration_cast<pg::stream_time>(steady::now().time_since_epoch());
}
steady::time_point to_steady(pg::stream_time t) {
    return steady::time_point(std::chrono::duration_cast<steady::duration>(t));
}
std::int64_t wall_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string random_epoch() {
    std::random_device rd;
    std::uniform_int_distribution<int> d(0, 15);
    std::string s;
    for (int i = 0; i < 12; ++i) s += "0123456789abcdef"[d(rd)];
    return s;
}

class replicator_impl final : public replicator, public std::enable_shared_from_this<replicator_impl> {
public:
    replicator_impl(net::any_io_executor io, net::any_io_executor blocking, replicator_config cfg, handlers h)
        : strand_(net::make_strand(io)), blocking_(std::move(blocking)), cfg_(std::move(cfg)), h_(std::move(h)),
          backoff_timer_(strand_) {
        stats_.state = "stopped";
    }

    void start() override {
        net::post(strand_, [self = shared_from_this()] {
            if (self->started_ || self->stopping_) return;
            self->started_ = true;
            self->set_state("starting");
            net::co_spawn(self->strand_, self->run(),
                          net::bind_cancellation_slot(self->stop_signal_.slot(), [self](std::exception_ptr e) {
                              if (e && !self->stopping_) {
                                  try {
                                      std::rethrow_exception(e);
                                  } catch (const std::exception& ex) {
                                      log::error("replicator: stopped by an exception", {{"error", ex.what()}});
                                  }
                              }
                              self->finished();
                          }));
        });
    }

    void stop(std::function<void()> done) override {
        net::post(strand_, [self = shared_from_this(), done = std::move(done)]() mutable {
            if (self->stopped_ || !self->started_) {
                self->stopped_ = true;
                self->stopping_ = true;
                if (done) net::post(self->strand_, std::move(done));
                return;
            }
            if (done) self->on_stopped_.push_back(std::move(done));
            if (!self->stopping_) {
                self->stopping_ = true;
                self->stop_signal_.emit(net::cancellation_type::terminal);
                self->backoff_timer_.cancel();
            }
        });
    }

    replicator_stats stats() const override {
        std::lock_guard lock(stats_mutex_);
        return stats_;
    }

    void with_history(std::function<void(pg::replication_history*)> f) override {
        net::post(blocking_, [self = shared_from_this(), f = std::move(f)] {
            std::lock_guard lock(self->history_mutex_);
            f(self->history_.get());
        });
    }

private:
    // Runs `f` with the history lock held: on the strand itself when the
    // replicator has a thread of its own (replicator_config::record_inline),
    // else on the blocking pool.
    template <class F> net::awaitable<std::invoke_result_t<F, pg::replication_history&>> on_history(F f) {
        using R = std::invoke_result_t<F, pg::replication_history&>;
        if (cfg_.record_inline) {
            std::lock_guard lock(history_mutex_);
            if (!history_) throw std::runtime_error("replicator state is not open");
            co_return f(*history_);
        }
        co_return co_await net::co_spawn(
            blocking_,
            [this, f = std::move(f)]() mutable -> net::awaitable<R> {
                std::lock_guard lock(history_mutex_);
                if (!history_) throw std::runtime_error("replicator state is not open");
                co_return f(*history_);
            },
            net::use_awaitable);
    }

    net::awaitable<void> open_history() {
        if (cfg_.record_inline) {
            open_history_now();
            co_return;
        }
        co_await net::co_spawn(
            blocking_, [this]() -> net::awaitable<void> { co_return open_history_now(); }, net::use_awaitable);
    }

    void open_history_now() {
        std::lock_guard lock(history_mutex_);
        if (history_) return;
        core::sqlite_options o;
        o.synchronous = cfg_.fsync ? core::sqlite_synchronous::full : core::sqlite_synchronous::normal;
        // One handle per process, written to continuously: unlike a
        // room's, its cache is worth its memory.
        o.cache_kib = 16 * 1024;
        // Checkpoints copy the WAL into the file and fsync it: on the
        // recording path they stalled every batch queued behind them.
        // checkpoint_soon() runs them from a second handle instead.
        o.auto_checkpoint = false;
        history_ = std::make_unique<pg::replication_history>(cfg_.state_path, o, cfg_.history);
    }

    net::awaitable<void> run() {
        auto backoff = cfg_.backoff_initial;
        while (!stopping_) {
            std::string reason;
            auto began = steady::now();
            try {
                co_await open_history();
                reason = co_await session();
            } catch (const std::exception& e) {
                reason = e.what();
            }
            if (stopping_) break;
            global_metrics().replicator_reboots.inc();
            // A session that streamed for a while earns a fresh backoff.
            if (steady::now() - began > 30s) backoff = cfg_.backoff_initial;
            // A transaction over the size bound fails every session at the
            // same place: retrying forever would hold the slot's WAL and
            // hide the cause. Stop, say why, and let the operator decide.
            if (reason.find("transaction larger than") != std::string::npos) {
                if (++oversize_failures_ >= 3) {
                    set_state("failed", reason);
                    log::error("replicator: a transaction exceeds the size bound on every attempt; replication "
                               "stopped (raise the bound or skip the transaction, then restart tlsyncd)",
                               {{"reason", reason}, {"recorded", stats().recorded}});
                    break;
                }
            } else {
                oversize_failures_ = 0;
            }
            set_state("backoff", reason);
            log::warn("replicator: session ended, rebooting",
                      {{"reason", reason}, {"backoff_ms", std::to_string(backoff.count())}});
            backoff_timer_.expires_after(backoff);
            (void)co_await backoff_timer_.async_wait(net::as_tuple(net::use_awaitable));
            backoff = std::min(backoff * 2, cfg_.backoff_max);
        }
    }

    // One connection's life; returns why it ended.
    net::awaitable<std::string> session() {
        const auto qt = cfg_.query_timeout;
        pg_connection sql(strand_), repl(strand_);
        // (Braced lists inside co_await trip GCC 12: they are built first.)
        pg_connection::conn_params sql_params, repl_params;
        sql_params.emplace_back("application_name", cfg_.slot_name + "_sql");
        repl_params.emplace_back("replication", "database");
        repl_params.emplace_back("application_name", cfg_.slot_name);
        if (auto s = co_await sql.connect(cfg_.conninfo, cfg_.connect_timeout, sql_params); !s)
            co_return s.error;
        if (cfg_.apply_migrations && !migrated_) {
            auto rep = co_await migrate(sql, app_migrations(), qt);
            if (!rep.status) co_return "migrations: " + rep.status.error;
            migrated_ = true;
            if (!rep.applied.empty())
                log::info("replicator: applied app migrations",
                          {{"schema_version", std::to_string(rep.schema_version)}});
        }
        pg_params slot_param;
        slot_param.emplace_back(cfg_.slot_name);
        // A walsender of an earlier session may still hold the slot until
        // Postgres notices that its client is gone.
        if (auto s = co_await sql.exec("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
                                       "WHERE slot_name = $1 AND active_pid IS NOT NULL",
                                       slot_param, nullptr, qt);
            !s)
            co_return s.error;

        if (auto s = co_await repl.connect(cfg_.conninfo, cfg_.connect_timeout, repl_params); !s)
            co_return s.error;
        pg_rows ident;
        if (auto s = co_await repl.exec_simple("IDENTIFY_SYSTEM", &ident, qt); !s) co_return s.error;
        std::string system_id(ident.get(0, 0).value_or(""));

        pg_rows slot;
        if (auto s = co_await sql.exec("SELECT confirmed_flush_lsn, plugin FROM pg_replication_slots "
                                       "WHERE slot_name = $1",
                                       slot_param, &slot, qt);
            !s)
            co_return s.error;
        pg::lsn confirmed;
        if (slot.rows() == 0) {
            pg_rows created;
            auto s = co_await repl.exec_simple(
                "CREATE_REPLICATION_SLOT " + pg_connection::quote_identifier(cfg_.slot_name) + " LOGICAL wal2json",
                &created, qt);
            if (!s) co_return "creating slot: " + s.error;
            auto at = pg::lsn::parse(created.get(0, 1).value_or(""));
            if (!at) co_return "creating slot: no consistent point";
            confirmed = *at;
            log::info("replicator: created slot", {{"slot", cfg_.slot_name}, {"lsn", confirmed.to_string()}});
        } else {
            if (slot.get(0, 1).value_or("") != "wal2json")
                co_return "slot " + cfg_.slot_name + " does not use wal2json";
            auto at = pg::lsn::parse(slot.get(0, 0).value_or(""));
            if (!at) co_return "slot " + cfg_.slot_name + " has no confirmed_flush_lsn";
            confirmed = *at;
        }

        auto epoch = random_epoch();
        auto [broke, meta] = co_await on_history([&](pg::replication_history& h) {
            bool b = h.begin_slot(cfg_.slot_name, system_id, confirmed, epoch);
            return std::pair{b, h.meta()};
        });
        if (broke) {
            {
                std::lock_guard lock(stats_mutex_);
                ++stats_.sequence_breaks;
            }
            log::warn("replicator: new epoch, history restarts",
                      {{"slot", cfg_.slot_name}, {"lsn", confirmed.to_string()}, {"epoch", meta.epoch}});
            if (h_.on_sequence_break) h_.on_sequence_break();
        }

        std::string tables;
        for (auto& t : cfg_.tables) tables += (tables.empty() ? "" : ",") + t;
        std::string start = "START_REPLICATION SLOT " + pg_connection::quote_identifier(cfg_.slot_name) + " LOGICAL " +
                            meta.recorded.to_string() +
                            " (\"format-version\" '2', \"include-lsn\" '1', \"include-xids\" '1', "
                            "\"include-types\" '1', \"include-timestamp\" '0', \"add-tables\" " +
                            pg_connection::quote_literal(tables) + ")";
        co_await tend_slots(sql, true);
        pg_rows started;
        if (auto s = co_await repl.exec_simple(start, &started, qt); !s) co_return s.error;
        if (!started.is_copy_both()) co_return "START_REPLICATION did not start a stream";

        {
            std::lock_guard lock(stats_mutex_);
            ++stats_.sessions;
            stats_.epoch = meta.epoch;
            stats_.recorded = meta.recorded.to_string();
        }
        set_state("streaming");
        log::info("replicator: streaming", {{"slot", cfg_.slot_name}, {"from", meta.recorded.to_string()}});
        // `sql` stays open: the poller reads the server's WAL position on it.
        co_return co_await stream(repl, sql, pg::replication_stream(meta.recorded, cfg_.stream, stream_now()));
    }

    // What the reader has decoded and the recorder has not yet taken. The
    // coroutines share it on the strand; each wakes another with a timer
    // used as a condition variable (expires at max, cancel to signal).
    struct pipeline {
        pipeline(net::strand<net::any_io_executor>& strand, pg::batching_config b)
            : batching(b), work(strand), drained(strand), poll(strand) {
            work.expires_at(steady::time_point::max());
            drained.expires_at(steady::time_point::max());
        }
        std::vector<pg::transaction> batch;
        std::vector<pg::logical_message> msgs;
        std::optional<pg::lsn> advance; // an idle advance to record, then acknowledge
        std::size_t rows = 0;           // changes in `batch`
        pg::stream_time oldest{};       // when the pipeline last went from empty to not
        pg::batching_policy batching;   // when the recorder takes it
        bool reader_done = false;
        std::string error;              // the recorder failed: the session ends
        net::steady_timer work;         // the recorder waits here for a batch
        net::steady_timer drained;      // the reader waits here when `rows` is at its bound
        net::steady_timer poll;         // the poller waits here between readings
        [[nodiscard]] bool empty() const noexcept { return batch.empty() && msgs.empty() && !advance; }
        void arriving() {
            if (empty()) oldest = stream_now();
        }
    };

    // Carries out the stream's actions; a non-empty result ends the session.
    net::awaitable<std::string> act(pg::replication_stream& s, pg_connection& repl, pipeline& p) {
        for (auto& a : s.take_actions()) {
            if (auto* d = std::get_if<pg::stream_action::deliver>(&a)) {
                p.arriving();
                p.rows += d->t.changes.size() + 1;
                p.batch.push_back(std::move(d->t));
            } else if (auto* adv = std::get_if<pg::stream_action::advance>(&a)) {
                p.arriving();
                p.advance = std::max(p.advance.value_or(pg::lsn{}), adv->to);
            } else if (auto* m = std::get_if<pg::stream_action::message>(&a)) {
                p.arriving();
                p.msgs.push_back(std::move(m->m));
            } else if (auto* st = std::get_if<pg::stream_action::send_status>(&a)) {
                st->status.client_time = pg::to_pg_time(std::chrono::system_clock::now());
                auto bytes = pg::encode_status_update(st->status);
                auto w = co_await repl.write_copy(std::string_view(bytes.data(), bytes.size()), steady::now() + 5s);
                if (!w) co_return w.error;
            } else {
                co_return std::get<pg::stream_action::fail>(a).reason;
            }
        }
        co_return std::string{};
    }

    // Decoding and recording overlap: the reader (the only coroutine doing
    // I/O on the replication connection) decodes into the pipeline while
    // the recorder has the previous batch in SQLite on the blocking pool
    // (or inline, between the reader's bursts: record_inline),
    // and the recorder takes everything that arrived meanwhile as its next
    // batch (group commit: one SQLite commit however many transactions).
    // Acknowledgements the recorder earns are sent by the reader's next
    // act(), at the latest at its next timer. While the poller sees the
    // stream far behind the server, the recorder lets batches grow.
    net::awaitable<std::string> stream(pg_connection& repl, pg_connection& sql, pg::replication_stream s) {
        using namespace net::experimental::awaitable_operators;
        auto b = cfg_.batching;
        // The reader pauses at max_pending_rows: a batch must not wait for more.
        b.catch_up_rows = std::min(b.catch_up_rows, cfg_.max_pending_rows);
        pipeline p(strand_, b);
        co_return co_await (read_loop(repl, s, p) && record_loop(s, p) && poll_loop(sql, p));
    }

    // Reads the server's flushed WAL position for the batching policy until
    // the reader is done. A failure only costs the policy its signal (it
    // falls back to recording at once): the stream goes on.
    net::awaitable<void> poll_loop(pg_connection& sql, pipeline& p) {
        const pg_params none;
        pg_rows rows;
        auto next_slot_beat = steady::now() + cfg_.slot_heartbeat;
        while (!p.reader_done) {
            if (steady::now() >= next_slot_beat) {
                next_slot_beat = steady::now() + cfg_.slot_heartbeat;
                co_await tend_slots(sql, false);
                if (p.reader_done) co_return;
            }
            const auto timeout = 10 * cfg_.flush_poll_interval;
            auto st = co_await sql.exec("SELECT pg_current_wal_flush_lsn()", none, &rows, timeout);
            if (!st) {
                p.batching.forget_server_flush();
                if (!p.reader_done)
                    log::warn("replicator: cannot read the server's WAL position; batches stay small",
                              {{"error", st.error}});
                co_return;
            }
            if (auto at = pg::lsn::parse(rows.get(0, 0).value_or("")))
                p.batching.on_server_flush(*at, stream_now());
            if (p.reader_done) co_return;
            p.poll.expires_after(cfg_.flush_poll_interval);
            (void)co_await p.poll.async_wait(net::as_tuple(net::use_awaitable));
        }
    }

    // The slot registry (server/sql/002_replicator_slots.sql): registers
    // this node's slot when a session starts (`starting`) and marks it seen
    // on every beat (re-inserting a row another node pruned while this one
    // could not beat), then drops the slots of nodes gone for longer than
    // slot_ttl. Failures cost only the registry's upkeep, never the stream:
    // they are logged, and the next beat tries again.
    net::awaitable<void> tend_slots(pg_connection& sql, bool starting) {
        pg_params params;
        params.emplace_back(cfg_.slot_name);
        params.emplace_back(cfg_.node_id);
        auto st = co_await sql.exec(starting ? "INSERT INTO tlsync_replicator_slot (slot_name, node_id) VALUES ($1, $2) "
                                               "ON CONFLICT (slot_name) DO UPDATE SET node_id = EXCLUDED.node_id, "
                                               "started_at = now(), seen_at = now()"
                                             : "INSERT INTO tlsync_replicator_slot (slot_name, node_id) VALUES ($1, $2) "
                                               "ON CONFLICT (slot_name) DO UPDATE SET seen_at = now()",
                                    params, nullptr, cfg_.query_timeout);
        if (!st) log::warn("replicator: cannot register the slot", {{"slot", cfg_.slot_name}, {"error", st.error}});
        co_await drop_gone_slots(sql);
    }

    // A slot is dropped only when it is registered (never a slot of someone
    // else's), is not this node's, was not seen for slot_ttl (by Postgres's
    // clock, never a node's), and nobody streams from it: a node that comes
    // back after that starts a new epoch (its users reload).
    net::awaitable<void> drop_gone_slots(pg_connection& sql) {
        if (cfg_.slot_ttl.count() <= 0) co_return;
        pg_params params;
        params.emplace_back(cfg_.slot_name);
        params.emplace_back(std::to_string(static_cast<double>(cfg_.slot_ttl.count()) / 1000.0));
        pg_rows dropped;
        auto st = co_await sql.exec(
            "SELECT s.slot_name, n.node_id, pg_drop_replication_slot(s.slot_name) IS NULL "
            "FROM pg_replication_slots s JOIN tlsync_replicator_slot n ON n.slot_name = s.slot_name "
            "WHERE s.slot_name <> $1 AND NOT s.active AND s.database = current_database() "
            "AND n.seen_at < now() - make_interval(secs => $2::double precision)",
            params, &dropped, cfg_.query_timeout);
        if (!st) {
            // E.g. the slot's node came back between the check and the drop.
            log::warn("replicator: cannot drop the slots of gone nodes", {{"error", st.error}});
            co_return;
        }
        for (int i = 0; i < dropped.rows(); ++i)
            log::warn("replicator: dropped the slot of a gone node",
                      {{"slot", std::string(dropped.get(i, 0).value_or(""))},
                       {"node", std::string(dropped.get(i, 1).value_or(""))}});
        auto del = co_await sql.exec(
            "DELETE FROM tlsync_replicator_slot n WHERE n.slot_name <> $1 "
            "AND n.seen_at < now() - make_interval(secs => $2::double precision) "
            "AND NOT EXISTS (SELECT 1 FROM pg_replication_slots s WHERE s.slot_name = n.slot_name)",
            params, nullptr, cfg_.query_timeout);
        if (!del) log::warn("replicator: cannot prune the slot registry", {{"error", del.error}});
    }

    net::awaitable<std::string> read_loop(pg_connection& repl, pg::replication_stream& s, pipeline& p) {
        struct finish {
            pipeline& p;
            ~finish() {
                p.reader_done = true;
                p.work.cancel();
                p.poll.cancel();
            }
        } on_exit{p};
        for (;;) {
            if (stopping_) co_return "stopping";
            if (!p.error.empty()) co_return p.error;
            if (p.rows >= cfg_.max_pending_rows) {
                (void)co_await p.drained.async_wait(net::as_tuple(net::use_awaitable));
                continue;
            }
            std::size_t n = 0;
            while (n < cfg_.max_batch && p.rows < cfg_.max_pending_rows) {
                auto buf = repl.try_read_copy();
                if (!buf) break;
                ++n;
                s.on_copy_data(buf->view(), stream_now());
                if (auto r = co_await act(s, repl, p); !r.empty()) co_return r;
            }
            if (!repl.status()) co_return repl.status().error;
            if (!p.empty()) p.work.cancel();
            if (n > 0) {
                // Let the recorder (and anything else on the strand) run
                // between bursts.
                co_await net::post(strand_, net::use_awaitable);
                continue;
            }
            auto deadline = std::min(to_steady(s.next_deadline()), next_prune_);
            auto w = co_await repl.wait_readable(deadline);
            if (!w) co_return w.error;
            if (w.timed_out) {
                s.on_timer(stream_now());
                if (auto r = co_await act(s, repl, p); !r.empty()) co_return r;
            }
            if (steady::now() >= next_prune_) {
                next_prune_ = steady::now() + cfg_.prune_interval;
                auto dropped = co_await on_history(
                    [&](pg::replication_history& h) { return h.prune(wall_ms(), cfg_.user_idle); });
                if (!dropped.empty())
                    log::info("replicator: dropped idle users", {{"count", std::to_string(dropped.size())}});
            }
        }
    }

    net::awaitable<void> record_loop(pg::replication_stream& s, pipeline& p) {
        for (;;) {
            if (p.empty()) {
                if (p.reader_done || !p.error.empty()) co_return;
                p.work.expires_at(steady::time_point::max());
                (void)co_await p.work.async_wait(net::as_tuple(net::use_awaitable));
                continue;
            }
            // Once the reader is gone, what it left unrecorded is dropped: it
            // was never acknowledged, so the next session receives it again.
            if (p.reader_done) co_return;
            // Catching up, the batch may wait to grow; the reader wakes us
            // (cancels `work`) whenever it adds to it, and we ask again.
            const auto now = stream_now();
            const bool catching_up = p.batching.catching_up(s.server_wal_end(), now);
            if (const auto at = p.batching.take_at(p.rows, p.oldest, s.server_wal_end(), now); at > now) {
                p.work.expires_at(to_steady(at));
                (void)co_await p.work.async_wait(net::as_tuple(net::use_awaitable));
                continue;
            }
            p.batching.on_taken(now);
            auto batch = std::exchange(p.batch, {});
            auto msgs = std::exchange(p.msgs, {});
            const auto advance = std::exchange(p.advance, std::nullopt);
            p.rows = 0;
            p.drained.cancel();
            p.drained.expires_at(steady::time_point::max());

            std::vector<pg::user_delivery> deliveries;
            try {
                deliveries = co_await on_history([&](pg::replication_history& h) {
                    // An idle advance is older than anything in the batch (it
                    // is only asked for when nothing is unrecorded).
                    if (advance) h.advance(*advance);
                    auto out = h.record(batch, wall_ms());
                    for (auto& m : msgs)
                        if (m.prefix == "requestLsnUpdate")
                            if (auto d = h.lsn_update(m.content, wall_ms())) out.push_back(std::move(*d));
                    return out;
                });
            } catch (const std::exception& e) {
                p.error = std::string("recording: ") + e.what();
                p.drained.cancel();
                co_return;
            }
            if (!batch.empty()) {
                auto end = batch.back().end_lsn;
                for (auto& t : batch)
                    if (h_.on_transaction) h_.on_transaction(t);
                s.on_recorded(end, stream_now());
                std::lock_guard lock(stats_mutex_);
                ++stats_.batches;
                if (catching_up) ++stats_.catch_up_batches;
                stats_.transactions += batch.size();
                stats_.recorded = end.to_string();
                stats_.server_wal_end = s.server_wal_end().to_string();
                stats_.redelivered = s.stats().redelivered;
            } else if (advance) {
                s.on_recorded(*advance, stream_now());
                std::lock_guard lock(stats_mutex_);
                if (pg::lsn::parse(stats_.recorded).value_or(pg::lsn{}) < *advance)
                    stats_.recorded = advance->to_string();
                stats_.server_wal_end = s.server_wal_end().to_string();
            }
            if (!deliveries.empty() && h_.on_deliveries) h_.on_deliveries(std::move(deliveries));
            checkpoint_soon();
        }
    }

    // A PASSIVE checkpoint, at most one in flight and about one a second,
    // from its own handle on the blocking pool: it copies what the WAL holds
    // while the recorder goes on appending, so the WAL stays small without
    // a recording ever waiting for it.
    void checkpoint_soon() {
        if (checkpointing_ || steady::now() < next_checkpoint_) return;
        checkpointing_ = true;
        next_checkpoint_ = steady::now() + 1s;
        net::post(blocking_, [self = shared_from_this()] {
            try {
                std::lock_guard lock(self->checkpoint_mutex_);
                if (self->checkpoints_closed_) return;
                if (!self->checkpointer_) self->checkpointer_ = std::make_unique<core::sqlite_db>(self->cfg_.state_path);
                self->checkpointer_->exec("PRAGMA wal_checkpoint(PASSIVE)");
            } catch (const std::exception& e) {
                log::warn("replicator: checkpoint failed", {{"error", e.what()}});
            }
            net::post(self->strand_, [self] { self->checkpointing_ = false; });
        });
    }

    void set_state(std::string state, std::string error = {}) {
        std::lock_guard lock(stats_mutex_);
        if (stats_.state != state) log::info("replicator: state", {{"from", stats_.state}, {"to", state}});
        stats_.state = std::move(state);
        if (!error.empty()) stats_.last_error = std::move(error);
    }

    void finished() {
        stopped_ = true;
        if (stats().state != "failed") set_state("stopped");
        // The SQLite file closes on the blocking pool, never on an io thread.
        net::post(blocking_, [self = shared_from_this()] {
            {
                std::lock_guard lock(self->checkpoint_mutex_);
                self->checkpointer_.reset();
                self->checkpoints_closed_ = true;
            }
            std::lock_guard lock(self->history_mutex_);
            self->history_.reset(); // the last handle: SQLite checkpoints on close
        });
        for (auto& f : std::exchange(on_stopped_, {})) net::post(strand_, std::move(f));
    }

    net::strand<net::any_io_executor> strand_;
    net::any_io_executor blocking_;
    replicator_config cfg_;
    handlers h_;
    net::cancellation_signal stop_signal_;
    net::steady_timer backoff_timer_;
    steady::time_point next_prune_ = steady::now() + std::chrono::seconds(5);
    bool started_ = false;
    bool stopping_ = false;
    bool stopped_ = false;
    bool migrated_ = false;
    int oversize_failures_ = 0;
    std::vector<std::function<void()>> on_stopped_;

    mutable std::mutex stats_mutex_;
    replicator_stats stats_;
    std::mutex history_mutex_;
    std::unique_ptr<pg::replication_history> history_; // under history_mutex_
    std::mutex checkpoint_mutex_;
    std::unique_ptr<core::sqlite_db> checkpointer_;     // under checkpoint_mutex_
    bool checkpoints_closed_ = false;                   // under checkpoint_mutex_
    bool checkpointing_ = false;                        // the strand only
    steady::time_point next_checkpoint_{};
};

} // namespace

std::shared_ptr<replicator> make_replicator(net::any_io_executor io, net::any_io_executor blocking,
                                            replicator_config cfg, replicator::handlers h) {
    return std::make_shared<replicator_impl>(std::move(io), std::move(blocking), std::move(cfg), std::move(h));
}

} // namespace tlsync::server
