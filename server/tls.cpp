#include "server/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace tlsync::server {

namespace ssl = boost::asio::ssl;

namespace {

std::string describe(const boost::system::error_code& ec) {
    // OpenSSL's own text names the real problem (no such file, bad PEM, ...).
    std::string what = ec.message();
    if (what.empty()) what = "error " + std::to_string(ec.value());
    return what;
}

} // namespace

tls_context_result make_tls_context(const config& cfg) {
    tls_context_result out;
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
    // TLS 1.0/1.1 are deprecated (RFC 8996) and browsers no longer offer them.
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                     ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                     ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);

    boost::system::error_code ec;
    ctx->use_certificate_chain_file(cfg.tls_cert, ec);
    if (ec) {
        out.error = "--tls-cert: cannot load certificate chain '" + cfg.tls_cert + "': " + describe(ec);
        return out;
    }
    ctx->use_private_key_file(cfg.tls_key, ssl::context::pem, ec);
    if (ec) {
        out.error = "--tls-key: cannot load private key '" + cfg.tls_key + "': " + describe(ec);
        return out;
    }
    if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
        ERR_clear_error();
        out.error = "--tls-key: the private key '" + cfg.tls_key +
                    "' does not match the certificate '" + cfg.tls_cert + "'";
        return out;
    }
    out.context = std::move(ctx);
    return out;
}

} // namespace tlsync::server
