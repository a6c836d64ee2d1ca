#pragma once
// Helpers shared by the diff_*.cpp suites: JSON literals and readable checks.

#include "proto/json.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include <optional>
#include <string_view>

namespace tlsync::test {

inline json::object obj(std::string_view text) {
    return json::parse(text).as_object();
}
inline json::array arr(std::string_view text) {
    return json::parse(text).as_array();
}

// `expected` is JSON text, or "null" for "no diff / no change".
template <class T> void check_json(const std::optional<T>& actual, std::string_view expected) {
    const auto want = json::parse(expected);
    if (want.is_null()) {
        // The message is built even when the check passes.
        BOOST_CHECK_MESSAGE(!actual,
                            "expected nothing, got " << (actual ? json::serialize(*actual) : ""));
        return;
    }
    BOOST_REQUIRE_MESSAGE(actual, "expected " << expected << ", got nothing");
    BOOST_CHECK_MESSAGE(deep_equal(json::value(*actual), want),
                        "expected " << expected << ", got " << json::serialize(*actual));
}

} // namespace tlsync::test
