#pragma once
// The server's TLS context: TLS 1.2 or later, certificate chain and private
// key from PEM files (--tls-cert, --tls-key).

#include "server/config.hpp"

#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <string>

namespace tlsync::server {

struct tls_context_result {
    std::shared_ptr<boost::asio::ssl::context> context; // set on success
    std::string error; // names the flag: "--tls-key: cannot read 'k.pem': ..."
};

// An unreadable or mismatched certificate/key is an error, not an exception:
// tlsyncd reports it and exits with 2 before it listens.
[[nodiscard]] tls_context_result make_tls_context(const config& cfg);

} // namespace tlsync::server
