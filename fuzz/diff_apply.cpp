// applyObjectDiff (core/diff_apply.cpp) and diffRecord (core/diff.cpp). The
// input is up to three JSON texts, one per line: a value, an object diff and
// another value. Checked:
//  * an untrusted diff, raw or as the push decoder validates it, is applied
//    to the first value without crashing, never modifies its inputs, and
//    gives a value of the same kind;
//  * when both values are objects (without `__proto__` keys, which AD8 makes
//    appliers skip, or numbers beyond double range), diff_record(first, third) (plain, legacy and guided by
//    the diff) sent through the wire and applied to the first gives the
//    third; no diff means the two are equal.

#include "check.hpp"
#include "core/diff.hpp"
#include "proto/codec.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

using namespace tlsync;

namespace {

proto::decode_limits limits() {
    proto::decode_limits l;
    l.max_message_bytes = 1 << 16;
    l.max_depth = 24;
    return l;
}

std::optional<json::value> parse(std::string_view text) {
    auto v = proto::parse_json(text, limits());
    if (!v) return std::nullopt;
    return std::move(v.value());
}

std::string show(const json::value& v) { return proto::encode_json(v); }

// Values a diff cannot carry exactly, at any depth: a key named `__proto__`
// (appliers skip it, AD8) and a number out of double range such as 1e3004
// (parsed as infinity, written as null, as JSON.stringify does).
bool cannot_round_trip(const json::value& v) {
    if (const auto* d = v.if_double()) return !std::isfinite(*d);
    if (const auto* o = v.if_object()) {
        for (const auto& kv : *o)
            if (kv.key() == "__proto__" || cannot_round_trip(kv.value())) return true;
    } else if (const auto* a = v.if_array()) {
        for (const auto& e : *a)
            if (cannot_round_trip(e)) return true;
    }
    return false;
}

// The diff as the codec hands it to the room: validated and normalised.
std::optional<proto::object_diff> validated(const json::object& diff) {
    json::object push{{"type", "push"}, {"clientClock", 1}};
    json::object ops;
    ops["r:1"] = json::array{"patch", diff};
    push["diff"] = std::move(ops);
    auto m = proto::decode_client_message(json::value(std::move(push)), limits());
    if (!m) return std::nullopt;
    const auto& p = std::get<proto::push_request>(m.value());
    return p.diff->find("r:1")->value;
}

void apply_untrusted(const json::value& target, const json::object& diff) {
    const json::value before = target;
    const json::object diff_before = diff;
    const auto result = core::apply_value_diff(target, diff);
    FUZZ_CHECK(deep_equal(before, target) && deep_equal(diff_before, diff), "inputs modified");
    if (!result) return;
    FUZZ_CHECK(result->kind() == target.kind(), "kind changed: %s -> %s", show(target).c_str(),
               show(*result).c_str());
}

void round_trip(const json::object& prev, const json::object& next, std::optional<proto::object_diff> d,
                const char* how) {
    if (!d) {
        FUZZ_CHECK(deep_equal(prev, next), "%s: no diff for %s -> %s", how, show(prev).c_str(),
                   show(next).c_str());
        return;
    }
    // What a peer receives: the diff after a trip through the wire and the decoder.
    auto wire = parse(show(*d));
    FUZZ_CHECK(wire && wire->is_object(), "%s: diff does not survive the wire: %s", how, show(*d).c_str());
    auto checked = validated(wire->as_object());
    FUZZ_CHECK(checked.has_value(), "%s: the decoder refuses the diff %s", how, show(*d).c_str());
    const auto applied = core::apply_object_diff(prev, *checked);
    FUZZ_CHECK(applied && deep_equal(*applied, next), "%s: diff %s\n  from %s\n  to   %s\n  gave %s", how,
               show(*d).c_str(), show(prev).c_str(), show(next).c_str(),
               applied ? show(*applied).c_str() : "nothing");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    std::string_view texts[3];
    for (auto& t : texts) {
        const auto nl = input.find('\n');
        t = input.substr(0, nl);
        input = nl == std::string_view::npos ? std::string_view{} : input.substr(nl + 1);
    }
    const auto first = parse(texts[0]);
    const auto diff = parse(texts[1]);
    const auto third = parse(texts[2]);

    if (first && diff && diff->is_object()) {
        apply_untrusted(*first, diff->as_object());
        if (auto v = validated(diff->as_object())) apply_untrusted(*first, *v);
    }
    if (first && third && first->is_object() && third->is_object() && !cannot_round_trip(*first) &&
        !cannot_round_trip(*third)) {
        const auto& prev = first->as_object();
        const auto& next = third->as_object();
        round_trip(prev, next, core::diff_record(prev, next), "diff_record");
        round_trip(prev, next, core::diff_record(prev, next, true), "diff_record(legacy)");
        if (diff && diff->is_object())
            if (auto requested = validated(diff->as_object()))
                round_trip(prev, next, core::diff_record_guided(prev, next, *requested), "diff_record_guided");
    }
    return 0;
}
