#pragma once
// Signed access tokens (JWT, RFC 7519) as tlsyncd understands them: verified
// with OpenSSL, no I/O, the time passed in.
//
// Algorithms: HS256 (a shared secret), RS256 (an RSA public key) and EdDSA
// (an Ed25519 public key). A verifier is built for exactly one of them and
// refuses a token that names another, so a token cannot choose how it is
// checked ("alg":"none", or HS256 signed with the public key as the secret).
//
// Claims read (others are ignored):
//   sub     the user id (required, a non-empty string)
//   rooms   the rooms the token opens: an array of room ids, where an entry
//           ending in "*" is a prefix ("team-*"); a lone "*" is every room.
//           Absent: no room (the token may still serve the user socket).
//   access  "write" (default) or "read": a read token makes readonly sessions
//   admin   true: the token may use the admin API (/admin/..., diagnostics)
//   exp     expiry, seconds since the epoch (required)
//   nbf     not before, seconds since the epoch (optional)
//
//   auto v = jwt_verifier::from_public_key_pem(pem);       // or ::hs256(secret)
//   if (!v.verifier) fail(v.error);
//   auto r = v.verifier->verify(token, now_seconds);
//   if (!r.claims) close_4099("NOT_AUTHENTICATED", r.error);
//   switch (room_access(*r.claims, room)) { ... }

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tlsync::server {

enum class jwt_alg { hs256, rs256, eddsa };
[[nodiscard]] std::string_view to_string(jwt_alg a) noexcept; // "HS256", "RS256", "EdDSA"

enum class token_access { none, read, write };

struct token_claims {
    std::string subject;
    std::vector<std::string> rooms; // as given: exact ids, or prefixes ending in '*'
    token_access access = token_access::write;
    bool admin = false;
    std::int64_t expires_at = 0;   // seconds since the epoch
    std::optional<std::int64_t> not_before;
};

// What the claims allow on `room_id`: none, read or write.
[[nodiscard]] token_access room_access(const token_claims& c, std::string_view room_id) noexcept;

struct jwt_result {
    std::optional<token_claims> claims;
    std::string error; // why not, for logs and close reasons' details; empty when verified
};

class jwt_verifier {
public:
    struct made;
    // `secret` must be at least 32 bytes (RFC 7518 3.2: the key as long as the hash).
    [[nodiscard]] static made hs256(std::string secret);
    // An RSA (RS256, at least 2048 bits) or Ed25519 (EdDSA) public key in PEM
    // ("-----BEGIN PUBLIC KEY-----"); the key type decides the algorithm.
    [[nodiscard]] static made from_public_key_pem(std::string_view pem);

    ~jwt_verifier();
    jwt_verifier(jwt_verifier&&) noexcept;
    jwt_verifier& operator=(jwt_verifier&&) noexcept;

    [[nodiscard]] jwt_alg alg() const noexcept { return alg_; }
    // `leeway`: clock skew tolerated on exp and nbf.
    [[nodiscard]] jwt_result verify(std::string_view token, std::int64_t now_seconds,
                                    std::chrono::seconds leeway = std::chrono::seconds(30)) const;

    // Tokens longer than this are refused before any decoding.
    static constexpr std::size_t max_token_bytes = 8192;

private:
    struct key;
    jwt_verifier(jwt_alg alg, std::unique_ptr<key> k);
    jwt_alg alg_;
    std::unique_ptr<key> key_;
};

struct jwt_verifier::made {
    std::optional<jwt_verifier> verifier;
    std::string error;
};

// base64url without padding (RFC 7515 2); nullopt for anything else.
[[nodiscard]] std::optional<std::string> base64url_decode(std::string_view in);
[[nodiscard]] std::string base64url_encode(std::string_view in);

} // namespace tlsync::server
