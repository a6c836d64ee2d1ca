// JWT parsing and verification (server/jwt.cpp). The first byte picks the
// mode; the rest is either
//   0: a token as it arrives in ?token= or an Authorization header, checked
//      by an HS256 and an EdDSA verifier (the signature stops most inputs, so
//      this covers splitting, base64url and the header), or
//   1: "<header JSON>\n<payload JSON>", which the target signs with the HS256
//      secret, so the claims parsing behind the signature is reached.
// Checked: nothing crashes; verified claims have a subject, are not expired,
// and open every room they list exactly; base64url survives a round trip.

#include "check.hpp"
#include "server/jwt.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

using namespace tlsync::server;

namespace {

constexpr std::string_view secret = "fuzzing-secret-of-at-least-32-bytes!";
constexpr std::int64_t now = 1'700'000'000;

jwt_verifier make_hs256() {
    auto m = jwt_verifier::hs256(std::string(secret));
    FUZZ_CHECK(m.verifier.has_value(), "hs256: %s", m.error.c_str());
    return std::move(*m.verifier);
}

// A fresh Ed25519 key's public half, as an operator would configure it.
jwt_verifier make_eddsa() {
    EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    FUZZ_CHECK(key != nullptr, "Ed25519 keygen failed");
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, key);
    char* pem = nullptr;
    const long n = BIO_get_mem_data(bio, &pem);
    auto m = jwt_verifier::from_public_key_pem(std::string_view(pem, static_cast<std::size_t>(n)));
    BIO_free(bio);
    EVP_PKEY_free(key);
    FUZZ_CHECK(m.verifier.has_value(), "eddsa: %s", m.error.c_str());
    return std::move(*m.verifier);
}

std::string sign_hs256(std::string_view header, std::string_view payload) {
    std::string token = base64url_encode(header) + "." + base64url_encode(payload);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(token.data()), token.size(), mac, &len);
    return token + "." + base64url_encode(std::string_view(reinterpret_cast<const char*>(mac), len));
}

void check(const jwt_result& r) {
    if (!r.claims) {
        FUZZ_CHECK(!r.error.empty(), "refused without a reason");
        return;
    }
    const auto& c = *r.claims;
    FUZZ_CHECK(r.error.empty(), "verified with an error: %s", r.error.c_str());
    FUZZ_CHECK(!c.subject.empty(), "verified without a subject");
    FUZZ_CHECK(c.expires_at >= now - 30, "verified an expired token (exp %lld)", static_cast<long long>(c.expires_at));
    for (const auto& room : c.rooms) {
        FUZZ_CHECK(!room.empty(), "an empty room entry");
        if (room.back() != '*')
            FUZZ_CHECK(room_access(c, room) == c.access, "the token lists room %s but does not open it",
                       room.c_str());
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const jwt_verifier hs256 = make_hs256();
    static const jwt_verifier eddsa = make_eddsa();
    if (size == 0) return 0;
    const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);

    const auto decoded = base64url_decode(base64url_encode(rest));
    FUZZ_CHECK(decoded && *decoded == rest, "base64url round trip failed");

    if (data[0] % 2 == 0) {
        check(hs256.verify(rest, now));
        check(eddsa.verify(rest, now));
        return 0;
    }
    const auto nl = rest.find('\n');
    if (nl == std::string_view::npos) return 0;
    check(hs256.verify(sign_hs256(rest.substr(0, nl), rest.substr(nl + 1)), now));
    return 0;
}
