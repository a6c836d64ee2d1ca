// Structured logging: logfmt and JSON line formats, escaping, level
// filtering, and whole lines on fd 2 under concurrent writers.

#include "server/log.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sstream>
#include <thread>
#include <unistd.h>
#include <vector>

using tlsync::server::log_level;
namespace json = boost::json;
namespace tlog = tlsync::server::log;

namespace {

// 2026-11-22T03:04:05.123Z
const auto fixed_ts = std::chrono::sys_days{std::chrono::year{2026} / 11 / 22} +
                      std::chrono::hours{3} + std::chrono::minutes{4} + std::chrono::seconds{5} +
                      std::chrono::milliseconds{123};

std::string logfmt(std::string_view msg, std::vector<tlog::field> fields = {},
                   log_level level = log_level::info) {
    return tlog::detail::format_line(level, false, fixed_ts, msg, fields);
}

std::string as_json(std::string_view msg, std::vector<tlog::field> fields = {},
                    log_level level = log_level::info) {
    return tlog::detail::format_line(level, true, fixed_ts, msg, fields);
}

// Only the part after msg=, so expectations stay short.
std::string value(std::string_view v) {
    const auto line = logfmt(v);
    const auto at = line.find(" msg=") + 5;
    return line.substr(at, line.size() - at - 1);
}

// Redirects fd 2 into a pipe drained by a thread, so writers never block on
// a full pipe; restores stderr on destruction.
class stderr_capture {
  public:
    stderr_capture() {
        int fds[2];
        BOOST_TEST_REQUIRE(::pipe(fds) == 0);
        saved_ = ::dup(STDERR_FILENO);
        ::dup2(fds[1], STDERR_FILENO);
        ::close(fds[1]);
        read_fd_ = fds[0];
        reader_ = std::thread([this] {
            char buf[4096];
            for (ssize_t n; (n = ::read(read_fd_, buf, sizeof buf)) > 0;)
                text_.append(buf, static_cast<std::size_t>(n));
        });
    }
    // Restores fd 2, waits for EOF and returns everything written meanwhile.
    std::string finish() {
        if (saved_ >= 0) {
            ::dup2(saved_, STDERR_FILENO);
            ::close(saved_);
            saved_ = -1;
            reader_.join();
            ::close(read_fd_);
        }
        return text_;
    }
    ~stderr_capture() { finish(); }

  private:
    int saved_ = -1;
    int read_fd_ = -1;
    std::thread reader_;
    std::string text_;
};

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);)
        out.push_back(l);
    return out;
}

} // namespace

