// Computing diffs: diff_record (D1-D7) and get_network_diff (ND1).
// Applying them lives in diff_apply.cpp.

#include "core/diff.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

namespace tlsync::core {
namespace {

using proto::object_diff;

json::value put_op(const json::value& value) {
    json::array op;
    op.reserve(2);
    op.emplace_back("put");
    op.emplace_back(value);
    return op;
}

json::value delete_op() {
    json::array op;
    op.emplace_back("delete");
    return op;
}

json::value patch_op(object_diff diff) {
    json::array op;
    op.reserve(2);
    op.emplace_back("patch");
    op.emplace_back(std::move(diff));
    return op;
}

json::value append_op(json::value added, std::size_t offset) {
    json::array op;
    op.reserve(3);
    op.emplace_back("append");
    op.emplace_back(std::move(added));
    op.emplace_back(static_cast<std::int64_t>(offset));
    return op;
}

class differ {
  public:
    explicit differ(bool legacy_append_mode) : legacy_append_mode_(legacy_append_mode) {}

    // `top_level` selects D3 (only props/meta nest) over D4 (objects nest).
    // `guide`, when given, is the diff a client asked for: where it puts a
    // value that did change, the result puts it too, and where it patches an
    // object the recursion follows its sub-diff (see diff_record_guided).
    std::optional<object_diff> diff_object(const json::object& prev, const json::object& next,
                                           bool top_level, const object_diff* guide = nullptr) const {
        if (&prev == &next) return std::nullopt;
        std::optional<object_diff> result;
        auto add = [&](std::string_view key, json::value op) {
            if (!result) result.emplace();
            result->emplace(key, std::move(op));
        };
        for (const auto& [key, prev_value] : prev) {
            const auto* next_value = next.if_contains(key);
            if (!next_value) {
                add(key, delete_op());
                continue;
            }
            std::optional<json::value> op;
            if (const auto* asked = guide ? guide->if_contains(key) : nullptr;
                asked && guided_op(*asked, prev_value, *next_value, op)) {
                // decided by the request
            } else if (!top_level || key == "props" || key == "meta" ||
                       same_sequence_kind(prev_value, *next_value)) {
                op = diff_value(prev_value, *next_value);
            } else if (!deep_equal(prev_value, *next_value)) {
                op = put_op(*next_value);
            }
            if (op) add(key, std::move(*op));
        }
        for (const auto& [key, next_value] : next)
            if (!prev.contains(key)) add(key, put_op(next_value));
        return result;
    }

  private:
    // Follows the client's op for one key when its form can express the
    // change: a put of a changed value stays a put; a patch of an object
    // recurses with the client's sub-diff as the guide. Returns false to
    // fall back to the D rules (anything else, malformed ops included).
    bool guided_op(const json::value& asked, const json::value& prev, const json::value& next,
                   std::optional<json::value>& op) const {
        const auto* a = asked.if_array();
        if (!a || a->size() != 2 || !(*a)[0].is_string()) return false;
        const auto& kind = (*a)[0].get_string();
        if (kind == "put") {
            if (!deep_equal(prev, next)) op = put_op(next);
            return true;
        }
        if (kind == "patch" && (*a)[1].is_object() && prev.is_object() && next.is_object()) {
            auto diff = diff_object(prev.get_object(), next.get_object(), false, &(*a)[1].get_object());
            if (diff) op = patch_op(std::move(*diff));
            return true;
        }
        return false;
    }

    static bool same_sequence_kind(const json::value& a, const json::value& b) noexcept {
        return (a.is_array() && b.is_array()) || (a.is_string() && b.is_string());
    }

    std::optional<json::value> diff_value(const json::value& prev, const json::value& next) const {
        if (prev.is_array() && next.is_array())
            return diff_array(prev.get_array(), next.get_array());
        if (prev.is_string() && next.is_string())
            return diff_string(prev.get_string(), next.get_string());
        if (prev.is_object() && next.is_object()) {
            auto diff = diff_object(prev.get_object(), next.get_object(), false);
            if (!diff) return std::nullopt;
            return patch_op(std::move(*diff));
        }
        // Mixed kinds (object vs array included), null and primitives.
        if (deep_equal(prev, next)) return std::nullopt;
        return put_op(next);
    }

