// Push handling in one room, single-threaded, no sockets: how many pushes per
// second core::room sustains with 50 sessions on the real tldraw schema, what
// one push costs (latency, allocations) and how much it sends. Not a test:
// scripts/bench-core builds it in Release and prints a table (and JSON).
//
// Every workload runs twice on identical, deterministic rooms: a timed pass
// (latency, throughput, allocations) and an accounting pass that also tracks
// which payload bytes are distinct (a shared text, or the part of a room's
// broadcast log not seen before), which would otherwise skew timing.

#include "core/memory_storage.hpp"
#include "core/room.hpp"
#include "core/tldraw_schema.hpp"
#include "proto/codec.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

// ------------------------------------------------------------------ counting allocator

namespace {
// Single-threaded benchmark: plain counters suffice.
std::uint64_t g_allocs = 0;
std::uint64_t g_alloc_bytes = 0;

void* counted_alloc(std::size_t n) {
    ++g_allocs;
    g_alloc_bytes += n;
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void* counted_alloc(std::size_t n, std::align_val_t al) {
    ++g_allocs;
    g_alloc_bytes += n;
    const auto a = static_cast<std::size_t>(al);
    if (void* p = std::aligned_alloc(a, (std::max<std::size_t>(n, 1) + a - 1) / a * a)) return p;
    throw std::bad_alloc();
}
} // namespace

void* operator new(std::size_t n) { return counted_alloc(n); }
void* operator new[](std::size_t n) { return counted_alloc(n); }
void* operator new(std::size_t n, std::align_val_t a) { return counted_alloc(n, a); }
void* operator new[](std::size_t n, std::align_val_t a) { return counted_alloc(n, a); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    try { return counted_alloc(n); } catch (...) { return nullptr; }
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
    try { return counted_alloc(n); } catch (...) { return nullptr; }
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace {

using namespace tlsync;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

// ------------------------------------------------------------------ options

struct options {
    int sessions = 50;
    int shapes = 200;
    int pushes = 20000;
    int warmup = 1000;
    int tick_ms = 1;
    std::vector<std::string> workloads{"edit", "presence", "create"};
    std::vector<std::string> modes{"decode", "predecoded"};
    std::string json_path;
    bool print_records = false;
};

std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= s.size()) {
        auto end = s.find(',', start);
        if (end == std::string::npos) end = s.size();
        if (end > start) out.push_back(s.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

void usage() {
    std::cout <<
        R"(bench_core: push handling in one core::room (Release build recommended)
  --sessions N     connected sessions (default 50)
  --shapes N       seeded shapes, half geo half draw (default 200)
  --pushes N       measured pushes per workload (default 20000)
  --warmup N       unmeasured pushes before them (default 1000)
  --tick-ms N      fake clock advance per push; timers fire as due (default 1)
  --workloads L    comma list of edit,presence,create (default all)
  --modes L        comma list of decode,predecoded (default both)
  --json FILE      also write the results as JSON
  --print-records  print a sample of each record kind as JSON lines and exit
)";
}

bool parse_args(int argc, char** argv, options& o) {
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) throw std::invalid_argument("missing value for " + a);
            return argv[++i];
        };
        if (a == "--help" || a == "-h") { usage(); return false; }
        else if (a == "--sessions") o.sessions = std::stoi(next());
        else if (a == "--shapes") o.shapes = std::stoi(next());
        else if (a == "--pushes") o.pushes = std::stoi(next());
        else if (a == "--warmup") o.warmup = std::stoi(next());
        else if (a == "--tick-ms") o.tick_ms = std::stoi(next());
        else if (a == "--workloads") o.workloads = split(next());
        else if (a == "--modes") o.modes = split(next());
        else if (a == "--json") o.json_path = next();
        else if (a == "--print-records") o.print_records = true;
        else throw std::invalid_argument("unknown option " + a + " (see --help)");
    }
    if (o.sessions < 2 || o.shapes < 1 || o.pushes < 1 || o.warmup < 0 || o.tick_ms < 0)
        throw std::invalid_argument("sessions >= 2, shapes >= 1, pushes >= 1 required");
    return true;
}

// ------------------------------------------------------------------ tldraw records

std::string num(double v) {
    std::string s;
    proto::append_json(s, json::value(v));
    return s;
}

std::string rich_text(const std::string& text) {
    return R"({"type":"doc","content":[{"type":"paragraph","content":[{"type":"text","text":")" +
           text + R"("}]}]})";
}

