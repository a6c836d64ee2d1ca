// server/jwt: HS256, RS256 and EdDSA tokens signed here with OpenSSL (keys
// made per run), claims, expiry, and the attacks a verifier must refuse
// (alg none, algorithm confusion, tampering, malformed parts).

#include "server/jwt.hpp"

#include <boost/test/unit_test.hpp>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <limits>
#include <memory>
#include <string>
#include <vector>

using namespace tlsync::server;

namespace {

using pkey_ptr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

const std::string secret = "0123456789abcdef0123456789abcdef-shared";
constexpr std::int64_t now = 1'800'000'000;

std::string pem_of(EVP_PKEY* k) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
    PEM_write_bio_PUBKEY(bio.get(), k);
    char* data = nullptr;
    auto n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

std::string sign(std::string_view alg, EVP_PKEY* k, std::string_view input) {
    if (alg == "HS256") {
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
             reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
        return std::string(reinterpret_cast<char*>(mac), len);
    }
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    EVP_DigestSignInit(ctx.get(), nullptr, alg == "RS256" ? EVP_sha256() : nullptr, nullptr, k);
    std::size_t len = 0;
    EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size());
    std::string sig(len, '\0');
    EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                   reinterpret_cast<const unsigned char*>(input.data()), input.size());
    sig.resize(len);
    return sig;
}

std::string token(std::string_view alg, EVP_PKEY* k, const std::string& payload,
                  std::string header = {}) {
    if (header.empty()) header = R"({"alg":")" + std::string(alg) + R"(","typ":"JWT"})";
    auto input = base64url_encode(header) + "." + base64url_encode(payload);
    return input + "." + base64url_encode(sign(alg, k, input));
}

std::string claims(const std::string& extra = R"(,"rooms":["room1","team-*"])") {
    return R"({"sub":"alice","exp":)" + std::to_string(now + 600) + extra + "}";
}

struct keys {
    pkey_ptr rsa{EVP_RSA_gen(2048), &EVP_PKEY_free};
    pkey_ptr ed{EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"), &EVP_PKEY_free};
};
const keys& the_keys() {
    static keys k;
    return k;
}

jwt_verifier make(std::string_view alg) {
    auto m = alg == "HS256"   ? jwt_verifier::hs256(secret)
             : alg == "RS256" ? jwt_verifier::from_public_key_pem(pem_of(the_keys().rsa.get()))
                              : jwt_verifier::from_public_key_pem(pem_of(the_keys().ed.get()));
    BOOST_REQUIRE_MESSAGE(m.verifier, m.error);
    return std::move(*m.verifier);
}

EVP_PKEY* key_for(std::string_view alg) {
    return alg == "RS256" ? the_keys().rsa.get() : alg == "EdDSA" ? the_keys().ed.get() : nullptr;
}

} // namespace

BOOST_AUTO_TEST_SUITE(jwt_suite)

BOOST_AUTO_TEST_CASE(each_algorithm_verifies_its_tokens_and_reads_the_claims) {
    for (std::string alg : {"HS256", "RS256", "EdDSA"}) {
        BOOST_TEST_CONTEXT(alg) {
            auto v = make(alg);
            BOOST_TEST(to_string(v.alg()) == alg);
            auto r = v.verify(token(alg, key_for(alg), claims(R"(,"rooms":["room1","team-*"],"access":"read")")), now);
            BOOST_REQUIRE_MESSAGE(r.claims, r.error);
            BOOST_TEST(r.claims->subject == "alice");
            BOOST_TEST(r.claims->expires_at == now + 600);
            BOOST_TEST((room_access(*r.claims, "room1") == token_access::read));
            BOOST_TEST((room_access(*r.claims, "team-42") == token_access::read));
            BOOST_TEST((room_access(*r.claims, "room12") == token_access::none)); // exact means exact
            BOOST_TEST((room_access(*r.claims, "other") == token_access::none));
        }
    }
}

