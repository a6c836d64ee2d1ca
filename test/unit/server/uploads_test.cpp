// server/uploads: routing, the type allowlist, the stored format, admission
// (size, type, tokens, capacity) from the header alone, and the store on disk.

#include "server/uploads.hpp"

#include "server/auth.hpp"
#include "server/http_routes.hpp"
#include "server/jwt.hpp"

#include <boost/asio/thread_pool.hpp>
#include <boost/test/unit_test.hpp>

#include <openssl/hmac.h>
#include <unistd.h>

#include <filesystem>

using namespace tlsync::server;
namespace fs = std::filesystem;

namespace {

const std::string secret = "a-shared-secret-of-at-least-32-bytes!";
constexpr std::int64_t now = 1'800'000'000;

std::string token(const std::string& rooms, const std::string& extra = {}) {
    auto input = base64url_encode(R"({"alg":"HS256"})") + "." +
                 base64url_encode(R"({"sub":"u","exp":)" + std::to_string(now + 60) +
                                  R"(,"rooms":)" + rooms + extra + "}");
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
    return input + "." + base64url_encode(std::string(reinterpret_cast<char*>(mac), len));
}

http_request put(std::string target, std::string type, std::size_t length) {
    http_request req{http::verb::put, target, 11};
    if (!type.empty()) req.set(http::field::content_type, type);
    req.set(http::field::content_length, std::to_string(length));
    return req;
}

struct fixture {
    fs::path dir = fs::temp_directory_path() / ("tlsync-uploads-" + std::to_string(::getpid()));
    boost::asio::thread_pool pool{1};
    fixture() { fs::remove_all(dir); }
    ~fixture() {
        pool.join();
        fs::remove_all(dir);
    }
    std::shared_ptr<upload_service> make(std::size_t max, bool with_auth = false) {
        std::shared_ptr<const authenticator> auth;
        if (with_auth)
            auth =
                std::make_shared<authenticator>(std::move(*jwt_verifier::hs256(secret).verifier));
        return std::make_shared<upload_service>(dir, max, auth, pool.get_executor());
    }
};

int status_of(std::variant<http_response, upload_service::ticket> v) {
    if (auto* r = std::get_if<http_response>(&v)) return r->result_int();
    return 0; // admitted
}

} // namespace

BOOST_AUTO_TEST_SUITE(uploads)

BOOST_AUTO_TEST_CASE(routing) {
    auto r = route_request(http_request{http::verb::get, "/uploads/abc_D-9", 11}, false);
    BOOST_REQUIRE(std::holds_alternative<upload_call>(r));
    BOOST_TEST(std::get<upload_call>(r).id == "abc_D-9");
    r = route_request(put("/uploads/abc?room=r1", "image/png", 1), false);
    BOOST_REQUIRE(std::holds_alternative<upload_call>(r));
    BOOST_TEST(std::get<upload_call>(r).room == "r1");
    for (const char* bad : {"/uploads/", "/uploads/a.png", "/uploads/..%2fx", "/uploads/a/b",
                            "/uploads/x?room=a.b"}) {
        r = route_request(http_request{http::verb::get, bad, 11}, false);
        BOOST_REQUIRE(std::holds_alternative<http_response>(r));
        BOOST_TEST(std::get<http_response>(r).result_int() == 400, bad);
    }
    r = route_request(http_request{http::verb::delete_, "/uploads/abc", 11}, false);
    BOOST_TEST(std::get<http_response>(r).result_int() == 405);
    BOOST_TEST(std::get<http_response>(r)[http::field::allow] == "GET, HEAD, PUT");
}

BOOST_AUTO_TEST_CASE(web_routes_only_when_enabled) {
    auto r =
        route_request(http_request{http::verb::get, "/r/room1?view=readonly", 11}, false, true);
    BOOST_REQUIRE(std::holds_alternative<static_call>(r));
    BOOST_TEST(std::get<static_call>(r).file == "index.html");
    r = route_request(http_request{http::verb::get, "/assets/x.js", 11}, false, true);
    BOOST_TEST(std::get<static_call>(r).file == "assets/x.js");
    r = route_request(http_request{http::verb::get, "/../x", 11}, false, true);
    BOOST_TEST(std::get<http_response>(r).result_int() == 404);
    r = route_request(http_request{http::verb::get, "/", 11}, false, false);
    BOOST_TEST(std::get<http_response>(r).result_int() == 404);
    BOOST_TEST(std::get<http_response>(r).body().find("--web-root") != std::string::npos);
    r = route_request(http_request{http::verb::get, "/healthz", 11}, false, true);
    BOOST_TEST(std::get<http_response>(r).result_int() == 200); // the API wins over files
}