// A valid, distinct fractional index: "a1", three base62 digits, and a
// non-zero last digit (fractional-indexing rejects a trailing zero).
std::string index_key(int n) {
    static const char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    std::string key = "a1";
    for (int div = 62 * 62; div > 0; div /= 62) key.push_back(digits[(n / div) % 62]);
    return key + "V";
}

// A geo shape as tldraw 5 writes it: label in richText, every style prop set.
std::string geo_shape(const std::string& id, double x, double y, int n) {
    static const char* geos[] = {"rectangle", "ellipse", "diamond", "cloud", "star"};
    return R"({"x":)" + num(x) + R"(,"y":)" + num(y) +
           R"(,"rotation":0,"isLocked":false,"opacity":1,"meta":{},"id":")" + id +
           R"(","type":"geo","parentId":"page:page","index":")" + index_key(n) +
           R"(","typeName":"shape","props":{"w":160,"h":90,"geo":")" + geos[n % 5] +
           R"(","dash":"draw","growY":0,"url":"","scale":1,"flipX":false,"flipY":false,)"
           R"("color":"black","labelColor":"black",)"
           R"("fill":"semi","size":"m","font":"draw","align":"middle","verticalAlign":"middle",)"
           R"("richText":)" + rich_text("Box " + std::to_string(n)) + "}}";
}

// A freehand stroke: ~40 points in one segment's base64 path.
std::string draw_shape(const std::string& id, double x, double y, int n) {
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string path;
    std::uint32_t z = 2463534242u + static_cast<std::uint32_t>(n);
    for (int i = 0; i < 320; ++i) {
        z ^= z << 13, z ^= z >> 17, z ^= z << 5;
        path.push_back(b64[z & 63]);
    }
    return R"({"x":)" + num(x) + R"(,"y":)" + num(y) +
           R"(,"rotation":0,"isLocked":false,"opacity":1,"meta":{},"id":")" + id +
           R"(","type":"draw","parentId":"page:page","index":")" + index_key(n) +
           R"(","typeName":"shape","props":{"color":"blue","fill":"none","dash":"draw","size":"m",)"
           R"("segments":[{"type":"free","path":")" + path +
           R"("}],"isComplete":true,"isClosed":false,"isPen":false,"scale":1,"scaleX":1,"scaleY":1}})";
}

std::string presence_record(int user) {
    return R"({"userId":"user:)" + std::to_string(user) + R"(","userName":"User )" +
           std::to_string(user) +
           R"(","lastActivityTimestamp":1700000000000,"color":"#FF802B","camera":{"x":0,"y":0,"z":1},)"
           R"("selectedShapeIds":[],"currentPageId":"page:page","brush":null,"scribbles":[],)"
           R"("screenBounds":{"x":0,"y":0,"w":1920,"h":1080},"followingUserId":null,)"
           R"("cursor":{"x":0,"y":0,"type":"default","rotation":0},"chatMessage":"","meta":{}})";
}

std::string shape_id(int i) { return (i % 2 ? "shape:draw" : "shape:geo") + std::to_string(i); }

core::room_snapshot seed_snapshot(const core::schema& s, int shapes) {
    core::room_snapshot snap;
    snap.schema = s.serialize();
    auto add = [&](const std::string& text) {
        snap.documents.push_back({json::parse(text).as_object(), 0});
    };
    add(R"({"gridSize":10,"name":"","meta":{},"id":"document:document","typeName":"document"})");
    add(R"({"meta":{},"id":"page:page","name":"Page 1","index":"a1","typeName":"page"})");
    for (int i = 0; i < shapes; ++i) {
        const double x = (i % 20) * 200.0, y = (i / 20) * 150.0;
        add(i % 2 ? draw_shape(shape_id(i), x, y, i) : geo_shape(shape_id(i), x, y, i));
    }
    return snap;
}

// The k-th push of a workload, as the client's JSON text.
std::string make_push(const std::string& workload, int k, std::int64_t client_clock, int shapes) {
    std::string head = R"({"type":"push","clientClock":)" + std::to_string(client_clock);
    if (workload == "edit") {
        const auto id = shape_id(static_cast<int>((static_cast<long long>(k) * 7) % shapes));
        if (k % 4 == 3) // a rotation
            return head + R"(,"diff":{")" + id + R"(":["patch",{"rotation":["put",)" +
                   num(0.001 * (k % 6283)) + "]}]}}";
        return head + R"(,"diff":{")" + id + R"(":["patch",{"x":["put",)" + num(100.25 + 0.5 * k) +
               R"(],"y":["put",)" + num(80.75 - 0.25 * k) + "]}]}}";
    }
    if (workload == "presence")
        return head + R"(,"presence":["patch",{"lastActivityTimestamp":["put",)" +
               std::to_string(1700000000000LL + k * 33) + R"(],"cursor":["put",{"x":)" +
               num(400.5 + (k % 977) * 1.25) + R"(,"y":)" + num(300.25 + (k % 613) * 0.75) +
               R"(,"type":"default","rotation":0}]}]})";
    const auto id = "shape:new" + std::to_string(k);
    return head + R"(,"diff":{")" + id + R"(":["put",)" +
           geo_shape(id, 50.0 + (k % 40) * 180, 2000.0 + (k / 40) * 120.0, k) + "]}}";
}