BOOST_AUTO_TEST_CASE(access_defaults_to_write_and_a_lone_star_is_every_room) {
    auto v = make("HS256");
    auto r = v.verify(token("HS256", nullptr, claims(R"(,"rooms":["*"])")), now);
    BOOST_REQUIRE(r.claims.has_value());
    BOOST_TEST((room_access(*r.claims, "anything") == token_access::write));
    auto none = v.verify(token("HS256", nullptr, claims("")), now);
    BOOST_REQUIRE(none.claims.has_value()); // a token without rooms opens none
    BOOST_TEST((room_access(*none.claims, "room1") == token_access::none));
}

BOOST_AUTO_TEST_CASE(refuses_alg_none_and_algorithm_confusion) {
    auto rs = make("RS256");
    // alg none, empty signature.
    auto none = base64url_encode(R"({"alg":"none"})") + "." + base64url_encode(claims()) + ".";
    BOOST_TEST(!rs.verify(none, now).claims.has_value());
    // HS256 signed with the RSA public key's PEM as the secret: the classic
    // confusion attack against verifiers that let the token pick.
    const auto pem = pem_of(the_keys().rsa.get());
    auto input = base64url_encode(R"({"alg":"HS256"})") + "." + base64url_encode(claims());
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), pem.data(), static_cast<int>(pem.size()), reinterpret_cast<const unsigned char*>(input.data()),
         input.size(), mac, &len);
    auto forged = input + "." + base64url_encode(std::string(reinterpret_cast<char*>(mac), len));
    auto r = rs.verify(forged, now);
    BOOST_TEST(!r.claims.has_value());
    BOOST_TEST(r.error.find("not the configured RS256") != std::string::npos);
    // An EdDSA token against an RS256 verifier, and the other way round.
    BOOST_TEST(!rs.verify(token("EdDSA", key_for("EdDSA"), claims()), now).claims.has_value());
    BOOST_TEST(!make("EdDSA").verify(token("RS256", key_for("RS256"), claims()), now).claims.has_value());
}

