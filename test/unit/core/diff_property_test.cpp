// Property tests for diff_record / apply_object_diff over random records
// (fixed seeds, so failures reproduce).

#include "core/diff.hpp"
#include "diff_test_util.hpp"

#include <array>
#include <cstdint>
#include <random>
#include <string>

using namespace tlsync;

namespace {

class generator {
  public:
    explicit generator(std::uint64_t seed) : rng_(seed) {}

    int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
    bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }

    json::string text() {
        // Mixed widths: 1-byte ASCII, 2-byte é, 3-byte 中, 4-byte emoji (a
        // surrogate pair in UTF-16) and a modifier sequence.
        static constexpr std::array<const char*, 9> pieces = {"a", "b",        " ",  "é",  "中",
                                                              "😀", "👍🏽", "\n", "xyz"};
        json::string s;
        for (int n = pick(5); n > 0; --n)
            s.append(pieces[static_cast<std::size_t>(pick(pieces.size()))]);
        return s;
    }

    json::value number() {
        switch (pick(6)) {
        case 0:
            return pick(7) - 3;
        case 1:
            return static_cast<double>(pick(7) - 3); // 1.0 next to 1
        case 2:
            return (pick(9) - 4) / 4.0;
        case 3:
            return std::uint64_t{1} << 63 | static_cast<std::uint64_t>(pick(4));
        case 4:
            return -(std::int64_t{1} << 40) - pick(4);
        default:
            return pick(2) ? 0.1 : 1e300;
        }
    }

    json::value scalar() {
        switch (pick(5)) {
        case 0:
            return nullptr;
        case 1:
            return chance(0.5);
        case 2:
            return number();
        default:
            return text();
        }
    }

    json::value value(int depth) {
        if (depth <= 0 || chance(0.45)) return scalar();
        if (chance(0.5)) return object(depth - 1);
        return array(depth - 1);
    }

    json::object object(int depth) {
        static constexpr std::array<const char*, 10> keys = {"a",    "b",     "c",    "x", "y",
                                                             "text", "props", "meta", "0", "é"};
        json::object o;
        for (int n = pick(6); n > 0; --n)
            o[keys[static_cast<std::size_t>(pick(keys.size()))]] = value(depth);
        return o;
    }

    json::array array(int depth) {
        json::array a;
        const bool points = chance(0.3);
        for (int n = pick(9); n > 0; --n) {
            if (points)
                a.emplace_back(json::object{{"x", number()}, {"y", number()}});
            else
                a.emplace_back(value(depth));
        }
        return a;
    }

    json::object record() {
        json::object r{{"id", "shape:" + std::to_string(pick(100))}, {"typeName", "shape"}};
        r["x"] = number();
        r["name"] = text();
        r["props"] = object(3);
        r["meta"] = chance(0.8) ? json::value(object(2)) : value(2);
        r["points"] = array(2);
        if (chance(0.3)) r["camera"] = object(1);
        return r;
    }

    // A copy of `v` with a few random edits, so diffs exercise patch and
    // append paths rather than always putting everything.
    json::value mutate(const json::value& v, int depth) {
        if (chance(0.08)) return value(depth);
        switch (v.kind()) {
        case json::kind::object:
            return mutate(v.get_object(), depth);
        case json::kind::array:
            return mutate(v.get_array(), depth);
        case json::kind::string: {
            json::string s = v.get_string();
            if (chance(0.6))
                s.append(text());
            else if (!s.empty() && chance(0.5))
                s.resize(code_point_boundary(s, pick(static_cast<int>(s.size()))));
            else
                s = text();
            return s;
        }
        case json::kind::int64:
            return chance(0.5) ? json::value(static_cast<double>(v.get_int64())) : number();
        default:
            return scalar();
        }
    }

    json::object mutate(const json::object& o, int depth) {
        json::object out = o;
        for (int n = pick(4); n > 0; --n) {
            if (out.empty() || chance(0.2)) {
                out["k" + std::to_string(pick(4))] = value(depth);
            } else {
                auto it = out.begin() + pick(static_cast<int>(out.size()));
                if (chance(0.2))
                    out.erase(it);
                else
                    it->value() = mutate(it->value(), depth - 1);
            }
        }
        return out;
    }

    json::array mutate(const json::array& a, int depth) {
        json::array out = a;
        switch (pick(4)) {
        case 0:
            for (int n = pick(4) + 1; n > 0; --n)
                out.emplace_back(value(depth));
            break;
        case 1:
            if (!out.empty())
                out.resize(static_cast<std::size_t>(pick(static_cast<int>(out.size()))));
            break;
        default:
            for (int n = pick(3) + 1; n > 0 && !out.empty(); --n) {
                auto& item = out[static_cast<std::size_t>(pick(static_cast<int>(out.size())))];
                item = mutate(item, depth - 1);
            }
        }
        return out;
    }

  private:
    // Truncating inside a UTF-8 sequence would make text JSON cannot carry.
    static std::size_t code_point_boundary(const json::string& s, int at) {
        auto pos = static_cast<std::size_t>(at);
        while (pos > 0 && (static_cast<unsigned char>(s[pos]) & 0xC0) == 0x80)
            --pos;
        return pos;
    }

    std::mt19937_64 rng_;
};

