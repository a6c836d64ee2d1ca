#include "server/schema_loading.hpp"

#include "core/schema_file.hpp"
#include "core/tldraw_schema.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>

namespace tlsync::server {

schema_load_result load_server_schema(const config& cfg) {
    schema_load_result r;
    if (cfg.schema_files.empty()) {
        r.schema = core::make_tldraw_schema();
        return r;
    }
    core::schema_builder builder;
    for (const auto& file : cfg.schema_files) {
        std::error_code ec;
        if (!std::filesystem::is_regular_file(file, ec)) {
            r.error = "--schema: " + file + ": " + (ec ? ec.message() : "not a regular file");
            return r;
        }
        std::ifstream in(file, std::ios::binary);
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (!in && !in.eof()) {
            r.error = "--schema: " + file + ": cannot read the file";
            return r;
        }
        try {
            core::apply_schema_file(builder, text, file);
            // Cross-references (dependsOn, a second presence type) are only
            // whole once the file is in: check now, so the error names it.
            r.schema = builder.build();
        } catch (const core::schema_file_error& e) {
            r.error = std::string("--schema: ") + e.what();
            r.schema.reset();
            return r;
        } catch (const core::schema_definition_error& e) {
            r.error = "--schema: " + file + ": " + e.what();
            r.schema.reset();
            return r;
        }
    }
    return r;
}

} // namespace tlsync::server
