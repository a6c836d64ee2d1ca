#pragma once
// diffRecord / applyObjectDiff (SPEC sections 3-5: D1-D7, AD1-AD8, ND1).

#include "proto/messages.hpp"

#include <optional>

namespace tlsync::core {

// D1-D7. nullopt when there is nothing to change. With `legacy_append_mode`
// string appends become puts (array appends are unaffected).
[[nodiscard]] std::optional<proto::object_diff>
diff_record(const json::object& prev, const json::object& next, bool legacy_append_mode = false);

// AD1-AD8. nullopt when no op had an effect (JavaScript returns the same
// reference then); otherwise the patched copy.
[[nodiscard]] std::optional<json::object> apply_object_diff(const json::object& object,
                                                            const proto::object_diff& diff);
[[nodiscard]] std::optional<json::array> apply_object_diff(const json::array& array,
                                                           const proto::object_diff& diff);

} // namespace tlsync::core
