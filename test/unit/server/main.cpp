#define BOOST_TEST_MODULE tlsync_server
#include <boost/test/unit_test.hpp>
