// server/static_files: which file a path names (and which it never may), types,
// caching, ETags, finding the web root, and the cache against a real directory.

#include "server/static_files.hpp"

#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>

using namespace tlsync::server;
namespace fs = std::filesystem;

namespace {

struct temp_dir {
    fs::path path = fs::temp_directory_path() / ("tlsync-static-" + std::to_string(::getpid()));
    temp_dir() {
        fs::remove_all(path);
        fs::create_directories(path / "assets");
    }
    ~temp_dir() { fs::remove_all(path); }
    void write(const std::string& name, const std::string& text) const {
        std::ofstream(path / name, std::ios::binary) << text;
    }
};

http_request get(std::string target, http::verb verb = http::verb::get) {
    return http_request{verb, target, 11};
}

} // namespace

BOOST_AUTO_TEST_SUITE(static_files)

BOOST_AUTO_TEST_CASE(app_routes_name_index_html) {
    BOOST_TEST(static_file_for("/").value() == "index.html");
    BOOST_TEST(static_file_for("/r/abc").value() == "index.html");
    BOOST_TEST(static_file_for("/r/../../etc/passwd").value() ==
               "index.html"); // the app decides, no file is named
    BOOST_TEST(static_file_for("/index.html").value() == "index.html");
}

BOOST_AUTO_TEST_CASE(files_are_named_relative_to_the_root) {
    BOOST_TEST(static_file_for("/assets/index-C12V28Gl.js").value() == "assets/index-C12V28Gl.js");
    BOOST_TEST(static_file_for("/favicon.ico").value() == "favicon.ico");
    BOOST_TEST(static_file_for("/assets/a%2Db.js").value() == "assets/a-b.js");
}

BOOST_AUTO_TEST_CASE(traversal_and_odd_names_name_nothing) {
    for (const char* p :
         {"/..", "/../etc/passwd", "/assets/../../x", "/assets/..%2f..%2fx", "/%2e%2e/x", "/.env",
          "/assets/.hidden", "/a//b", "/assets/", "/a\\b", "/a%5cb", "/a%00b", "/a%zz", "/a b",
          "/a%20b", "relative", "/assets/x?y", "/~user"})
        BOOST_TEST(!static_file_for(p), p);
    BOOST_TEST(!static_file_for("/a/b/c/d/e/f/g/h/i")); // deeper than 8
    BOOST_TEST(!static_file_for("/" + std::string(600, 'a')));
}

BOOST_AUTO_TEST_CASE(content_types_by_extension) {
    BOOST_TEST(content_type_for("index.html") == "text/html; charset=utf-8");
    BOOST_TEST(content_type_for("assets/index-x.js") == "text/javascript; charset=utf-8");
    BOOST_TEST(content_type_for("assets/index-x.CSS") == "text/css; charset=utf-8");
    BOOST_TEST(content_type_for("assets/f.woff2") == "font/woff2");
    BOOST_TEST(content_type_for("assets/0_merged-x.svg") == "image/svg+xml");
    BOOST_TEST(content_type_for("assets/en-x.json") == "application/json");
    BOOST_TEST(content_type_for("README") == "application/octet-stream");
    BOOST_TEST(content_type_for("dir.js/README") == "application/octet-stream");
    BOOST_TEST(content_type_for("x.exe") == "application/octet-stream");
}

BOOST_AUTO_TEST_CASE(hashed_assets_are_immutable_the_rest_revalidated) {
    BOOST_TEST(cache_control_for("assets/index-C12V28Gl.js") ==
               "public, max-age=31536000, immutable");
    BOOST_TEST(cache_control_for("index.html") == "no-cache");
    BOOST_TEST(cache_control_for("favicon.ico") == "no-cache");
}

