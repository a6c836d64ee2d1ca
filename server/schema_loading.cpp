#include "server/schema_loading.hpp"

#include "core/tldraw_schema.hpp"

namespace tlsync::server {

schema_load_result load_server_schema(const config& cfg) {
    schema_load_result r;
    if (!cfg.schema_files.empty()) {
        r.error = "--schema: schema files are not supported yet";
        return r;
    }
    r.schema = core::make_tldraw_schema();
    return r;
}

} // namespace tlsync::server
