// Applying diffs: apply_object_diff (AD1-AD8).
//
// Ops are evaluated against the untouched input (as JavaScript reads `object[key]`
// from the original), collected, and only then is the output built in one pass.
// That way nothing is copied when no op has an effect (AD1), and a value that an
// op replaces is never copied just to be overwritten.

#include "core/diff.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <limits>
#include <string_view>
#include <vector>

namespace tlsync::core {
namespace {

using proto::object_diff;

constexpr std::size_t new_key = std::numeric_limits<std::size_t>::max();

struct change {
    std::size_t pos = new_key;        // index in the input, new_key for an added key
    std::string_view key;             // objects only; points into the diff
    std::optional<json::value> value; // nullopt: remove the key
};

// What one op does to the current value (nullptr when absent).
struct effect {
    enum class kind { none, set, erase } what = kind::none;
    json::value value;

    static effect none() { return {}; }
    static effect set(json::value v) { return {kind::set, std::move(v)}; }
    static effect erase() { return {kind::erase, {}}; }
};

// Canonical array index only: "0", "42"; not "", "01", "-1", "+1", "1e2", " 1".
std::optional<std::size_t> parse_index(std::string_view key) noexcept {
    if (key.empty() || (key.size() > 1 && key.front() == '0')) return std::nullopt;
    std::size_t index = 0;
    const auto* end = key.data() + key.size();
    const auto [ptr, ec] = std::from_chars(key.data(), end, index);
    if (ec != std::errc{} || ptr != end) return std::nullopt;
    return index;
}

// JavaScript's `length === offset` for an offset that may be stored as any
// JSON number kind (e.g. 5.0 from a client that serialised a float).
bool offset_matches(const json::value& offset, std::size_t length) noexcept {
    switch (offset.kind()) {
    case json::kind::int64:
        return offset.get_int64() >= 0 && static_cast<std::uint64_t>(offset.get_int64()) == length;
    case json::kind::uint64:
        return offset.get_uint64() == length;
    case json::kind::double_:
        return offset.get_double() == static_cast<double>(length);
    default:
        return false;
    }
}

effect apply_append(const json::value* current, const json::array& op) {
    if (!current || op.size() != 3) return effect::none();
    const auto& added = op[1];
    const auto& offset = op[2];
    if (current->is_string() && added.is_string()) {
        const auto& text = current->get_string();
        if (!offset_matches(offset, utf16_length(text))) return effect::none();
        json::string joined;
        joined.reserve(text.size() + added.get_string().size());
        joined.append(text);
        joined.append(added.get_string());
        return effect::set(std::move(joined));
    }
    if (current->is_array() && added.is_array()) {
        const auto& items = current->get_array();
        if (!offset_matches(offset, items.size())) return effect::none();
        json::array joined;
        joined.reserve(items.size() + added.get_array().size());
        joined.insert(joined.end(), items.begin(), items.end());
        joined.insert(joined.end(), added.get_array().begin(), added.get_array().end());
        return effect::set(std::move(joined));
    }
    return effect::none();
}

effect evaluate(const json::value* current, const json::value& op_value, bool in_array) {
    if (!op_value.is_array()) return effect::none();
    const auto& op = op_value.get_array();
    if (op.empty() || !op[0].is_string()) return effect::none();
    const std::string_view type = op[0].get_string();

    if (type == "put") {
        if (op.size() != 2) return effect::none();
        if (current && deep_equal(*current, op[1])) return effect::none(); // AD2
        return effect::set(op[1]);
    }
    if (type == "append") return apply_append(current, op); // AD3
    if (type == "patch") {                                  // AD4
        if (op.size() != 2 || !op[1].is_object() || !current) return effect::none();
        auto patched = apply_value_diff(*current, op[1].get_object());
        return patched ? effect::set(std::move(*patched)) : effect::none();
    }
    if (type == "delete") { // AD5
        if (op.size() != 1 || !current) return effect::none();
        if (!in_array) return effect::erase();
        // JavaScript leaves a hole, which JSON carries as null; removing the
        // item instead would shift every later index.
        return current->is_null() ? effect::none() : effect::set(nullptr);
    }
    return effect::none();
}

// Changes arrive in diff order; the output is built in input order.
void sort_by_position(std::vector<change>& changes) {
    const auto by_pos = [](const change& a, const change& b) { return a.pos < b.pos; };
    // Diffs we compute list keys in record order already; skip the sort's buffer.
    if (!std::is_sorted(changes.begin(), changes.end(), by_pos))
        std::stable_sort(changes.begin(), changes.end(), by_pos);
}

} // namespace

std::optional<json::object> apply_object_diff(const json::object& object, const object_diff& diff) {
    std::vector<change> changes;
    std::size_t added = 0;
    for (const auto& [key, op] : diff) {
        if (key == "__proto__") continue; // AD8
        const auto it = object.find(key);
        const bool present = it != object.end();
        auto result = evaluate(present ? &it->value() : nullptr, op, false);
        if (result.what == effect::kind::none) continue;
        change c{present ? static_cast<std::size_t>(it - object.begin()) : new_key, key, {}};
        if (result.what == effect::kind::set) c.value = std::move(result.value);
        if (!present) ++added;
        changes.push_back(std::move(c));
    }
    if (changes.empty()) return std::nullopt; // AD1
    sort_by_position(changes);

    json::object out;
    out.reserve(object.size() + added);
    auto next = changes.begin();
    std::size_t pos = 0;
    for (const auto& entry : object) {
        if (next != changes.end() && next->pos == pos) {
            if (next->value) out.emplace(entry.key(), std::move(*next->value));
            while (next != changes.end() && next->pos == pos)
                ++next;
        } else {
            out.emplace(entry.key(), entry.value());
        }
        ++pos;
    }
    for (; next != changes.end(); ++next)
        if (next->value) out.emplace(next->key, std::move(*next->value));
    return out;
}

std::optional<json::array> apply_object_diff(const json::array& array, const object_diff& diff) {
    std::vector<change> changes;
    for (const auto& [key, op] : diff) {
        // AD7: JavaScript would grow a sparse array for a far index, or set a
        // named property that JSON drops; neither is worth the memory.
        const auto index = parse_index(key);
        if (!index || *index > array.size()) continue;
        const json::value* current = *index < array.size() ? &array[*index] : nullptr;
        auto result = evaluate(current, op, true);
        if (result.what != effect::kind::set) continue;
        changes.push_back({*index, {}, std::move(result.value)});
    }
    if (changes.empty()) return std::nullopt; // AD1
    sort_by_position(changes);

    json::array out;
    out.reserve(array.size() + 1);
    auto next = changes.begin();
    for (std::size_t i = 0; i <= array.size(); ++i) {
        if (next != changes.end() && next->pos == i) {
            out.emplace_back(std::move(*next->value));
            while (next != changes.end() && next->pos == i)
                ++next;
        } else if (i < array.size()) {
            out.emplace_back(array[i]);
        }
    }
    return out;
}

std::optional<json::value> apply_value_diff(const json::value& value, const object_diff& diff) {
    if (value.is_object()) {
        if (auto patched = apply_object_diff(value.get_object(), diff))
            return json::value(std::move(*patched));
    } else if (value.is_array()) {
        if (auto patched = apply_object_diff(value.get_array(), diff))
            return json::value(std::move(*patched));
    }
    return std::nullopt; // AD6, or nothing changed
}

} // namespace tlsync::core
