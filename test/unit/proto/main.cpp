#define BOOST_TEST_MODULE tlsync_proto
#include <boost/test/unit_test.hpp>
