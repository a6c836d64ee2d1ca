// The TLSyncStorage contract (SS1-SS17, SL2-SL3), run against memory_storage
// and sqlite_storage alike; the cases are in test/support/storage_contract.hpp,
// which test_postgres runs against pg_room_storage too.

#include "storage_test_util.hpp"

namespace tlsync::test {
using contract_factories = storage_factories;
}

#include "support/storage_contract.hpp"
