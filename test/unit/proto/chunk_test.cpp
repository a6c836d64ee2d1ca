// chunk() and chunk_assembler against tldraw's CH1-CH9 rules. Expected
// outputs are those of the JavaScript implementation.

#include "proto/chunk.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <string>
#include <vector>

using namespace tlsync;
using namespace tlsync::proto;

namespace {

using strings = std::vector<std::string>;

std::string body(const std::string& piece) { return piece.substr(piece.find('_') + 1); }

std::string join_bodies(const strings& pieces) {
    std::string s;
    for (const auto& p : pieces) s += body(p);
    return s;
}

bool is_pending(const assembly_result& r) { return std::holds_alternative<std::monostate>(r); }

assembled_message done(const assembly_result& r) { // by value: callers pass temporaries
    BOOST_TEST_REQUIRE(std::holds_alternative<assembled_message>(r));
    return std::get<assembled_message>(r);
}

assembly_error failed(const assembly_result& r) {
    BOOST_TEST_REQUIRE(std::holds_alternative<assembly_error>(r));
    return std::get<assembly_error>(r);
}

void check_usable(chunk_assembler& a) {
    BOOST_TEST(a.idle());
    BOOST_TEST(done(a.handle_message(R"({"ok": true})")).value.at("ok").as_bool());
}

} // namespace

BOOST_AUTO_TEST_SUITE(proto_chunk)

BOOST_AUTO_TEST_CASE(CH1_short_messages_are_one_chunk) {
    BOOST_TEST(chunk("hello", 100) == strings{"hello"});
    BOOST_TEST(chunk(std::string(9, 'x'), 10) == strings{std::string(9, 'x')});
    BOOST_TEST(chunk("", 100) == strings{""});
    BOOST_TEST(chunk(std::string(262143, 'x')).size() == 1u);
    // Lengths are UTF-16 lengths: 4 emoji are 8 units, 16 UTF-8 bytes.
    BOOST_TEST(chunk("🎨🎨🎨🎨", 9).size() == 1u);
    BOOST_TEST(chunk("🎨🎨🎨🎨", 8).size() > 1u);
}

BOOST_AUTO_TEST_CASE(CH1_length_equal_to_max_is_chunked) {
    const auto r = chunk(std::string(10, 'x'), 10);
    BOOST_TEST(r.size() > 1u);
    BOOST_TEST(r[0].starts_with(std::to_string(r.size() - 1) + "_"));
    BOOST_TEST(chunk(std::string(262144, 'x')).size() > 1u);
}

BOOST_AUTO_TEST_CASE(CH2_countdown_prefixes_match_upstream) {
    BOOST_TEST(chunk("hello there my good world", 5) ==
               (strings{"8_h", "7_ell", "6_o t", "5_her", "4_e m", "3_y g", "2_ood", "1_ wo", "0_rld"}));
    BOOST_TEST(chunk("hello there my good world", 10) ==
               (strings{"3_h", "2_ello the", "1_re my go", "0_od world"}));
}

BOOST_AUTO_TEST_CASE(CH2_bodies_reconstruct_the_message) {
    const std::string original = "hello world this is a long message";
    BOOST_TEST(join_bodies(chunk(original, 8)) == original);
    const std::string big(1000000, 'a');
    const auto pieces = chunk(big, 10000);
    BOOST_TEST(pieces.size() > 1u);
    BOOST_TEST(join_bodies(pieces) == big);
}

BOOST_AUTO_TEST_CASE(CH3_chunks_fit_max_size) {
    for (const auto& c : chunk("hello world this is a long message", 15)) BOOST_TEST(c.size() <= 15u);
    BOOST_TEST(chunk("dark and stormy tonight", 4) ==
               (strings{"12_d", "11_a", "10_r", "9_k ", "8_an", "7_d ", "6_st", "5_or", "4_my",
                        "3_ t", "2_on", "1_ig", "0_ht"}));
}

BOOST_AUTO_TEST_CASE(CH3_every_chunk_carries_content_even_when_prefix_exceeds_max) {
    BOOST_TEST(chunk("once upon a time", 1) ==
               (strings{"15_o", "14_n", "13_c", "12_e", "11_ ", "10_u", "9_p", "8_o", "7_n", "6_ ",
                        "5_a", "4_ ", "3_t", "2_i", "1_m", "0_e"}));
    BOOST_TEST(chunk("ab", 0) == (strings{"1_a", "0_b"}));
}

BOOST_AUTO_TEST_CASE(CH9_surrogate_pairs_are_never_split) {
    // Every body must be valid UTF-8 on its own, i.e. cut between code points.
    const std::string emoji = "🎨🎨🎨🎨🎨🎨🎨🎨🎨🎨📐📐📐📐📐📐📐📐📐📐🗼️🗼️🗼️";
    for (std::size_t max = 1; max < 30; ++max) {
        const auto pieces = chunk(emoji, max);
        BOOST_TEST(join_bodies(pieces) == emoji);
        for (const auto& p : pieces) {
            const auto b = body(p);
            BOOST_TEST(!b.empty());
            BOOST_TEST(utf16_length(b) * 4 >= b.size()); // no stray bytes counted
            const auto first = static_cast<unsigned char>(b[0]);
            BOOST_TEST((first & 0xC0) != 0x80, "body starts mid code point at max " << max);
            // Over max only when a one-unit budget had to grow to a whole pair.
            const auto prefix = p.size() - b.size();
            BOOST_TEST(utf16_length(p) <= std::max(max, prefix + 2));
        }
    }
}