// ------------------------------------------------------------------ the room

struct bench_room {
    std::unique_ptr<core::room> room;
    std::vector<core::socket_ref> sockets;
    core::timestamp now{1'000'000};
    std::string first_warning;

    bench_room(const options& o, const std::shared_ptr<const core::schema>& schema,
               const core::room_snapshot& seed) {
        core::room_config cfg;
        cfg.id_seed = 7; // presence ids, hence every byte sent, are the same in both passes
        cfg.log_warning = [this](std::string_view m) {
            if (first_warning.empty()) first_warning.assign(m);
        };
        room = std::make_unique<core::room>(schema, std::make_unique<core::memory_storage>(seed),
                                            cfg, now);
        for (int i = 0; i < o.sessions; ++i) {
            core::socket_ref ref{"session-" + std::to_string(i), static_cast<std::uint64_t>(i + 1)};
            room->handle_new_session(ref, false, now);
            proto::connect_request c;
            c.connect_request_id = "connect-" + std::to_string(i);
            c.protocol_version = proto::protocol_version;
            c.schema = schema->serialize();
            room->handle_message(ref, c, now);
            sockets.push_back(std::move(ref));
        }
        // Everyone puts their presence once, as clients do after connecting.
        for (int i = 0; i < o.sessions; ++i) {
            auto m = proto::decode_client_message(R"({"type":"push","clientClock":0,"presence":["put",)" +
                                                  presence_record(i) + "]}");
            room->handle_message(sockets[i], m.value(), now);
        }
        advance(1s);
        if (room->sessions().size() != static_cast<std::size_t>(o.sessions))
            throw std::runtime_error("setup: not every session connected (" + first_warning + ")");
    }

    void advance(std::chrono::milliseconds d) {
        const auto until = now + d;
        while (auto at = room->next_deadline()) {
            if (*at > until) break;
            now = std::max(now, *at);
            room->on_timer(now);
        }
        now = until;
        (void)room->take_actions();
    }
};

// ------------------------------------------------------------------ measuring

struct result {
    std::string workload, mode;
    int pushes = 0;
    double seconds = 0;
    double pushes_per_s = 0;
    double mean_us = 0, p50_us = 0, p99_us = 0, max_us = 0;
    double allocs_per_push = 0, alloc_bytes_per_push = 0;
    double actions_per_push = 0, sends_per_push = 0;
    double delivered_bytes_per_push = 0;
    double encoded_bytes_per_push = 0, encoded_texts_per_push = 0;
    std::uint64_t document_clock = 0;
};

struct consumer {
    std::uint64_t actions = 0, sends = 0, delivered = 0;
    bool track_unique = false;
    std::uint64_t unique_bytes = 0, unique_texts = 0;
    // weak_ptr keeps a make_shared block's address reserved while the entry
    // exists, so a reused address is never mistaken for a payload seen before.
    // Per owner: the end of the bytes counted so far (a broadcast log is
    // appended to and read in spans; a whole text is one span).
    struct seen_owner {
        std::weak_ptr<const void> owner;
        const char* end = nullptr;
    };
    std::unordered_map<const void*, seen_owner> seen;

    void take(std::vector<core::room_action>&& acts) {
        actions += acts.size();
        for (const auto& a : acts) {
            const auto* s = std::get_if<core::send_action>(&a);
            if (!s) continue;
            ++sends;
            delivered += s->message.size();
            if (!track_unique) continue;
            for (const auto& p : s->message.parts) {
                auto [it, fresh] = seen.try_emplace(p.owner.get(), seen_owner{p.owner, nullptr});
                if (fresh) ++unique_texts;
                const char* end = p.bytes.data() + p.bytes.size();
                const char* from = it->second.end ? std::max(it->second.end, p.bytes.data()) : p.bytes.data();
                if (end > from) {
                    unique_bytes += static_cast<std::uint64_t>(end - from);
                    it->second.end = end;
                }
            }
        }
    }
    void purge() {
        std::erase_if(seen, [](const auto& e) { return e.second.owner.expired(); });
    }
};

