#include "server/jwt.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <array>
#include <cmath>
#include <limits>

namespace tlsync::server {

namespace json = boost::json;

namespace {

constexpr std::string_view b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

struct pkey_free {
    void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
struct md_ctx_free {
    void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};

jwt_result fail(std::string why) { return jwt_result{std::nullopt, std::move(why)}; }

// An integral NumericDate; JWTs may carry fractions, which are truncated.
std::optional<std::int64_t> numeric_date(const json::value& v) {
    if (v.is_int64()) return v.get_int64();
    if (v.is_uint64()) {
        if (v.get_uint64() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
        return static_cast<std::int64_t>(v.get_uint64());
    }
    if (v.is_double() && std::isfinite(v.get_double()) && std::abs(v.get_double()) < 9e15)
        return static_cast<std::int64_t>(v.get_double());
    return std::nullopt;
}

} // namespace

std::string_view to_string(jwt_alg a) noexcept {
    switch (a) {
    case jwt_alg::hs256: return "HS256";
    case jwt_alg::rs256: return "RS256";
    case jwt_alg::eddsa: return "EdDSA";
    }
    return "?";
}

token_access room_access(const token_claims& c, std::string_view room_id) noexcept {
    for (const auto& r : c.rooms) {
        const bool match = r.ends_with('*') ? room_id.starts_with(std::string_view(r).substr(0, r.size() - 1))
                                            : room_id == r;
        if (match) return c.access;
    }
    return token_access::none;
}

std::optional<std::string> base64url_decode(std::string_view in) {
    if (in.size() % 4 == 1) return std::nullopt;
    std::string out;
    out.reserve(in.size() * 3 / 4);
    std::uint32_t acc = 0;
    int bits = 0;
    for (char ch : in) {
        const auto pos = b64url.find(ch);
        if (pos == std::string_view::npos) return std::nullopt; // includes '=' padding
        acc = (acc << 6) | static_cast<std::uint32_t>(pos);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xff));
        }
    }
    // Leftover bits must be zero: one text per byte string, no malleability.
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
    return out;
}

std::string base64url_encode(std::string_view in) {
    std::string out;
    out.reserve((in.size() * 4 + 2) / 3);
    std::uint32_t acc = 0;
    int bits = 0;
    for (unsigned char c : in) {
        acc = (acc << 8) | c;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out.push_back(b64url[(acc >> bits) & 0x3f]);
        }
    }
    if (bits > 0) out.push_back(b64url[(acc << (6 - bits)) & 0x3f]);
    return out;
}

struct jwt_verifier::key {
    std::string secret;                         // HS256
    std::unique_ptr<EVP_PKEY, pkey_free> pkey;  // RS256, EdDSA

    bool verify(jwt_alg alg, std::string_view signed_part, std::string_view sig) const {
        if (alg == jwt_alg::hs256) {
            std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
            unsigned int len = 0;
            if (!HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
                      reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size(), mac.data(),
                      &len))
                return false;
            return sig.size() == len && CRYPTO_memcmp(mac.data(), sig.data(), len) == 0;
        }
        std::unique_ptr<EVP_MD_CTX, md_ctx_free> ctx(EVP_MD_CTX_new());
        if (!ctx) return false;
        const EVP_MD* md = alg == jwt_alg::rs256 ? EVP_sha256() : nullptr; // Ed25519 hashes itself
        if (EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, pkey.get()) != 1) return false;
        return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                                reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size()) == 1;
    }
};

jwt_verifier::jwt_verifier(jwt_alg alg, std::unique_ptr<key> k) : alg_(alg), key_(std::move(k)) {}
jwt_verifier::~jwt_verifier() = default;
jwt_verifier::jwt_verifier(jwt_verifier&&) noexcept = default;
jwt_verifier& jwt_verifier::operator=(jwt_verifier&&) noexcept = default;

jwt_verifier::made jwt_verifier::hs256(std::string secret) {
    if (secret.size() < 32)
        return {std::nullopt, "the HS256 secret is " + std::to_string(secret.size()) +
                                  " bytes; it must be at least 32 (RFC 7518 section 3.2)"};
    auto k = std::make_unique<key>();
    k->secret = std::move(secret);
    return {jwt_verifier(jwt_alg::hs256, std::move(k)), {}};
}

