#include "server/user_backend.hpp"

#include "server/app_data.hpp"

#if __has_include("server/app_mutations.hpp")
#include "server/app_mutations.hpp"
#define TLSYNC_HAS_APP_MUTATIONS 1
#endif

namespace tlsync::server {

namespace {

class pg_user_backend final : public user_backend {
public:
    pg_user_backend(std::shared_ptr<pg_pool> pool, user_backend_timeouts t) : pool_(std::move(pool)), t_(t) {}

    net::awaitable<std::pair<pg_status, std::vector<std::string>>> guest_file_ids(std::string user_id) override {
        auto [s, conn] = co_await pool_->acquire(t_.pool_wait);
        if (!s) co_return std::pair{std::move(s), std::vector<std::string>{}};
        co_return co_await app::guest_file_ids(*conn, user_id, t_.query);
    }

    net::awaitable<std::pair<pg_status, user_snapshot>> load_state(std::string user_id) override {
        auto [s, conn] = co_await pool_->acquire(t_.pool_wait);
        if (!s) co_return std::pair{std::move(s), user_snapshot{}};
        // Until authentication exists (issue 5) a user socket creates its user
        // row, as the app does on first sign-in.
        auto [ls, st] = co_await app::load_user_state(*conn, user_id, true, t_.query);
        if (!ls) co_return std::pair{std::move(ls), user_snapshot{}};
        user_snapshot snap;
        auto at = core::pg::lsn::parse(st.lsn);
        if (!at) co_return std::pair{pg_status::fail("snapshot without an LSN: " + st.lsn), user_snapshot{}};
        snap.at = *at;
        snap.data["user"] = std::move(st.user);
        snap.data["files"] = std::move(st.files);
        snap.data["fileStates"] = std::move(st.file_states);
        snap.guest_file_ids = std::move(st.guest_file_ids);
        co_return std::pair{pg_status{}, std::move(snap)};
    }

    net::awaitable<mutation_outcome> mutate(std::string user_id, boost::json::value message) override {
        mutation_outcome out;
        if (const auto* o = message.if_object())
            if (const auto* id = o->if_contains("mutationId"); id && id->is_string()) out.mutation_id = id->get_string();
#ifdef TLSYNC_HAS_APP_MUTATIONS
        auto [s, conn] = co_await pool_->acquire(t_.pool_wait);
        if (!s) {
            out.error_code = "unavailable";
            out.reason = s.error;
            co_return out;
        }
        auto r = co_await app::apply_mutation(*conn, user_id, message, t_.query);
        out.mutation_id = r.mutation_id.empty() ? out.mutation_id : r.mutation_id;
        out.committed = r.committed;
        out.mutation_number = r.mutation_number;
        out.error_code = r.error_code;
        out.reason = r.reason;
#else
        (void)user_id;
        out.error_code = "unavailable";
        out.reason = "mutations are not built into this server";
#endif
        co_return out;
    }

private:
    std::shared_ptr<pg_pool> pool_;
    user_backend_timeouts t_;
};

} // namespace

std::shared_ptr<user_backend> make_pg_user_backend(std::shared_ptr<pg_pool> pool, user_backend_timeouts t) {
    return std::make_shared<pg_user_backend>(std::move(pool), t);
}

} // namespace tlsync::server