double percentile(const std::vector<std::uint64_t>& sorted, double q) {
    if (sorted.empty()) return 0;
    const auto i = static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1) + 0.5);
    return static_cast<double>(sorted[std::min(i, sorted.size() - 1)]) / 1000.0;
}

// One push as the server's room actor does it: fire due timers, decode,
// handle. Out of line so a profiler can collect just this
// (valgrind --tool=callgrind --toggle-collect='*step*').
[[gnu::noinline]] std::vector<core::room_action> step(core::room& room, core::timestamp now,
                                                      const core::socket_ref& ref,
                                                      const std::string* text,
                                                      const proto::client_message* msg) {
    if (auto at = room.next_deadline(); at && *at <= now) room.on_timer(now);
    if (text) {
        auto m = proto::decode_client_message(*text);
        room.handle_message(ref, m.value(), now);
    } else {
        room.handle_message(ref, *msg, now);
    }
    return room.take_actions();
}

result run(const options& o, const std::shared_ptr<const core::schema>& schema,
           const core::room_snapshot& seed, const std::string& workload, const std::string& mode,
           bool accounting) {
    bench_room br(o, schema, seed);
    const bool decode = mode == "decode";
    const int total = o.warmup + o.pushes;

    // Built before the clock starts: the client's work, not the server's.
    std::vector<std::string> texts;
    std::vector<proto::client_message> decoded;
    texts.reserve(total);
    std::vector<std::int64_t> client_clock(o.sessions, 0);
    for (int k = 0; k < total; ++k)
        texts.push_back(make_push(workload, k, ++client_clock[k % o.sessions], o.shapes));
    if (!decode) {
        decoded.reserve(total);
        for (const auto& t : texts) decoded.push_back(proto::decode_client_message(t).value());
    }

    std::vector<std::uint64_t> latency_ns;
    latency_ns.reserve(o.pushes);
    consumer c;
    c.track_unique = accounting;
    std::uint64_t allocs0 = 0, bytes0 = 0;
    clock_type::time_point loop_start;
    auto& room = *br.room;
    const auto tick = std::chrono::milliseconds(o.tick_ms);

    for (int k = 0; k < total; ++k) {
        if (k == o.warmup) {
            c = consumer{};
            c.track_unique = accounting;
            allocs0 = g_allocs;
            bytes0 = g_alloc_bytes;
            loop_start = clock_type::now();
        }
        br.now += tick;
        const auto& ref = br.sockets[k % o.sessions];
        const auto t0 = clock_type::now();
        c.take(step(room, br.now, ref, decode ? &texts[k] : nullptr, decode ? nullptr : &decoded[k]));
        const auto t1 = clock_type::now();
        if (k >= o.warmup)
            latency_ns.push_back(static_cast<std::uint64_t>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()));
        if (accounting && (k & 255) == 255) c.purge();
    }
    const auto loop_end = clock_type::now();
    const auto allocs = g_allocs - allocs0;
    const auto alloc_bytes = g_alloc_bytes - bytes0;

    if (room.session_count() != static_cast<std::size_t>(o.sessions))
        throw std::runtime_error(workload + ": sessions were dropped during the run (" +
                                 br.first_warning + ")");

    result r;
    r.workload = workload;
    r.mode = mode;
    r.pushes = o.pushes;
    const double n = o.pushes;
    r.seconds = std::chrono::duration<double>(loop_end - loop_start).count();
    r.pushes_per_s = n / r.seconds;
    std::uint64_t sum = 0;
    for (auto v : latency_ns) sum += v;
    r.mean_us = static_cast<double>(sum) / n / 1000.0;
    std::sort(latency_ns.begin(), latency_ns.end());
    r.p50_us = percentile(latency_ns, 0.50);
    r.p99_us = percentile(latency_ns, 0.99);
    r.max_us = static_cast<double>(latency_ns.back()) / 1000.0;
    r.allocs_per_push = static_cast<double>(allocs) / n;
    r.alloc_bytes_per_push = static_cast<double>(alloc_bytes) / n;
    r.actions_per_push = static_cast<double>(c.actions) / n;
    r.sends_per_push = static_cast<double>(c.sends) / n;
    r.delivered_bytes_per_push = static_cast<double>(c.delivered) / n;
    r.encoded_bytes_per_push = static_cast<double>(c.unique_bytes) / n;
    r.encoded_texts_per_push = static_cast<double>(c.unique_texts) / n;
    r.document_clock = static_cast<std::uint64_t>(room.document_clock());
    return r;
}

// ------------------------------------------------------------------ output