BOOST_AUTO_TEST_CASE(CH9_boundary_shrinks_or_grows_by_one) {
    // No pair straddles a boundary: identical to upstream.
    BOOST_TEST(chunk("ab🎨", 4) == (strings{"1_ab", "0_🎨"}));
    // Budget 1 ("0_" at max 3) would take half a pair: the chunk grows to hold it.
    BOOST_TEST(chunk("a🎨", 3) == (strings{"1_a", "0_🎨"}));
    // Budget 2 would take "\udfa8b": the chunk shrinks to "b".
    BOOST_TEST(chunk("x🎨b", 4) == (strings{"2_x", "1_🎨", "0_b"}));
    // Pure BMP text is unaffected (matches upstream exactly).
    BOOST_TEST(chunk("é中éé", 3) == (strings{"3_é", "2_中", "1_é", "0_é"}));
}

BOOST_AUTO_TEST_CASE(CH4_whole_json_is_parsed_immediately) {
    chunk_assembler a;
    const auto& r = done(a.handle_message(R"({"key": "value"})"));
    BOOST_TEST(r.text == R"({"key": "value"})");
    BOOST_TEST(r.value.at("key").as_string() == "value");
    BOOST_TEST(done(a.handle_message("{}")).value.as_object().empty());
}

BOOST_AUTO_TEST_CASE(CH4_invalid_json_while_idle_is_an_error_that_rejects) {
    chunk_assembler a;
    const auto& e = failed(a.handle_message("{not valid json"));
    BOOST_TEST((e.code == assembly_errc::invalid_json));
    BOOST_TEST(e.rejects_session());
    check_usable(a);
}

BOOST_AUTO_TEST_CASE(CH5_non_chunk_mid_sequence_resets) {
    chunk_assembler a;
    BOOST_TEST(is_pending(a.handle_message("2_hello")));
    BOOST_TEST(!a.idle());
    const auto& e = failed(a.handle_message(R"({"interrupt": true})"));
    BOOST_TEST(e.message == "Unexpected non-chunk message");
    BOOST_TEST((e.code == assembly_errc::unexpected_non_chunk));
    BOOST_TEST(!e.rejects_session());
    check_usable(a);

    const auto pieces = chunk(R"({"hello": world"})", 10);
    BOOST_TEST(is_pending(a.handle_message(pieces[0])));
    BOOST_TEST(is_pending(a.handle_message(pieces[1])));
    BOOST_TEST(failed(a.handle_message(R"({"hello": "world"})")).message == "Unexpected non-chunk message");
    check_usable(a);
}

BOOST_AUTO_TEST_CASE(CH6_chunks_accumulate_until_the_last) {
    std::string text = "{";
    for (int i = 0; i < 1000; ++i) text += (i ? "," : "") + ("\"key_" + std::to_string(i) + "\":\"value_" + std::to_string(i) + "\"");
    text += "}";
    for (std::size_t size : {1u, 5u, 20u, 200u}) {
        chunk_assembler a;
        const auto pieces = chunk(text, size);
        for (std::size_t i = 0; i + 1 < pieces.size(); ++i) BOOST_TEST(is_pending(a.handle_message(pieces[i])));
        const auto r = a.handle_message(pieces.back());
        BOOST_TEST(done(r).text == text);
        BOOST_TEST(done(r).value.at("key_999").as_string() == "value_999");
        check_usable(a);
    }
}

BOOST_AUTO_TEST_CASE(CH6_single_and_empty_chunks) {
    chunk_assembler a;
    const auto r = a.handle_message(R"(0_{"single": "chunk"})");
    BOOST_TEST(done(r).text == R"({"single": "chunk"})");
    BOOST_TEST(is_pending(a.handle_message("1_")));
    BOOST_TEST(done(a.handle_message(R"(0_{"test": true})")).value.at("test").as_bool());
    // Any JSON may be chunked, not just objects; the decoder rejects non-objects.
    BOOST_TEST(done(a.handle_message(R"(0_"hello")")).value.as_string() == "hello");
}

BOOST_AUTO_TEST_CASE(CH6_invalid_assembled_json_is_an_error_and_resets) {
    chunk_assembler a;
    const auto pieces = chunk(R"({"hello": world"})", 5);
    for (std::size_t i = 0; i + 1 < pieces.size(); ++i) BOOST_TEST(is_pending(a.handle_message(pieces[i])));
    const auto& e = failed(a.handle_message(pieces.back()));
    BOOST_TEST((e.code == assembly_errc::invalid_chunked_json));
    BOOST_TEST(!e.rejects_session());
    check_usable(a);
    BOOST_TEST(is_pending(a.handle_message(R"(1_{"invalid":)")));
    BOOST_TEST((failed(a.handle_message("0_ }")).code == assembly_errc::invalid_chunked_json));
}