    std::optional<json::value> diff_string(const json::string& prev,
                                           const json::string& next) const {
        if (prev == next) return std::nullopt;
        const std::string_view p = prev, n = next;
        // Valid UTF-8 is prefix-free per code point, so a byte prefix is a
        // UTF-16 prefix too and the suffix starts on a character boundary.
        if (!legacy_append_mode_ && n.starts_with(p))
            return append_op(json::string(n.substr(p.size())), utf16_length(p));
        return put_op(next);
    }

    std::optional<json::value> diff_array(const json::array& prev, const json::array& next) const {
        if (&prev == &next) return std::nullopt;
        if (prev.size() == next.size()) return diff_same_length(prev, next);
        // A changed shared item, or a truncation (JavaScript compares against
        // `undefined` past the end), can only be expressed as a put.
        if (next.size() < prev.size()) return put_op(next);
        for (std::size_t i = 0; i < prev.size(); ++i)
            if (!deep_equal(prev[i], next[i])) return put_op(next);
        json::array added(next.begin() + static_cast<std::ptrdiff_t>(prev.size()), next.end());
        return append_op(std::move(added), prev.size());
    }

    std::optional<json::value> diff_same_length(const json::array& prev,
                                                const json::array& next) const {
        // Real division, as in JavaScript: 7 items allow 1.4, i.e. one change.
        const double max_changes = std::max(static_cast<double>(prev.size()) / 5.0, 1.0);
        std::vector<std::size_t> changed;
        for (std::size_t i = 0; i < prev.size(); ++i) {
            if (deep_equal(prev[i], next[i])) continue;
            changed.push_back(i);
            if (static_cast<double>(changed.size()) > max_changes) return put_op(next);
        }
        if (changed.empty()) return std::nullopt;
        object_diff diff;
        diff.reserve(changed.size());
        for (const auto i : changed) {
            const auto& a = prev[i];
            const auto& b = next[i];
            std::optional<json::value> op;
            // Objects and arrays are always truthy, so D6's "truthy objects of
            // the same kind" is just a kind check.
            if ((a.is_object() && b.is_object()) || (a.is_array() && b.is_array()))
                op = diff_value(a, b);
            // Unreachable for JSON (the items differ, so the recursive diff
            // finds something), but a put keeps the patch complete regardless.
            if (!op) op = put_op(b);
            diff.emplace(std::to_string(i), std::move(*op));
        }
        return patch_op(std::move(diff));
    }

    bool legacy_append_mode_;
};

} // namespace

std::optional<proto::object_diff> diff_record(const json::object& prev, const json::object& next,
                                              bool legacy_append_mode) {
    return differ(legacy_append_mode).diff_object(prev, next, true);
}

std::optional<proto::object_diff> diff_record_guided(const json::object& prev, const json::object& next,
                                                     const proto::object_diff& requested,
                                                     bool legacy_append_mode) {
    return differ(legacy_append_mode).diff_object(prev, next, true, &requested);
}

std::optional<proto::network_diff> get_network_diff(records_diff diff, bool legacy_append_mode) {
    proto::network_diff result;
    result.reserve(diff.added.size() + diff.updated.size() + diff.removed.size());
    for (auto& [id, record] : diff.added)
        result.set(std::move(id), proto::record_op::put(std::move(record)));
    for (auto& update : diff.updated) {
        if (auto patch = diff_record(update.from, update.to, legacy_append_mode))
            result.set(std::move(update.id), proto::record_op::patch(std::move(*patch)));
    }
    for (auto& id : diff.removed)
        result.set(std::move(id), proto::record_op::remove());
    if (result.empty()) return std::nullopt;
    return result;
}

} // namespace tlsync::core