void print_table(const options& o, const std::vector<result>& rs) {
    std::printf("bench_core: %d sessions, %d seeded shapes, %d pushes (+%d warmup) per run, "
                "%d ms fake time per push\n\n",
                o.sessions, o.shapes, o.pushes, o.warmup, o.tick_ms);
    std::printf("%-9s %-10s %10s %8s %8s %8s %9s %9s %9s %8s %10s %8s %7s\n", "workload", "mode",
                "pushes/s", "mean us", "p50 us", "p99 us", "enc B/p", "deliv B/p", "texts/p",
                "allocs/p", "alloc B/p", "actions/p", "sends/p");
    for (const auto& r : rs)
        std::printf("%-9s %-10s %10.0f %8.2f %8.2f %8.2f %9.1f %9.1f %9.2f %8.1f %10.0f %8.2f %7.2f\n",
                    r.workload.c_str(), r.mode.c_str(), r.pushes_per_s, r.mean_us, r.p50_us,
                    r.p99_us, r.encoded_bytes_per_push, r.delivered_bytes_per_push,
                    r.encoded_texts_per_push, r.allocs_per_push, r.alloc_bytes_per_push,
                    r.actions_per_push, r.sends_per_push);
    std::printf("\nenc B/p: bytes of distinct payloads encoded per push (a broadcast is encoded once "
                "and shared);\ndeliv B/p: bytes of every frame handed to sockets per push; texts/p: "
                "distinct payloads per push.\n");
}

void write_json(const options& o, const std::vector<result>& rs) {
    json::object root;
    root["sessions"] = o.sessions;
    root["shapes"] = o.shapes;
    root["pushes"] = o.pushes;
    root["warmup"] = o.warmup;
    root["tick_ms"] = o.tick_ms;
    json::array arr;
    for (const auto& r : rs) {
        json::object j;
        j["workload"] = r.workload;
        j["mode"] = r.mode;
        j["pushes"] = r.pushes;
        j["seconds"] = r.seconds;
        j["pushes_per_s"] = r.pushes_per_s;
        j["latency_us"] = {{"mean", r.mean_us}, {"p50", r.p50_us}, {"p99", r.p99_us}, {"max", r.max_us}};
        j["allocs_per_push"] = r.allocs_per_push;
        j["alloc_bytes_per_push"] = r.alloc_bytes_per_push;
        j["actions_per_push"] = r.actions_per_push;
        j["sends_per_push"] = r.sends_per_push;
        j["delivered_bytes_per_push"] = r.delivered_bytes_per_push;
        j["encoded_bytes_per_push"] = r.encoded_bytes_per_push;
        j["encoded_texts_per_push"] = r.encoded_texts_per_push;
        j["document_clock"] = r.document_clock;
        arr.push_back(std::move(j));
    }
    root["results"] = std::move(arr);
    std::ofstream f(o.json_path);
    f << json::serialize(root) << "\n";
    if (!f) throw std::runtime_error("cannot write " + o.json_path);
}

} // namespace

int main(int argc, char** argv) {
    try {
        options o;
        if (!parse_args(argc, argv, o)) return 0;
        if (o.print_records) {
            // For checking against @tldraw/tlschema's validators.
            std::cout << geo_shape(shape_id(0), 0, 0, 0) << "\n"
                      << draw_shape(shape_id(1), 200, 0, 1) << "\n"
                      << geo_shape("shape:new20000", 0, 0, 20000) << "\n"
                      << R"({"id":"instance_presence:x","typeName":"instance_presence",)"
                      << presence_record(3).substr(1) << "\n";
            return 0;
        }
        const auto schema = core::make_tldraw_schema();
        const auto seed = seed_snapshot(*schema, o.shapes);
        std::vector<result> results;
        for (const auto& w : o.workloads) {
            if (w != "edit" && w != "presence" && w != "create")
                throw std::invalid_argument("unknown workload " + w);
            for (const auto& m : o.modes) {
                if (m != "decode" && m != "predecoded") throw std::invalid_argument("unknown mode " + m);
                auto timed = run(o, schema, seed, w, m, false);
                const auto counted = run(o, schema, seed, w, m, true);
                if (counted.sends_per_push != timed.sends_per_push ||
                    counted.delivered_bytes_per_push != timed.delivered_bytes_per_push)
                    throw std::runtime_error("the accounting pass diverged from the timed pass");
                timed.encoded_bytes_per_push = counted.encoded_bytes_per_push;
                timed.encoded_texts_per_push = counted.encoded_texts_per_push;
                results.push_back(std::move(timed));
            }
        }
        print_table(o, results);
        if (!o.json_path.empty()) write_json(o, results);
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "bench_core: " << e.what() << "\n";
        return 1;
    }
}
