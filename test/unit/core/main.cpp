#define BOOST_TEST_MODULE tlsync_core
#include <boost/test/unit_test.hpp>
