#pragma once
// Schema files: JSON that extends the built-in tldraw schema with custom
// shapes, bindings, record types and migrations (docs/SCHEMAS.md walks through
// one; examples/schemas/sticker.json is complete).
//
// {
//   "tlsyncSchema": 1,                              required: the format version
//   "defs":     { name: node },                     validator nodes to "ref" (tldraw's too)
//   "shapes":   { type: { "props": { field: node }, "migrations": [version...] } },
//   "bindings": { type: { "props": { field: node }, "migrations": [version...] } },
//   "records":  { typeName: { "scope": "document" | "session" | "presence",
//                             "validator": node } },
//   "migrations": [ { "sequenceId": id, "retroactive": false, "versions": [version...] } ]
// }
// Every key but tlsyncSchema is optional; unknown keys are errors. Nodes are
// core/validator.hpp's grammar. A shape's or binding's migrations are its
// sequence "com.tldraw.shape.<type>" / "com.tldraw.binding.<type>" and their
// steps see the record's `props`; a sequence's steps see the whole record.
//
// version = { "up": [step...], "down": [step...], "dependsOn": [migration id...],
//             "filter": { key: scalar } }            filter: sequences only; a record
//                                                    matches when every key is equal
// No "down": clients older than the version are refused CLIENT_TOO_OLD.
// dependsOn names migrations of the built-in schema, of what the builder held
// before this file, or of this file.
// step = { "op": "add",    "path": p, "value": v }  set p to v unless present
//        { "op": "set",    "path": p, "value": v }  set p to v
//        { "op": "remove", "path": p }              delete p (absent: nothing)
//        { "op": "rename", "from": p, "to": q }     move p to q (absent: nothing)
//        { "op": "map",    "path": p, "values": { "old": new, ... } }
//                                                   replace a string value found in
//                                                   the map (others are kept)
// A path is dot-separated keys ("label.text"); add and set create missing
// parent objects; a parent that is not an object fails the migration.

#include "core/schema_extension.hpp"

#include <stdexcept>
#include <string>
#include <string_view>

namespace tlsync::core {

struct schema_file_error : std::runtime_error {
    schema_file_error(std::string file_, std::string pointer_, std::string reason_);
    std::string file;    // as given (a path, or a name for text)
    std::string pointer; // JSON Pointer into the file; "" for the file as a whole
    std::string reason;
};

// Adds the declarations of one schema file (`text`, named `file` in errors)
// to `builder`. Throws schema_file_error; `builder` may then hold part of
// the file and should be dropped.
void apply_schema_file(schema_builder& builder, std::string_view text, const std::string& file);

// A declarative step list compiled to a function (exposed for tests and for
// C++ callers who want the file's vocabulary). `steps` is the JSON array;
// errors are schema_definition_errors with a pointer into it.
[[nodiscard]] std::function<void(json::object&)> compile_migration_steps(const json::value& steps);

} // namespace tlsync::core