// The suite is nested because a namespace `::log` would clash with log() from
// <cmath>; it is still reported as suite `log`.
namespace log_tests {
BOOST_AUTO_TEST_SUITE(log)

BOOST_AUTO_TEST_CASE(logfmt_line_shape) {
    BOOST_TEST(logfmt("session connected", {{"room", "abc"}, {"session", "xyz"}}) ==
               "ts=2026-11-22T03:04:05.123Z level=info msg=\"session connected\" room=abc "
               "session=xyz\n");
    BOOST_TEST(logfmt("started", {}, log_level::warn) ==
               "ts=2026-11-22T03:04:05.123Z level=warn msg=started\n");
    for (auto [l, name] : {std::pair{log_level::trace, "trace"},
                           {log_level::debug, "debug"},
                           {log_level::error, "error"}})
        BOOST_TEST(logfmt("x", {}, l).find(std::string(" level=") + name + " ") !=
                   std::string::npos);
}

BOOST_AUTO_TEST_CASE(logfmt_quotes_only_when_needed) {
    BOOST_TEST(value("plain") == "plain");
    BOOST_TEST(value("caf\xC3\xA9/\xF0\x9F\x98\x80") == "caf\xC3\xA9/\xF0\x9F\x98\x80");
    BOOST_TEST(value("C:\\path") == "C:\\path"); // a lone backslash is unambiguous bare
    BOOST_TEST(value("") == "\"\"");
    BOOST_TEST(value("a b") == "\"a b\"");
    BOOST_TEST(value("k=v") == "\"k=v\"");
    BOOST_TEST(value("say \"hi\"") == "\"say \\\"hi\\\"\"");
    BOOST_TEST(value("x\"y\\z") == "\"x\\\"y\\\\z\"");
}

BOOST_AUTO_TEST_CASE(logfmt_escapes_unprintables_on_one_line) {
    BOOST_TEST(value("a\nb") == "\"a\\nb\"");
    BOOST_TEST(value("a\r\tb") == "\"a\\r\\tb\"");
    BOOST_TEST(value(std::string_view("nul\0", 4)) == "\"nul\\x00\"");
    BOOST_TEST(value("\x1b[31mred") == "\"\\x1b[31mred\"");
    BOOST_TEST(value("del\x7f") == "\"del\\x7f\"");
    BOOST_TEST(value("bad\xff") == "\"bad\\xff\"");             // invalid UTF-8 byte
    BOOST_TEST(value("\xC0\xAF") == "\"\\xc0\\xaf\"");          // overlong '/'
    BOOST_TEST(value("\xED\xA0\x80") == "\"\\xed\\xa0\\x80\""); // surrogate
    BOOST_TEST(value("cut\xE2\x82") == "\"cut\\xe2\\x82\"");    // truncated sequence
    BOOST_TEST(value("nel\xC2\x85") == "\"nel\\u0085\"");       // C1 control
    BOOST_TEST(value("ls\xE2\x80\xA8") == "\"ls\\u2028\"");     // line separator
    for (const char* v : {"a\nb", "x\ry", "\xE2\x80\xA8"})
        BOOST_TEST(logfmt("m", {{"k", v}}).find('\n') == logfmt("m", {{"k", v}}).size() - 1);
}

BOOST_AUTO_TEST_CASE(logfmt_keys_are_sanitised) {
    BOOST_TEST(logfmt("m", {{"bad key=", "v"}, {"", "e"}, {"ok_key", ""}}) ==
               "ts=2026-11-22T03:04:05.123Z level=info msg=m bad_key_=v _=e ok_key=\"\"\n");
}

BOOST_AUTO_TEST_CASE(json_line_shape) {
    BOOST_TEST(as_json("session connected", {{"room", "abc"}, {"session", "xyz"}}) ==
               "{\"ts\":\"2026-11-22T03:04:05.123Z\",\"level\":\"info\",\"msg\":\"session "
               "connected\",\"room\":\"abc\",\"session\":\"xyz\"}\n");
}

BOOST_AUTO_TEST_CASE(json_escapes_and_stays_valid) {
    const std::string nasty = std::string("q\"b\\n\nr\rt\tb\bf\f") + std::string(1, '\0') +
                              "\x01\x7f caf\xC3\xA9 \xC2\x85\xE2\x80\xA9 bad\xff\xC0\xAF end";
    const auto line = as_json(nasty, {{"k\"ey", nasty}});
    BOOST_TEST(
        line.find(
            R"(q\"b\\n\nr\rt\tb\bf\f\u0000\u0001\u007f café \u0085\u2029 bad\ufffd\ufffd\ufffd end)") !=
            std::string::npos,
        line);
    BOOST_TEST(line.back() == '\n');
    BOOST_TEST(line.find('\n') == line.size() - 1);
    const auto parsed = json::parse(std::string_view(line).substr(0, line.size() - 1));
    const auto& o = parsed.as_object();
    BOOST_TEST(o.at("ts").as_string() == "2026-11-22T03:04:05.123Z");
    BOOST_TEST(o.at("level").as_string() == "info");
    BOOST_TEST(o.at("k\"ey").as_string() == o.at("msg").as_string());
    BOOST_TEST(o.at("msg").as_string().starts_with("q\"b\\n\nr\rt\tb\bf\f"));
}

BOOST_AUTO_TEST_CASE(timestamps_are_utc_milliseconds) {
    using namespace std::chrono;
    const auto epoch = system_clock::time_point{};
    BOOST_TEST(tlog::detail::format_line(log_level::info, false, epoch, "m", {})
                   .starts_with("ts=1970-01-01T00:00:00.000Z "));
    const auto before = epoch - milliseconds{1};
    BOOST_TEST(tlog::detail::format_line(log_level::info, false, before, "m", {})
                   .starts_with("ts=1969-12-31T23:59:59.999Z "));
    const auto sub_ms = fixed_ts + microseconds{999};
    BOOST_TEST(tlog::detail::format_line(log_level::info, false, sub_ms, "m", {})
                   .starts_with("ts=2026-11-22T03:04:05.123Z "));
}

BOOST_AUTO_TEST_CASE(levels_filter) {
    tlog::configure(log_level::warn, false);
    BOOST_TEST(!tlog::enabled(log_level::trace));
    BOOST_TEST(!tlog::enabled(log_level::info));
    BOOST_TEST(tlog::enabled(log_level::warn));
    BOOST_TEST(tlog::enabled(log_level::error));
    tlog::configure(log_level::trace, false);
    BOOST_TEST(tlog::enabled(log_level::trace));
    tlog::configure(log_level::info, false);
}

BOOST_AUTO_TEST_CASE(write_goes_to_fd2_one_line_per_event) {
    stderr_capture cap;
    tlog::configure(log_level::info, false);
    tlog::debug("hidden");
    tlog::info("shown", {{"room", "r 1"}});
    tlog::configure(log_level::info, true);
    tlog::error("as json", {{"n", "1"}});
    tlog::configure(log_level::info, false);
    const auto lines = lines_of(cap.finish());
    BOOST_TEST_REQUIRE(lines.size() == 2u);
    BOOST_TEST(lines[0].starts_with("ts="));
    BOOST_TEST(lines[0].ends_with(" level=info msg=shown room=\"r 1\""), lines[0]);
    const auto o = json::parse(lines[1]).as_object();
    BOOST_TEST(o.at("level").as_string() == "error");
    BOOST_TEST(o.at("msg").as_string() == "as json");
    BOOST_TEST(o.at("n").as_string() == "1");
}

BOOST_AUTO_TEST_CASE(write_preserves_errno) {
    stderr_capture cap;
    errno = EAGAIN;
    tlog::info("x");
    BOOST_TEST(errno == EAGAIN);
}

BOOST_AUTO_TEST_CASE(concurrent_lines_never_interleave) {
    constexpr int threads = 8, per_thread = 300;
    const std::string payload(200, 'p'); // long enough that torn writes would show
    stderr_capture cap;
    tlog::configure(log_level::info, false);
    {
        std::vector<std::jthread> pool;
        for (int t = 0; t < threads; ++t)
            pool.emplace_back([&, t] {
                const auto id = std::to_string(t);
                for (int i = 0; i < per_thread; ++i)
                    tlog::info("tick", {{"thread", id}, {"payload", payload}});
            });
    }
    const auto lines = lines_of(cap.finish());
    BOOST_TEST(lines.size() == std::size_t{threads * per_thread});
    std::size_t intact = 0;
    for (const auto& l : lines)
        intact += l.starts_with("ts=") && l.find(" level=info msg=tick thread=") != l.npos &&
                  l.ends_with(" payload=" + payload);
    BOOST_TEST(intact == lines.size());
}

BOOST_AUTO_TEST_SUITE_END()
} // namespace log_tests