// Ops as an untrusted peer might send them: well-formed, wrong types, wrong
// arity, odd keys.
json::object random_diff(generator& gen, int depth) {
    static constexpr std::array<const char*, 14> keys = {
        "a", "x", "props", "meta", "points", "name",      "0",
        "1", "2", "8",     "-1",   "01",     "__proto__", "99999999999999999999"};
    static constexpr std::array<const char*, 6> types = {"put",    "delete", "patch",
                                                         "append", "remove", ""};
    json::object diff;
    for (int n = gen.pick(4); n > 0; --n) {
        json::array op;
        if (gen.chance(0.9))
            op.emplace_back(types[static_cast<std::size_t>(gen.pick(types.size()))]);
        else
            op.emplace_back(gen.scalar());
        const json::value type = op[0]; // op grows below
        if (type == "patch" && depth > 0 && gen.chance(0.8))
            op.emplace_back(random_diff(gen, depth - 1));
        else if (type == "append" && gen.chance(0.5))
            op.emplace_back(gen.chance(0.5) ? json::value(gen.text()) : json::value(gen.array(1)));
        else if (type != "delete" || gen.chance(0.1))
            op.emplace_back(gen.value(2));
        if (type == "append" || gen.chance(0.05))
            op.emplace_back(gen.chance(0.8) ? json::value(gen.pick(12)) : gen.scalar());
        diff[keys[static_cast<std::size_t>(gen.pick(keys.size()))]] =
            gen.chance(0.95) ? json::value(std::move(op)) : gen.value(1);
    }
    return diff;
}

bool has_string_append(const json::object& diff) {
    for (const auto& [key, op_value] : diff) {
        const auto& op = op_value.as_array();
        if (op[0] == "append" && op[1].is_string()) return true;
        if (op[0] == "patch" && has_string_append(op[1].as_object())) return true;
    }
    return false;
}

void check_round_trip(const json::object& prev, const json::object& next, bool legacy) {
    const auto diff = core::diff_record(prev, next, legacy);
    if (!diff) {
        BOOST_CHECK_MESSAGE(deep_equal(prev, next), "no diff for " << json::serialize(prev)
                                                                   << " -> "
                                                                   << json::serialize(next));
        return;
    }
    if (legacy) BOOST_CHECK_MESSAGE(!has_string_append(*diff), "string append in legacy mode");
    // What a peer receives: the diff after a trip through the wire.
    const auto wire = json::parse(json::serialize(*diff)).as_object();
    const auto applied = core::apply_object_diff(prev, wire);
    BOOST_CHECK_MESSAGE(applied && deep_equal(*applied, next),
                        "diff " << json::serialize(*diff) << "\n  from " << json::serialize(prev)
                                << "\n  to   " << json::serialize(next) << "\n  gave "
                                << (applied ? json::serialize(*applied) : "nothing"));
}

} // namespace

BOOST_AUTO_TEST_SUITE(diff)

BOOST_AUTO_TEST_CASE(D1_D7_AD1_AD4_random_mutations_round_trip) {
    generator gen(0x7d1ff5eed);
    for (int i = 0; i < 4000; ++i) {
        const auto prev = gen.record();
        const auto next = gen.mutate(prev, 4);
        BOOST_TEST_CONTEXT("iteration " << i) {
            check_round_trip(prev, next, false);
            check_round_trip(prev, next, true);
        }
    }
}

BOOST_AUTO_TEST_CASE(D1_D7_AD1_AD4_unrelated_records_round_trip) {
    generator gen(42);
    for (int i = 0; i < 2000; ++i) {
        const auto prev = gen.record();
        const auto next = gen.record();
        BOOST_TEST_CONTEXT("iteration " << i) {
            check_round_trip(prev, next, false);
            check_round_trip(prev, next, true);
        }
    }
}

BOOST_AUTO_TEST_CASE(D1_a_record_never_differs_from_itself) {
    generator gen(7);
    for (int i = 0; i < 2000; ++i) {
        const auto record = gen.record();
        const auto copy = record;
        BOOST_TEST(!core::diff_record(record, record));
        BOOST_TEST(!core::diff_record(record, copy));
        BOOST_TEST(!core::diff_record(record, copy, true));
    }
}

BOOST_AUTO_TEST_CASE(AD1_AD3_AD7_AD8_random_untrusted_diffs_are_safe) {
    generator gen(0xbad5eed);
    for (int i = 0; i < 5000; ++i) {
        const auto target = gen.chance(0.8) ? json::value(gen.record()) : gen.value(3);
        const auto before = target;
        const auto diff = random_diff(gen, 3);
        const auto result = core::apply_value_diff(target, diff);
        BOOST_TEST_CONTEXT("iteration " << i) {
            BOOST_TEST(deep_equal(before, target));
            if (result) BOOST_TEST(result->kind() == target.kind());
            // The result of applying a diff stays diffable and patchable.
            if (result && target.is_object()) {
                const auto again = core::diff_record(target.get_object(), result->get_object());
                const auto reapplied =
                    again ? core::apply_object_diff(target.get_object(), *again) : std::nullopt;
                BOOST_TEST(
                    deep_equal(reapplied ? *reapplied : target.get_object(), result->get_object()));
            }
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