BOOST_AUTO_TEST_CASE(CH7_wrong_order_is_an_error_and_resets) {
    chunk_assembler a;
    const auto pieces = chunk(R"({"hello": world"})", 10);
    BOOST_TEST(is_pending(a.handle_message(pieces[0])));
    BOOST_TEST(failed(a.handle_message(pieces[2])).message == "Chunks received in wrong order");
    check_usable(a);
    BOOST_TEST(is_pending(a.handle_message("2_part1")));
    const auto& e = failed(a.handle_message("0_part3"));
    BOOST_TEST((e.code == assembly_errc::wrong_order));
    check_usable(a);
    BOOST_TEST(is_pending(a.handle_message("2_[1")));
    BOOST_TEST(is_pending(a.handle_message("01_,2"))); // leading zeros are still 1
    BOOST_TEST(done(a.handle_message("0_]")).text == "[1,2]");
}

BOOST_AUTO_TEST_CASE(CH7_invalid_chunks_are_errors_and_reset) {
    chunk_assembler a;
    const auto& e = failed(a.handle_message(R"(["yo"])"));
    BOOST_TEST((e.code == assembly_errc::invalid_chunk));
    BOOST_TEST(e.message == R"(Invalid chunk: "[\"yo\"]...")");
    check_usable(a);
    BOOST_TEST(failed(a.handle_message("abc_invalid_number")).message.starts_with("Invalid chunk"));
    BOOST_TEST(is_pending(a.handle_message("1_hello")));
    BOOST_TEST((failed(a.handle_message("invalid_chunk_format")).code == assembly_errc::invalid_chunk));
    check_usable(a);
    for (auto bad : {"", "12", "_x", "-1_x", " 1_x", "１_x"})
        BOOST_TEST((failed(a.handle_message(bad)).code == assembly_errc::invalid_chunk), bad);
    // The quoted excerpt is at most 20 UTF-16 units and never cuts a code point.
    const auto& long_bad = failed(a.handle_message("x🎨🎨🎨🎨🎨🎨🎨🎨🎨🎨🎨🎨"));
    BOOST_TEST(long_bad.message == "Invalid chunk: \"x🎨🎨🎨🎨🎨🎨🎨🎨🎨...\"");
}

BOOST_AUTO_TEST_CASE(CH8_bodies_may_hold_line_separators_and_newlines) {
    chunk_assembler a;
    const std::string text = "{\"text\": \"hello\u2028world\u2029end\",\n\"n\":\"a\\nb\"}";
    const auto pieces = chunk(text, 10);
    for (std::size_t i = 0; i + 1 < pieces.size(); ++i) BOOST_TEST(is_pending(a.handle_message(pieces[i])));
    const auto r = a.handle_message(pieces.back());
    BOOST_TEST(done(r).value.at("text").as_string() == "hello\u2028world\u2029end");
    BOOST_TEST(is_pending(a.handle_message("1_\n\u2028")));
    BOOST_TEST((failed(a.handle_message("0_\r")).code == assembly_errc::invalid_chunked_json));
}

BOOST_AUTO_TEST_CASE(accumulated_bytes_are_bounded) {
    decode_limits limits;
    limits.max_message_bytes = 100;
    chunk_assembler a(limits);
    BOOST_TEST(is_pending(a.handle_message("9999999_" + std::string(60, 'x'))));
    const auto& e = failed(a.handle_message("9999998_" + std::string(60, 'x')));
    BOOST_TEST((e.code == assembly_errc::too_large));
    check_usable(a);
    BOOST_TEST((failed(a.handle_message("{" + std::string(200, ' ') + "}")).code == assembly_errc::too_large));
    // A count too large for any integer saturates; the sequence never
    // completes, but empty chunks cost nothing and full ones hit the bound.
    BOOST_TEST(is_pending(a.handle_message("99999999999999999999999999_")));
    BOOST_TEST(is_pending(a.handle_message("18446744073709551613_")));
    a.reset();
    BOOST_TEST((failed(a.handle_message("99999999999999999999999999_" + std::string(200, 'y'))).code ==
                assembly_errc::too_large));
    check_usable(a);
}

BOOST_AUTO_TEST_CASE(CH4_deep_nesting_is_an_error_not_a_crash) {
    chunk_assembler a;
    BOOST_TEST((failed(a.handle_message(std::string(100000, '{'))).code == assembly_errc::invalid_json));
    const auto pieces = chunk(std::string(100000, '['), default_chunk_size / 8);
    for (std::size_t i = 0; i + 1 < pieces.size(); ++i) BOOST_TEST(is_pending(a.handle_message(pieces[i])));
    BOOST_TEST((failed(a.handle_message(pieces.back())).code == assembly_errc::invalid_chunked_json));
}

BOOST_AUTO_TEST_SUITE_END()
