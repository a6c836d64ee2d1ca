#pragma once
// diffRecord / applyObjectDiff (SPEC sections 3-5: D1-D7, AD1-AD8, ND1).
//
// Both directions work on the wire form of an ObjectDiff (key -> ValueOp
// array), so a diff computed here is sent as is and a decoded diff is applied
// without conversion.

#include "proto/messages.hpp"

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tlsync::core {

// D1-D7. nullopt when there is nothing to change. With `legacy_append_mode`
// string appends become puts (array appends are unaffected): clients older
// than protocol 8 cannot apply a string append.
//
// Inside props/meta (and deeper) two plain objects are patched recursively
// (D4), while at the top level they are put whole (D3). An object on one side
// and an array on the other is always a put: neither shape can be patched into
// the other.
[[nodiscard]] std::optional<proto::object_diff>
diff_record(const json::object& prev, const json::object& next, bool legacy_append_mode = false);

// The diff prev -> next shaped like a client's request where the request
// can express it: a key the client `put` and that changed
// is put, an object the client patched is recursed into with the client's
// sub-diff; everything else follows D1-D7. Without this a client whose
// diffRecord puts nested objects inside props (the released @tldraw/sync-core
// 5.4.2 does, e.g. for `props.richText`) would get `rebaseWithDiff` instead of
// `commit` for every such edit (RP7), because D4 patches them recursively.
// The push path uses it only when it reproduces the request exactly;
// otherwise the D-rule diff is what is broadcast and rebased (RP5).
[[nodiscard]] std::optional<proto::object_diff> diff_record_guided(const json::object& prev,
                                                                   const json::object& next,
                                                                   const proto::object_diff& requested,
                                                                   bool legacy_append_mode = false);

// AD1-AD8. nullopt when no op had an effect (JavaScript returns the same
// reference then); otherwise the patched copy. Inputs are never modified.
//
// Diffs come from untrusted peers, so anything malformed is ignored rather
// than trusted: ops that are not a ["put"|"delete"|"patch"|"append", ...] array
// of the right arity and types, keys named `__proto__` (AD8), and on arrays
// (AD7) keys that are not canonical indexes ("0", "17"; not "01", "-1", "1e2")
// or that point past the end. A put at index == length appends one item; a
// delete of an index sets the item to null, which is what JavaScript's hole
// serialises to, and never shifts the items after it.
[[nodiscard]] std::optional<json::object> apply_object_diff(const json::object& object,
                                                            const proto::object_diff& diff);
[[nodiscard]] std::optional<json::array> apply_object_diff(const json::array& array,
                                                           const proto::object_diff& diff);
// AD6: a value that is neither an object nor an array is never patched.
[[nodiscard]] std::optional<json::value> apply_value_diff(const json::value& value,
                                                          const proto::object_diff& diff);

// ND1: the RecordsDiff a transaction produced, by record id.
struct records_diff {
    struct update {
        std::string id;
        json::object from;
        json::object to;
    };
    std::vector<std::pair<std::string, json::object>> added;
    std::vector<update> updated;
    std::vector<std::string> removed;
};

// ND1: added -> put, updated -> patch (omitted when diff_record finds nothing),
// removed -> remove. nullopt when the result would be empty. Takes the diff by
// value so callers that are done with it can move the records in.
[[nodiscard]] std::optional<proto::network_diff> get_network_diff(records_diff diff,
                                                                  bool legacy_append_mode = false);

} // namespace tlsync::core
