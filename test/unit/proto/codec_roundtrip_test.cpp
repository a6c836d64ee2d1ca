// Round trips: encode -> decode gives back the message, for hand-picked
// messages and for a few thousand pseudo-random ones (fixed seed).

#include "proto/chunk.hpp"
#include "proto/codec.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <bit>
#include <cstring>
#include <random>

using namespace tlsync;
using namespace tlsync::proto;

namespace {

// Boost.Test evaluates a check's message even when the check passes.
template <class T>
std::string why(const decode_result<T>& r) {
    return r.has_value() ? std::string() : r.error().detail;
}

// ---------------------------------------------------------------- equality

bool same(const connect_request& a, const connect_request& b) {
    return a.connect_request_id == b.connect_request_id &&
           a.last_server_clock == b.last_server_clock && a.protocol_version == b.protocol_version &&
           a.schema.has_value() == b.schema.has_value() &&
           (!a.schema || deep_equal(*a.schema, *b.schema));
}
bool same(const push_request& a, const push_request& b) {
    return a.client_clock == b.client_clock && a.diff == b.diff && a.presence == b.presence;
}
bool same(const ping_request&, const ping_request&) { return true; }
bool same(const patch_event& a, const patch_event& b) {
    return a.diff == b.diff && a.server_clock == b.server_clock;
}
bool same(const push_result_event& a, const push_result_event& b) {
    return a.client_clock == b.client_clock && a.server_clock == b.server_clock &&
           a.action == b.action && a.rebase_diff == b.rebase_diff;
}
bool same(const data_event& a, const data_event& b) {
    return a.index() == b.index() &&
           std::visit([&](const auto& x) { return same(x, std::get<std::decay_t<decltype(x)>>(b)); }, a);
}
bool same(const connect_event& a, const connect_event& b) {
    return a.hydration == b.hydration && a.connect_request_id == b.connect_request_id &&
           a.protocol_version == b.protocol_version && deep_equal(a.schema, b.schema) &&
           a.diff == b.diff && a.server_clock == b.server_clock && a.is_readonly == b.is_readonly;
}
bool same(const data_message& a, const data_message& b) {
    if (a.data.size() != b.data.size()) return false;
    for (std::size_t i = 0; i < a.data.size(); ++i)
        if (!same(a.data[i], b.data[i])) return false;
    return true;
}
bool same(const pong_event&, const pong_event&) { return true; }
bool same(const custom_event& a, const custom_event& b) { return deep_equal(a.data, b.data); }
bool same(const incompatibility_error_event& a, const incompatibility_error_event& b) {
    return a.reason == b.reason;
}
template <class... T>
bool same(const std::variant<T...>& a, const std::variant<T...>& b) {
    return a.index() == b.index() &&
           std::visit([&](const auto& x) { return same(x, std::get<std::decay_t<decltype(x)>>(b)); }, a);
}

// ---------------------------------------------------------------- generator

class generator {
public:
    explicit generator(std::uint64_t seed) : rng_(seed) {}

    std::size_t below(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_); }
    bool coin() { return below(2) == 0; }

    std::string text() {
        static constexpr std::string_view pieces[] = {
            "a", "Z", "0", " ", "_", ":", "\"", "\\", "/", "\n", "\t", std::string_view("\0", 1),
            "\x1f", "\x7f", "é", "ß", "中", "\u2028", "\u2029", "🎨", "📐", "👩‍💻", "{", "[", "1_",
        };
        std::string s;
        for (std::size_t n = below(12); n > 0; --n) s += pieces[below(std::size(pieces))];
        return s;
    }

    json::value number() {
        switch (below(4)) {
        case 0: return static_cast<std::int64_t>(rng_());
        case 1: return std::int64_t(below(2000)) - 1000;
        case 2: return std::uniform_real_distribution<double>(-1e6, 1e6)(rng_);
        default: {
            double d = std::bit_cast<double>(rng_());
            return std::isfinite(d) ? d : 0.5;
        }
        }
    }

    json::value value(int depth) {
        switch (below(depth > 0 ? 7 : 5)) {
        case 0: return nullptr;
        case 1: return coin();
        case 2: return number();
        case 3:
        case 4: return json::string(text());
        case 5: {
            json::array a;
            for (std::size_t n = below(4); n > 0; --n) a.push_back(value(depth - 1));
            return a;
        }
        default: return object(depth - 1);
        }
    }

    json::object object(int depth) {
        json::object o;
        for (std::size_t n = below(5); n > 0; --n) o[text()] = value(depth);
        return o;
    }

    json::object object_diff(int depth) {
        json::object d;
        for (std::size_t n = below(4); n > 0; --n) {
            json::array op;
            switch (below(depth > 0 ? 4 : 3)) {
            case 0: op = {"put", value(2)}; break;
            case 1: op = {"delete"}; break;
            case 2:
                op = {"append", coin() ? json::value(json::string(text())) : json::value(json::array{1, "x"}),
                      std::int64_t(below(100))};
                break;
            default: op = {"patch", object_diff(depth - 1)}; break;
            }
            d[text()] = std::move(op);
        }
        return d;
    }

    record_op op(bool allow_remove = true) {
        switch (below(allow_remove ? 3 : 2)) {
        case 0: return record_op::put(object(3));
        case 1: return record_op::patch(object_diff(3));
        default: return record_op::remove();
        }
    }

    network_diff diff() {
        network_diff d;
        for (std::size_t n = below(5); n > 0; --n) d.set("shape:" + text(), op());
        return d;
    }