BOOST_AUTO_TEST_CASE(etags) {
    const auto a = make_etag("hello");
    BOOST_TEST(a.front() == '"');
    BOOST_TEST(a.back() == '"');
    BOOST_TEST(a != make_etag("hellp"));
    BOOST_TEST(a == make_etag("hello"));
    BOOST_TEST(etag_matches(a, a));
    BOOST_TEST(etag_matches("\"x\", " + a, a));
    BOOST_TEST(etag_matches("W/" + a, a));
    BOOST_TEST(etag_matches("*", a));
    BOOST_TEST(!etag_matches("\"x\"", a));
    BOOST_TEST(!etag_matches("", a));
}

BOOST_AUTO_TEST_CASE(web_root_setting) {
    temp_dir d;
    BOOST_TEST(!find_web_root("off", "/nowhere/tlsyncd").root);
    auto r = find_web_root(d.path.string(), {});
    BOOST_TEST(!r.error.empty()); // no index.html yet
    BOOST_TEST(r.error.find("--web-root") != std::string::npos);
    d.write("index.html", "<!doctype html>");
    r = find_web_root(d.path.string(), {});
    BOOST_TEST(r.error.empty());
    BOOST_TEST(r.root.has_value());

    // auto: <repo>/web/dist from <repo>/build/server/tlsyncd
    fs::create_directories(d.path / "repo/web/dist");
    fs::create_directories(d.path / "repo/build/server");
    std::ofstream(d.path / "repo/web/dist/index.html") << "x";
    r = find_web_root("auto", d.path / "repo/build/server/tlsyncd");
    BOOST_REQUIRE(r.root.has_value());
    BOOST_TEST(fs::equivalent(*r.root, d.path / "repo/web/dist"));
    r = find_web_root("auto", d.path / "elsewhere/bin/tlsyncd");
    BOOST_TEST(r.error.empty());
    BOOST_TEST(!r.looked.empty());
}

BOOST_AUTO_TEST_CASE(site_serves_caches_and_revalidates) {
    temp_dir d;
    d.write("index.html", "<!doctype html><p>app</p>");
    d.write("assets/index-abc.js", "console.log(1)");
    static_site site(d.path);

    auto res = site.serve(get("/"), "index.html");
    BOOST_TEST(res.result_int() == 200);
    BOOST_TEST(res.body() == "<!doctype html><p>app</p>");
    BOOST_TEST(res[http::field::content_type] == "text/html; charset=utf-8");
    BOOST_TEST(res[http::field::cache_control] == "no-cache");
    const std::string etag(res[http::field::etag]);
    BOOST_TEST(!etag.empty());

    auto conditional = get("/");
    conditional.set(http::field::if_none_match, etag);
    res = site.serve(conditional, "index.html");
    BOOST_TEST(res.result_int() == 304);
    BOOST_TEST(res.body().empty());

    res = site.serve(get("/assets/index-abc.js", http::verb::head), "assets/index-abc.js");
    BOOST_TEST(res.result_int() == 200);
    BOOST_TEST(res.body().empty());
    BOOST_TEST(res[http::field::content_length] == "14");
    BOOST_TEST(res[http::field::cache_control] == "public, max-age=31536000, immutable");

    // A rebuilt file is seen (its size changed), and gets another ETag.
    d.write("index.html", "<!doctype html><p>new app</p>");
    res = site.serve(conditional, "index.html");
    BOOST_TEST(res.result_int() == 200);
    BOOST_TEST(res.body() == "<!doctype html><p>new app</p>");
    BOOST_TEST(res[http::field::etag] != etag);

    BOOST_TEST(site.serve(get("/nope.js"), "nope.js").result_int() == 404);
    BOOST_TEST(site.serve(get("/assets"), "assets").result_int() == 404); // a directory
}

BOOST_AUTO_TEST_CASE(files_over_the_bound_are_not_served) {
    temp_dir d;
    d.write("big.js", std::string(100, 'x'));
    static_site site(d.path, {.max_file_bytes = 64, .cache_bytes = 1024});
    BOOST_TEST(site.serve(get("/big.js"), "big.js").result_int() == 404);
}

BOOST_AUTO_TEST_SUITE_END()