jwt_verifier::made jwt_verifier::from_public_key_pem(std::string_view pem) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())),
                                                  &BIO_free);
    if (!bio) return {std::nullopt, "out of memory reading the public key"};
    std::unique_ptr<EVP_PKEY, pkey_free> pkey(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
    if (!pkey) return {std::nullopt, "not a PEM public key (expected -----BEGIN PUBLIC KEY-----)"};
    jwt_alg alg;
    switch (EVP_PKEY_get_base_id(pkey.get())) {
    case EVP_PKEY_RSA:
        if (EVP_PKEY_get_bits(pkey.get()) < 2048)
            return {std::nullopt, "the RSA key has " + std::to_string(EVP_PKEY_get_bits(pkey.get())) +
                                      " bits; RS256 needs at least 2048"};
        alg = jwt_alg::rs256;
        break;
    case EVP_PKEY_ED25519: alg = jwt_alg::eddsa; break;
    default: return {std::nullopt, "unsupported public key type (use RSA for RS256 or Ed25519 for EdDSA)"};
    }
    auto k = std::make_unique<key>();
    k->pkey = std::move(pkey);
    return {jwt_verifier(alg, std::move(k)), {}};
}

jwt_result jwt_verifier::verify(std::string_view token, std::int64_t now, std::chrono::seconds leeway) const {
    if (token.empty()) return fail("no token");
    if (token.size() > max_token_bytes) return fail("token longer than " + std::to_string(max_token_bytes) + " bytes");
    const auto dot1 = token.find('.');
    const auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
        return fail("not a JWS compact token (three dot-separated parts)");
    auto header_text = base64url_decode(token.substr(0, dot1));
    auto payload_text = base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1));
    auto sig = base64url_decode(token.substr(dot2 + 1));
    if (!header_text || !payload_text || !sig) return fail("a part is not base64url");

    boost::system::error_code ec;
    auto header = json::parse(*header_text, ec);
    if (ec || !header.is_object()) return fail("the header is not a JSON object");
    const auto& h = header.get_object();
    const auto* alg = h.if_contains("alg");
    if (!alg || !alg->is_string()) return fail("the header has no \"alg\"");
    // Checked before the signature: a token never picks its own algorithm.
    if (alg->get_string() != to_string(alg_))
        return fail("algorithm " + std::string(alg->get_string()) + " is not the configured " +
                    std::string(to_string(alg_)));
    if (h.contains("crit")) return fail("critical header extensions are not supported");
    if (!key_->verify(alg_, token.substr(0, dot2), *sig)) return fail("bad signature");

    auto payload = json::parse(*payload_text, ec);
    if (ec || !payload.is_object()) return fail("the payload is not a JSON object");
    const auto& p = payload.get_object();
    token_claims c;
    const auto* sub = p.if_contains("sub");
    if (!sub || !sub->is_string() || sub->get_string().empty()) return fail("no \"sub\" (user id)");
    c.subject = std::string(sub->get_string());
    const auto* exp = p.if_contains("exp");
    auto exp_at = exp ? numeric_date(*exp) : std::nullopt;
    if (!exp_at) return fail("no numeric \"exp\": tokens must expire");
    c.expires_at = *exp_at;
    // Leeway on our side of the comparison: exp can be as large as int64 allows.
    if (now - leeway.count() > c.expires_at) return fail("expired");
    if (const auto* nbf = p.if_contains("nbf")) {
        c.not_before = numeric_date(*nbf);
        if (!c.not_before) return fail("\"nbf\" is not a number");
        if (now + leeway.count() < *c.not_before) return fail("not valid yet (nbf)");
    }
    if (const auto* rooms = p.if_contains("rooms")) {
        if (!rooms->is_array()) return fail("\"rooms\" is not an array");
        for (const auto& r : rooms->get_array()) {
            if (!r.is_string() || r.get_string().empty()) return fail("\"rooms\" holds a non-string or empty entry");
            c.rooms.emplace_back(r.get_string());
        }
    }
    if (const auto* access = p.if_contains("access")) {
        if (access->is_string() && access->get_string() == "read") c.access = token_access::read;
        else if (access->is_string() && access->get_string() == "write") c.access = token_access::write;
        else return fail("\"access\" must be \"read\" or \"write\"");
    }
    if (const auto* admin = p.if_contains("admin")) {
        if (!admin->is_bool()) return fail("\"admin\" must be true or false");
        c.admin = admin->get_bool();
    }
    return jwt_result{std::move(c), {}};
}

} // namespace tlsync::server
