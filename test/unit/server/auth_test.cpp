// server/auth: where the token comes from, what a routed websocket target
// becomes (readonly, refusal, 401/403), and the flags that configure it.

#include "server/auth.hpp"
#include "server/config.hpp"

#include <boost/test/unit_test.hpp>

#include <openssl/hmac.h>

#include <chrono>
#include <filesystem>
#include <fstream>

using namespace tlsync::server;

namespace {

const std::string secret = "a-shared-secret-of-at-least-32-bytes!";
constexpr std::int64_t now = 1'800'000'000;

std::string hs256(const std::string& payload) {
    auto input = base64url_encode(R"({"alg":"HS256"})") + "." + base64url_encode(payload);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
    return input + "." + base64url_encode(std::string(reinterpret_cast<char*>(mac), len));
}

std::string token_for(const std::string& sub, const std::string& rooms, const std::string& extra = {}) {
    return hs256(R"({"sub":")" + sub + R"(","exp":)" + std::to_string(now + 60) + R"(,"rooms":)" + rooms + extra +
                 "}");
}

http_request get(std::string target) {
    http_request req{http::verb::get, target, 11};
    return req;
}

authenticator make() { return authenticator(std::move(*jwt_verifier::hs256(secret).verifier)); }

connect_target room_target(std::string room) {
    connect_target t;
    t.room_id = std::move(room);
    t.session_id = "s";
    return t;
}

} // namespace

BOOST_AUTO_TEST_SUITE(auth_suite)

BOOST_AUTO_TEST_CASE(the_token_comes_from_the_query_or_a_bearer_header) {
    BOOST_TEST(request_token(get("/connect/r?sessionId=s&token=abc.def.ghi")).value_or("") == "abc.def.ghi");
    auto req = get("/connect/r?sessionId=s");
    BOOST_TEST(!request_token(req).has_value());
    req.set(http::field::authorization, "Bearer xyz");
    BOOST_TEST(request_token(req).value_or("") == "xyz");
    req.set(http::field::authorization, "Basic xyz");
    BOOST_TEST(!request_token(req).has_value());
}

BOOST_AUTO_TEST_CASE(room_targets_are_refused_narrowed_or_allowed) {
    auto auth = make();
    auto check = [&](const std::string& target_text, const std::string& room) {
        auto t = room_target(room);
        auto res = authorize(&auth, get(target_text), t, now);
        BOOST_TEST(!res.has_value()); // room sockets are always upgraded, then closed with 4099
        return t;
    };
    auto none = check("/connect/r1?sessionId=s", "r1");
    BOOST_TEST(none.refusal.value_or("") == "NOT_AUTHENTICATED");
    auto bad = check("/connect/r1?sessionId=s&token=" + token_for("a", R"(["r1"])") + "x", "r1");
    BOOST_TEST(bad.refusal.value_or("") == "NOT_AUTHENTICATED");
    auto other = check("/connect/r1?sessionId=s&token=" + token_for("a", R"(["r2","q*"])"), "r1");
    BOOST_TEST(other.refusal.value_or("") == "FORBIDDEN");
    auto ok = check("/connect/r1?sessionId=s&token=" + token_for("a", R"(["r2","r*"])"), "r1");
    BOOST_TEST(!ok.refusal.has_value());
    BOOST_TEST(!ok.readonly);
    auto ro = check("/connect/r1?sessionId=s&token=" + token_for("a", R"(["r1"])", R"(,"access":"read")"), "r1");
    BOOST_TEST(!ro.refusal.has_value());
    BOOST_TEST(ro.readonly);
    // Without an authenticator (--auth none) nothing changes.
    auto t = room_target("r1");
    BOOST_TEST(!authorize(nullptr, get("/connect/r1?sessionId=s"), t, now).has_value());
    BOOST_TEST(!t.refusal.has_value());
}

BOOST_AUTO_TEST_CASE(user_sockets_need_a_token_naming_the_user) {
    auto auth = make();
    auto user = [&](const std::string& target_text, const std::string& id) {
        connect_target t;
        t.user = user_target{id, std::nullopt};
        auto res = authorize(&auth, get(target_text), t, now);
        return std::pair{res ? res->result_int() : 0u, t.user->authenticated};
    };
    BOOST_TEST(user("/app/alice/connect", "alice").first == 401u);
    BOOST_TEST(user("/app/alice/connect?token=" + token_for("bob", "[]"), "alice").first == 403u);
    auto ok = user("/app/alice/connect?token=" + token_for("alice", "[]"), "alice");
    BOOST_TEST(ok.first == 0u);
    BOOST_TEST(ok.second);
}

BOOST_AUTO_TEST_CASE(flags_name_what_is_wrong) {
    auto parse = [](std::vector<std::string> args) { return parse_config(args, {}); };
    BOOST_TEST(parse({"--auth", "maybe"}).error.find("--auth") != std::string::npos);
    BOOST_TEST(parse({"--auth", "jwt"}).error.find("--jwt-secret-file") != std::string::npos);
    BOOST_TEST(parse({"--jwt-public-key", "k.pem"}).error.find("--auth jwt") != std::string::npos);
    BOOST_TEST(parse({"--auth", "jwt", "--jwt-secret-file", "a", "--jwt-public-key", "b"}).error.find("exactly one") !=
               std::string::npos);
    BOOST_TEST(parse({"--auth", "jwt", "--jwt-secret-file", "a"}).error.empty());

    config cfg;
    cfg.auth = "jwt";
    cfg.jwt_secret_file = "/nonexistent/secret";
    BOOST_TEST(authenticator::from_config(cfg).error.find("--jwt-secret-file: cannot read") != std::string::npos);
    const auto dir = std::filesystem::temp_directory_path() / ("tlsync-auth-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    {
        std::ofstream(dir / "short") << "tooshort\n";
        std::ofstream(dir / "good") << secret << "\n";
    }
    cfg.jwt_secret_file = (dir / "short").string();
    BOOST_TEST(authenticator::from_config(cfg).error.find("32") != std::string::npos);
    cfg.jwt_secret_file = (dir / "good").string();
    auto made = authenticator::from_config(cfg);
    BOOST_REQUIRE(made.auth);
    // The newline is not part of the secret: our tokens verify.
    BOOST_TEST(made.auth->check_room(get("/connect/r1?token=" + token_for("a", R"(["r1"])")), "r1", now).allowed);
    cfg.jwt_secret_file.clear();
    cfg.jwt_public_key = (dir / "good").string();
    BOOST_TEST(authenticator::from_config(cfg).error.find("--jwt-public-key") != std::string::npos);
    std::filesystem::remove_all(dir);
    BOOST_TEST(!authenticator::from_config(config{}).auth); // --auth none
}

BOOST_AUTO_TEST_SUITE_END()
