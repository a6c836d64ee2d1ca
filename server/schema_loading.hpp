#pragma once
// The schema tlsyncd serves: the built-in tldraw schema extended by the
// --schema files (issue 4). A file that cannot be used is an error naming
// the file, the path inside it and the reason; the server refuses to start.

#include "core/schema.hpp"
#include "server/config.hpp"

#include <memory>
#include <string>
#include <variant>

namespace tlsync::server {

struct schema_load_result {
    std::shared_ptr<const core::schema> schema; // set on success
    std::string error;                          // "--schema: shapes.json: /records/0/props: ..."
};

[[nodiscard]] schema_load_result load_server_schema(const config& cfg);

} // namespace tlsync::server
