#pragma once
// The tldraw schema plus what this app adds, written with the C++ extension
// API (core/schema_extension.hpp):
// - a "sticker" shape: the same props and migrations as
//   examples/schemas/sticker.json, except that `emoji` is checked in C++
//   (one short symbol, no letters or digits), which the file grammar cannot say;
// - a "vote" record type (document scope) validated by a C++ function, with a
//   migration sequence written in C++.

#include "core/schema.hpp"

#include <memory>

namespace sticker_example {

[[nodiscard]] std::shared_ptr<const tlsync::core::schema> make_sticker_schema();

} // namespace sticker_example