BOOST_AUTO_TEST_CASE(refuses_tampering_and_other_keys) {
    for (std::string alg : {"HS256", "RS256", "EdDSA"}) {
        BOOST_TEST_CONTEXT(alg) {
            auto v = make(alg);
            auto t = token(alg, key_for(alg), claims());
            // Another payload under the original signature.
            auto dot1 = t.find('.'), dot2 = t.rfind('.');
            auto tampered = t.substr(0, dot1 + 1) + base64url_encode(R"({"sub":"mallory","exp":9999999999,"rooms":["*"]})") +
                            t.substr(dot2);
            auto r = v.verify(tampered, now);
            BOOST_TEST(!r.claims.has_value());
            BOOST_TEST(r.error == "bad signature");
            // One flipped signature bit.
            auto sig = *base64url_decode(t.substr(dot2 + 1));
            sig[0] = static_cast<char>(sig[0] ^ 1);
            BOOST_TEST(!v.verify(t.substr(0, dot2 + 1) + base64url_encode(sig), now).claims.has_value());
        }
    }
    // A token of another key of the same type.
    pkey_ptr other(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"), &EVP_PKEY_free);
    BOOST_TEST(!make("EdDSA").verify(token("EdDSA", other.get(), claims()), now).claims.has_value());
    auto other_secret = jwt_verifier::hs256(std::string(40, 'x'));
    BOOST_TEST(!other_secret.verifier->verify(token("HS256", nullptr, claims()), now).claims.has_value());
}

BOOST_AUTO_TEST_CASE(expiry_and_not_before_with_leeway) {
    auto v = make("HS256");
    auto at = [&](std::int64_t exp, std::string extra = {}) {
        return token("HS256", nullptr, R"({"sub":"a","exp":)" + std::to_string(exp) + extra + "}");
    };
    BOOST_TEST(v.verify(at(now - 10), now).claims.has_value()); // within the 30 s leeway
    auto r = v.verify(at(now - 31), now);
    BOOST_TEST(!r.claims.has_value());
    BOOST_TEST(r.error == "expired");
    BOOST_TEST(!v.verify(at(now - 10), now, std::chrono::seconds(0)).claims.has_value());
    BOOST_TEST(!v.verify(at(now + 600, R"(,"nbf":)" + std::to_string(now + 100)), now).claims.has_value());
    BOOST_TEST(v.verify(at(now + 600, R"(,"nbf":)" + std::to_string(now + 20)), now).claims.has_value());
    BOOST_TEST(v.verify(token("HS256", nullptr, R"({"sub":"a","exp":1.8e9})"), now - 100).claims.has_value()); // fractions allowed
    // Tokens must expire.
    BOOST_TEST(v.verify(token("HS256", nullptr, R"({"sub":"a"})"), now).error.find("exp") != std::string::npos);
    // The largest exp there is (found by fuzz_jwt: exp + leeway overflowed).
    BOOST_TEST(v.verify(at(std::numeric_limits<std::int64_t>::max()), now).claims.has_value());
}

BOOST_AUTO_TEST_CASE(malformed_tokens_and_claims_get_reasons) {
    auto v = make("HS256");
    for (const std::string& bad : std::vector<std::string>{"", "abc", "a.b", "a.b.c.d", "!!.e30.", std::string(9000, 'a')}) {
        BOOST_TEST_CONTEXT(bad.substr(0, 20)) {
            auto r = v.verify(bad, now);
            BOOST_TEST(!r.claims.has_value());
            BOOST_TEST(!r.error.empty());
        }
    }
    auto exp = std::to_string(now + 60);
    for (const std::string& payload : std::vector<std::string>{R"([1,2])", R"({"exp":)" + exp + "}", R"({"sub":"","exp":)" + exp + "}",
                                R"({"sub":"a","exp":)" + exp + R"(,"rooms":"room1"})",
                                R"({"sub":"a","exp":)" + exp + R"(,"rooms":[1]})",
                                R"({"sub":"a","exp":)" + exp + R"(,"access":"admin"})",
                                R"({"sub":"a","exp":"soon"})"}) {
        BOOST_TEST_CONTEXT(payload) { BOOST_TEST(!v.verify(token("HS256", nullptr, payload), now).claims.has_value()); }
    }
    BOOST_TEST(!v.verify(token("HS256", nullptr, claims(), R"({"alg":"HS256","crit":["exp"]})"), now).claims.has_value());
}

BOOST_AUTO_TEST_CASE(keys_are_checked_when_configured) {
    BOOST_TEST(!jwt_verifier::hs256("short").verifier);
    BOOST_TEST(jwt_verifier::hs256("short").error.find("32") != std::string::npos);
    BOOST_TEST(!jwt_verifier::from_public_key_pem("not a key").verifier);
    pkey_ptr small(EVP_RSA_gen(1024), &EVP_PKEY_free);
    auto m = jwt_verifier::from_public_key_pem(pem_of(small.get()));
    BOOST_TEST(!m.verifier);
    BOOST_TEST(m.error.find("2048") != std::string::npos);
    pkey_ptr ec(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), &EVP_PKEY_free);
    BOOST_TEST(!jwt_verifier::from_public_key_pem(pem_of(ec.get())).verifier);
}

BOOST_AUTO_TEST_CASE(base64url_is_strict) {
    BOOST_TEST(*base64url_decode(base64url_encode("any carnal pleas")) == "any carnal pleas");
    BOOST_TEST(base64url_encode("\xfb\xff") == "-_8");
    BOOST_TEST(!base64url_decode("YQ=="));  // padding
    BOOST_TEST(!base64url_decode("YR"));    // non-zero trailing bits
    BOOST_TEST(!base64url_decode("Y"));     // impossible length
    BOOST_TEST(!base64url_decode("a+b/"));  // base64, not base64url
    BOOST_TEST(*base64url_decode("YQ") == "a");
}

BOOST_AUTO_TEST_SUITE_END()