BOOST_AUTO_TEST_CASE(content_type_allowlist) {
    BOOST_TEST(upload_content_type("image/png").value() == "image/png");
    BOOST_TEST(upload_content_type("Image/JPEG; charset=x").value() == "image/jpeg");
    BOOST_TEST(upload_content_type("image/svg+xml").value() == "image/svg+xml");
    BOOST_TEST(upload_content_type("video/mp4").value() == "video/mp4");
    BOOST_TEST(!upload_content_type("text/html"));
    BOOST_TEST(!upload_content_type("application/octet-stream"));
    BOOST_TEST(!upload_content_type(""));
    BOOST_TEST(!upload_content_type("image/png\nx: y"));
}

BOOST_AUTO_TEST_CASE(stored_header_round_trip) {
    const auto file = encode_upload_header("image/png", "room1") + "\x89PNG\n\nbytes";
    const auto h = parse_upload_header(file);
    BOOST_REQUIRE(h.has_value());
    BOOST_TEST(h->content_type == "image/png");
    BOOST_TEST(h->room == "room1");
    BOOST_TEST(file.substr(h->body_offset) == "\x89PNG\n\nbytes");
    BOOST_TEST(!parse_upload_header("\x89PNG..."));
    BOOST_TEST(!parse_upload_header(encode_upload_header("text/html", "")));
}

BOOST_FIXTURE_TEST_CASE(admission_from_the_header, fixture) {
    auto svc = make(1000);
    BOOST_TEST(status_of(svc->admit(put("/uploads/a", "image/png", 1000), now)) == 0);
    BOOST_TEST(status_of(svc->admit(put("/uploads/a", "image/png", 1001), now)) == 413);
    BOOST_TEST(status_of(svc->admit(put("/uploads/a", "text/html", 10), now)) == 415);
    BOOST_TEST(status_of(svc->admit(put("/uploads/a", "", 10), now)) == 415);
    BOOST_TEST(status_of(svc->admit(put("/uploads/a.b", "image/png", 10), now)) == 400);
    http_request no_length{http::verb::put, "/uploads/a", 11};
    no_length.set(http::field::content_type, "image/png");
    BOOST_TEST(status_of(svc->admit(no_length, now)) == 411);
    BOOST_TEST(status_of(make(0)->admit(put("/uploads/a", "image/png", 1), now)) == 403);
}

BOOST_FIXTURE_TEST_CASE(capacity_is_bounded_and_released, fixture) {
    auto svc = make(1000);
    std::vector<upload_service::ticket> held;
    for (std::size_t i = 0; i < max_uploads_in_flight; ++i) {
        auto v = svc->admit(put("/uploads/a", "image/png", 1), now);
        BOOST_REQUIRE(std::holds_alternative<upload_service::ticket>(v));
        held.push_back(std::get<upload_service::ticket>(std::move(v)));
    }
    BOOST_TEST(status_of(svc->admit(put("/uploads/a", "image/png", 1), now)) == 503);
    held.pop_back();
    BOOST_TEST(status_of(svc->admit(put("/uploads/a", "image/png", 1), now)) == 0);
}

BOOST_FIXTURE_TEST_CASE(tokens_must_allow_writing_the_room, fixture) {
    auto svc = make(1000, true);
    BOOST_TEST(status_of(svc->admit(put("/uploads/a?room=r1", "image/png", 1), now)) == 401);
    BOOST_TEST(
        status_of(svc->admit(put("/uploads/a?room=r1&token=" + token(R"(["r1"])"), "image/png", 1),
                             now)) == 0);
    BOOST_TEST(status_of(svc->admit(put("/uploads/a?token=" + token(R"(["r1"])"), "image/png", 1),
                                    now)) == 400);
    BOOST_TEST(
        status_of(svc->admit(put("/uploads/a?room=r2&token=" + token(R"(["r1"])"), "image/png", 1),
                             now)) == 403);
    BOOST_TEST(status_of(svc->admit(
                   put("/uploads/a?room=r1&token=" + token(R"(["r1"])", R"(,"access":"read")"),
                       "image/png", 1),
                   now)) == 403);
    auto bearer = put("/uploads/a?room=r1", "image/png", 1);
    bearer.set(http::field::authorization, "Bearer " + token(R"(["r*"])"));
    BOOST_TEST(status_of(svc->admit(bearer, now)) == 0);
}

BOOST_FIXTURE_TEST_CASE(store_never_overwrites, fixture) {
    auto svc = make(1000);
    std::string error;
    BOOST_TEST((svc->put("img1", "image/png", "r1", "first", error) ==
                upload_service::put_result::created));
    BOOST_TEST((svc->put("img1", "image/gif", "r1", "second", error) ==
                upload_service::put_result::exists));
    auto got = svc->get("img1", error);
    BOOST_REQUIRE(got.has_value());
    BOOST_TEST(got->header.content_type == "image/png");
    BOOST_TEST(got->file.substr(got->header.body_offset) == "first");
    BOOST_TEST(!svc->get("img2", error));
    BOOST_TEST(error.empty()); // missing is not an error
    // No temporary files are left behind.
    std::size_t files = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir))
        ++files;
    BOOST_TEST(files == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
