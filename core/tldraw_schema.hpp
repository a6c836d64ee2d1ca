#pragma once
// The default tldraw schema (@tldraw/tlschema createTLSchema(), version in
// detail::tldraw_schema_package_version): every record type with its scope and
// every migration sequence at its current version, so a current tldraw client
// connects with no migrations.
//
// Validators are @tldraw/tlschema's, generated from the package as a
// description interpreted by core/validator.hpp.
//
// Migration steps are C++ ports for recent versions only (see
// tldraw_ported_migrations()). A migration that is not ported has no `down`
// (clients that would need it are rejected CLIENT_TOO_OLD) and an `up` that
// throws "migration X not supported" (storage that needs it refuses to load
// rather than loading unmigrated data). Some ports are partial: they follow
// upstream exactly where they can and throw where upstream would need
// machinery we lack (URL parsing, b64 point codecs).

#include "core/schema.hpp"
#include "core/validator.hpp"

#include <memory>
#include <string_view>
#include <vector>

namespace tlsync::core {

// Built once; shared by every room.
[[nodiscard]] std::shared_ptr<const schema> make_tldraw_schema();

struct ported_migration_info {
    std::string_view id;
    bool up = false;      // an up step exists (possibly partial)
    bool down = false;    // a down step exists (possibly partial)
    bool partial = false; // some inputs throw "not supported"
};
// Which of the tldraw migrations have C++ steps.
[[nodiscard]] const std::vector<ported_migration_info>& tldraw_ported_migrations();

namespace detail {

// Generated from the npm package by scripts/gen-tldraw-schema
// (core/tldraw_schema_data.cpp).
struct tldraw_type_data {
    std::string_view type_name;
    record_scope scope;
};
struct tldraw_migration_data {
    std::string_view id;
    migration_scope scope;
    bool upstream_has_down;
    std::vector<std::string_view> depends_on;
    std::string_view filter_type_name; // empty: no filter
    std::string_view filter_sub_type;  // empty: any `type`
};
struct tldraw_sequence_data {
    std::string_view sequence_id;
    bool retroactive;
    std::vector<tldraw_migration_data> migrations;
};
extern const std::string_view tldraw_schema_package_version;
// The validator description of every record type (grammar: core/validator.hpp),
// generated into core/tldraw_validators_data.cpp.
extern const std::string_view tldraw_validators_json;
[[nodiscard]] const std::vector<tldraw_type_data>& tldraw_types();
[[nodiscard]] const std::vector<std::string_view>& tldraw_shape_types();
[[nodiscard]] const std::vector<std::string_view>& tldraw_binding_types();
[[nodiscard]] const std::vector<std::string_view>& tldraw_asset_types();
[[nodiscard]] const std::vector<tldraw_sequence_data>& tldraw_sequences();

// Building blocks of make_tldraw_schema(), for schema_builder
// (core/schema_extension.hpp) to extend: the parsed validator description,
// the record types validated by `validators` (a library compiled from that
// description, possibly extended), and every migration sequence.
[[nodiscard]] const json::value& tldraw_validator_description();
[[nodiscard]] std::vector<record_type> tldraw_record_types(std::shared_ptr<const validator_library> validators);
[[nodiscard]] std::vector<migration_sequence> tldraw_migration_sequences();

// Hand-written steps (core/tldraw_migrations.cpp), keyed by migration id.
struct tldraw_steps {
    ported_migration_info info;
    std::function<void(json::object&)> up;
    std::function<void(json::object&)> down;
    std::function<void(storage_txn&)> up_storage;
};
[[nodiscard]] const std::vector<tldraw_steps>& tldraw_ported_steps();

} // namespace detail
} // namespace tlsync::core