    std::int64_t clock() { return static_cast<std::int64_t>(rng_() >> 1) * (coin() ? 1 : -1); }

    client_message client() {
        switch (below(3)) {
        case 0: {
            connect_request m{text(), clock(), {}, {}};
            if (coin()) m.protocol_version = std::int64_t(below(10));
            if (coin()) m.schema = object(3);
            return m;
        }
        case 1: {
            push_request m{clock(), {}, {}};
            if (coin()) m.diff = diff();
            if (coin()) m.presence = op(false);
            return m;
        }
        default: return ping_request{};
        }
    }

    data_event event() {
        if (coin()) return patch_event{diff(), clock()};
        push_result_event e{clock(), clock(), static_cast<push_action>(below(3)), {}};
        if (e.action == push_action::rebase_with_diff) e.rebase_diff = diff();
        return e;
    }

    server_message server() {
        switch (below(7)) {
        case 0: {
            connect_event e;
            e.hydration = coin() ? hydration_type::wipe_all : hydration_type::wipe_presence;
            e.connect_request_id = text();
            e.schema = object(2);
            e.diff = diff();
            e.server_clock = clock();
            e.is_readonly = coin();
            return e;
        }
        case 1: {
            data_message m;
            for (std::size_t n = below(4); n > 0; --n) m.data.push_back(event());
            return m;
        }
        case 2: return pong_event{};
        case 3: return custom_event{value(3)};
        case 4: return incompatibility_error_event{static_cast<incompatibility_reason>(below(4))};
        case 5: return std::get<patch_event>(data_event{patch_event{diff(), clock()}});
        default: return push_result_event{clock(), clock(), push_action::discard, {}};
        }
    }

private:
    std::mt19937_64 rng_;
};

} // namespace

BOOST_AUTO_TEST_SUITE(proto_codec)

BOOST_AUTO_TEST_CASE(ND1_client_messages_round_trip_property) {
    generator gen(0x7157'2024);
    for (int i = 0; i < 3000; ++i) {
        const auto m = gen.client();
        const auto text = encode(m);
        auto back = decode_client_message(text);
        BOOST_TEST_REQUIRE(back.has_value(), "case " << i << ": " << why(back) << "\n" << text);
        BOOST_TEST_REQUIRE(same(m, back.value()), "case " << i << " differs:\n" << text);
        BOOST_TEST_REQUIRE(encode(back.value()) == text, "case " << i << " re-encodes differently");
    }
}

BOOST_AUTO_TEST_CASE(ND1_server_messages_round_trip_property) {
    generator gen(0x5e7e'2024);
    for (int i = 0; i < 3000; ++i) {
        const auto m = gen.server();
        const auto text = encode(m);
        auto back = decode_server_message(text);
        BOOST_TEST_REQUIRE(back.has_value(), "case " << i << ": " << why(back) << "\n" << text);
        BOOST_TEST_REQUIRE(same(m, back.value()), "case " << i << " differs:\n" << text);
        BOOST_TEST_REQUIRE(encode(back.value()) == text, "case " << i << " re-encodes differently");
    }
}

BOOST_AUTO_TEST_CASE(CH2_CH6_messages_survive_chunking_and_assembly) {
    generator gen(42);
    chunk_assembler assembler;
    for (int i = 0; i < 500; ++i) {
        const auto m = gen.client();
        const auto text = encode(m);
        const auto pieces = chunk(text, 1 + gen.below(64));
        for (std::size_t p = 0; p + 1 < pieces.size(); ++p)
            BOOST_TEST_REQUIRE(std::holds_alternative<std::monostate>(assembler.handle_message(pieces[p])));
        auto r = assembler.handle_message(pieces.back());
        BOOST_TEST_REQUIRE(std::holds_alternative<assembled_message>(r));
        auto& done = std::get<assembled_message>(r);
        BOOST_TEST_REQUIRE(done.text == text);
        auto back = decode_client_message(std::move(done.value));
        BOOST_TEST_REQUIRE(back.has_value());
        BOOST_TEST_REQUIRE(same(m, back.value()));
    }
}

BOOST_AUTO_TEST_CASE(doubles_are_parsed_exactly) {
    // Boost.JSON 1.81 alone gets these an ulp wrong; JavaScript does not.
    generator gen(7);
    for (int i = 0; i < 20000; ++i) {
        const json::value v = gen.number();
        const auto text = encode_json(v);
        auto back = parse_json(text);
        BOOST_TEST_REQUIRE(back.has_value());
        BOOST_TEST_REQUIRE(deep_equal(v, back.value()), text);
        BOOST_TEST_REQUIRE(encode_json(back.value()) == text);
    }
    auto split = parse_json("[0.1,1e400,-1e-400,123456789012345678901234567890]");
    BOOST_TEST_REQUIRE(split.has_value());
    BOOST_TEST(split->at(0).as_double() == 0.1);
    BOOST_TEST(split->at(3).as_double() == 123456789012345678901234567890.0);
}

BOOST_AUTO_TEST_CASE(real_tldraw_push_round_trips_through_text) {
    const std::string_view text =
        R"({"type":"push","clientClock":3,"diff":{"shape:x":["patch",{"x":["put",312.123456789],)"
        R"("props":["patch",{"richText":["put",{"type":"doc","content":[]}]}]}]},)"
        R"("presence":["put",{"cursor":{"x":0.30000000000000004,"y":-17.5}}]})";
    auto m = decode_client_message(text);
    BOOST_TEST_REQUIRE(m.has_value());
    BOOST_TEST(encode(m.value()) == text);
}

BOOST_AUTO_TEST_SUITE_END()
