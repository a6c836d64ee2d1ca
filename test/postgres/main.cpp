// Tests against a real PostgreSQL 15 with wal2json: pg_connection, the app
// migrations and the replicator. The cluster comes from
// scripts/pg-test-cluster; the suites are skipped (not failed) only when
// PostgreSQL cannot be installed on this machine.
#define BOOST_TEST_MODULE tlsync_postgres
#include <boost/test/unit_test.hpp>
