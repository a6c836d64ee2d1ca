// User socket frames (core/user_protocol, GET /app/{userId}/connect) and the
// mutations they carry (core/app_mutation): the replicator's hostile input.
// Checked: nothing crashes or throws; a mutate frame has its id; a parsed
// mutation either fails with a reason or has its frame's id and at most
// max_updates updates whose values are within the byte limits.

#include "check.hpp"
#include "core/app_mutation.hpp"
#include "core/user_protocol.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>

using namespace tlsync::core;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto msg = user::decode_client(text, 16 * 1024);
    if (const auto* e = std::get_if<user::protocol_error>(&msg)) {
        FUZZ_CHECK(!e->reason.empty(), "a protocol error without a reason");
        return 0;
    }
    const auto* m = std::get_if<user::mutate>(&msg);
    if (!m) return 0;

    app::mutation_limits limits;
    limits.max_updates = 4;
    limits.max_value_bytes = 64;
    limits.max_total_bytes = 256;
    const auto parsed = app::parse_mutation(m->message, "user-1", limits);
    if (!parsed.ok()) {
        FUZZ_CHECK(!parsed.error->reason.empty(), "a refused mutation without a reason");
        return 0;
    }
    FUZZ_CHECK(parsed.mutation_id == m->mutation_id, "mutation id %s, frame said %s", parsed.mutation_id.c_str(),
               m->mutation_id.c_str());
    FUZZ_CHECK(parsed.updates.size() <= limits.max_updates, "%zu updates accepted, limit %zu",
               parsed.updates.size(), limits.max_updates);
    // Every text within its bound (key columns: max_id_bytes), all of them
    // within the total (plus the owner ids the parser adds itself).
    std::size_t total = 0;
    for (const auto& u : parsed.updates)
        for (const auto& kv : u.row)
            if (kv.value().is_string()) {
                const auto n = kv.value().get_string().size();
                FUZZ_CHECK(n <= std::max(limits.max_value_bytes, limits.max_id_bytes), "a %zu-byte value accepted", n);
                total += n;
            }
    FUZZ_CHECK(total <= limits.max_total_bytes + parsed.updates.size() * 6, "%zu bytes of values accepted", total);
    return 0;
}
