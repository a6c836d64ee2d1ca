#pragma once
// Extending the built-in tldraw schema in code: the C++ counterpart of
// `createTLSchema({ shapes: { ...defaultShapeSchemas, sticker: { props, migrations } } })`.
// Schema files (core/schema_file.hpp) are loaded through this same builder;
// use it directly for what a file cannot express: checks and migration steps
// written in C++.
//
//   core::schema_builder b;                       // tldraw 5.4.2, complete
//   b.add_check("emoji", [](const json::value& v) {
//       if (!v.is_string() || v.get_string().empty())
//           throw core::validation_error("Expected an emoji");
//   });
//   b.add_shape("sticker",
//               json::parse(R"({"emoji": {"kind": "custom", "name": "emoji"},
//                               "w": {"kind": "nonzero_number"},
//                               "color": {"kind": "ref", "name": "style:tldraw:color"}})").as_object(),
//               {core::props_migration{
//                   .up = [](json::object& p) { p["color"] = "black"; },
//                   .down = [](json::object& p) { p.erase("color"); }}});
//   std::shared_ptr<const core::schema> s = b.build();
//
// What each addition means, as tldraw defines it:
// - a shape type joins the `shape` record's union on `type`, with tldraw's
//   base shape fields (id, typeName, x, y, rotation, index, parentId, type,
//   isLocked, opacity, meta) and `props` as a closed object of the given
//   fields. Its migrations are the sequence "com.tldraw.shape.<type>"
//   (not retroactive), each step applied to the record's `props` of shapes of
//   that type, exactly as tldraw's createShapePropsMigrationSequence does.
// - a binding type likewise joins `binding` (id, typeName, type, fromId, toId,
//   meta + props), sequence "com.tldraw.binding.<type>".
// - a record type is a new `typeName` with a scope; its validator sees the
//   whole record (the schema itself checks `typeName` and the "<typeName>:"
//   id prefix first). Give it migrations with add_sequence and a filter.
// Validator nodes are core/validator.hpp's grammar; they may `ref` tldraw's
// named nodes ("style:tldraw:color", "shapeIdValidator", "richTextValidator",
// ... see core/tldraw_validators_data.cpp) and the defs added here.

#include "core/schema.hpp"
#include "core/validator.hpp"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tlsync::core {

// An addition that cannot be used. `pointer` is a JSON Pointer into the value
// the failing call was given (a validator node, a props object, a def), ""
// for the call as a whole.
struct schema_definition_error : std::invalid_argument {
    schema_definition_error(std::string pointer_, std::string reason_);
    std::string pointer;
    std::string reason;
};

// One version of a shape's or binding's props sequence (tldraw's
// TLPropsMigration): the steps see the record's `props` object.
struct props_migration {
    std::function<void(json::object& props)> up;
    std::function<void(json::object& props)> down; // empty: older clients are CLIENT_TOO_OLD
    std::vector<std::string> depends_on;           // other migration ids ("seq/3")
};

class schema_builder {
public:
    // Starts from the complete built-in tldraw schema.
    schema_builder();
    schema_builder(schema_builder&&) noexcept;
    schema_builder& operator=(schema_builder&&) noexcept;
    ~schema_builder();

    // Every call below throws schema_definition_error when the addition
    // collides with what exists or is malformed; nothing is added then.

    // A named validator node other nodes can {"kind": "ref", "name": ...}.
    // Defs may refer to each other in any order: they are checked by
    // check_defs() (build() calls it), not here.
    schema_builder& add_def(std::string name, json::value node);
    // Checks every def added so far; the error's pointer is "/<name>/...".
    void check_defs() const;
    // A C++ check for {"kind": "custom", "name": ...} nodes.
    schema_builder& add_check(std::string name, custom_check check);

    // `props`: field name -> validator node (pointer: "/<field>/...").
    schema_builder& add_shape(std::string type, const json::object& props,
                              std::vector<props_migration> migrations = {});
    schema_builder& add_binding(std::string type, const json::object& props,
                                std::vector<props_migration> migrations = {});

    // A record type validated by a node (pointer relative to it); the node is
    // wrapped in a "model" named after the type unless it is one, so messages
    // read "At comment.text: ...".
    schema_builder& add_record_type(std::string type_name, record_scope scope, json::value validator_node);
    // A record type validated by a C++ callable (record_type::validate, which
    // throws validation_error), or by nothing but its id and typeName.
    schema_builder& add_record_type(record_type type);

    // A migration sequence of your own (retroactive or not, any scope). Its
    // record steps should carry a filter: without one they see every record.
    schema_builder& add_sequence(migration_sequence sequence);

    [[nodiscard]] bool has_record_type(std::string_view type_name) const;
    [[nodiscard]] bool has_shape(std::string_view type) const;
    [[nodiscard]] bool has_binding(std::string_view type) const;
    [[nodiscard]] bool has_sequence(std::string_view sequence_id) const;
    // Whether a built-in or added sequence has the migration "<sequenceId>/<version>".
    [[nodiscard]] bool has_migration(std::string_view id) const;

    // The schema with every addition. Throws schema_definition_error.
    [[nodiscard]] std::shared_ptr<const schema> build() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

// The sequence tldraw derives from a shape's or binding's props migrations:
// id "com.tldraw.<type_name>.<sub_type>", not retroactive, each step filtered
// to records of that typeName and `type`, applied to their `props`.
[[nodiscard]] migration_sequence make_props_sequence(std::string_view type_name, std::string_view sub_type,
                                                     std::vector<props_migration> migrations);

} // namespace tlsync::core
