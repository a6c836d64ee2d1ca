#include "test/loadtest/messages.hpp"

#include "core/tldraw_schema.hpp"
#include "proto/codec.hpp"
#include "test/loadtest/scan.hpp"

#include <algorithm>
#include <charconv>
#include <stdexcept>

namespace tlsync::loadtest {

namespace {

void append_num(std::string& out, double v) {
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

void append_int(std::string& out, std::int64_t v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

void push_head(std::string& out, std::int64_t clock) {
    out.assign(R"({"type":"push","clientClock":)");
    append_int(out, clock);
}

// A valid fractional index: "a1", three base62 digits and a non-zero last
// digit (as bench_core's index_key).
void append_index(std::string& out, int n) {
    static constexpr char digits[] =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    n %= 62 * 62 * 62;
    out += "a1";
    for (int div = 62 * 62; div > 0; div /= 62)
        out += digits[(n / div) % 62];
    out += 'V';
}

std::string rich_text(std::string_view text) {
    return R"({"type":"doc","content":[{"type":"paragraph","content":[{"type":"text","text":")" +
           std::string(text) + R"("}]}]})";
}

constexpr std::string_view placeholder = "@@request-id@@";

} // namespace

message_builder::message_builder(int payload_bytes) : payload_bytes_(payload_bytes) {
    proto::connect_request c;
    c.connect_request_id = std::string(placeholder);
    c.protocol_version = proto::protocol_version;
    c.schema = core::make_tldraw_schema()->serialize();
    const std::string text = proto::encode(c);
    const auto at = text.find(placeholder);
    if (at == std::string::npos) throw std::logic_error("connect template");
    connect_head_ = text.substr(0, at);
    connect_tail_ = text.substr(at + placeholder.size());
    // An empty label is a richText doc with an empty text node, which tldraw rejects:
    // use a space-free word for "no payload".
    label_ = rich_text(payload_bytes > 0 ? std::string(static_cast<std::size_t>(payload_bytes), 'x')
                                         : std::string("Box"));
    label_text_at_ = label_.find(R"("text":")") + 8;
}

void message_builder::connect(std::string& out, std::string_view request_id) const {
    out.assign(connect_head_);
    out += request_id;
    out += connect_tail_;
}

void message_builder::ping(std::string& out) {
    out.assign(R"({"type":"ping"})");
}

void message_builder::presence_put(std::string& out, std::int64_t clock,
                                   std::uint32_t client) const {
    push_head(out, clock);
    const std::string user = std::to_string(client);
    out +=
        R"(,"presence":["put",{"userId":"user:lt)" + user + R"(","userName":"Load )" + user +
        R"(","lastActivityTimestamp":1700000000000,"color":"#FF802B","camera":{"x":0,"y":0,"z":1},)"
        R"("selectedShapeIds":[],"currentPageId":"page:page","brush":null,"scribbles":[],)"
        R"("screenBounds":{"x":0,"y":0,"w":1920,"h":1080},"followingUserId":null,)"
        R"("cursor":{"x":0,"y":0,"type":"default","rotation":0},"chatMessage":"","meta":{}}]})";
}

void message_builder::presence_move(std::string& out, std::int64_t clock, std::uint32_t client,
                                    std::uint64_t k, std::int64_t sent_ns) const {
    push_head(out, clock);
    out += R"(,"presence":["patch",{"lastActivityTimestamp":["put",)";
    append_int(out, 1700000000000LL + static_cast<std::int64_t>(k) * 33);
    out += R"(],"cursor":["put",{"x":)";
    append_num(out, 400.5 + static_cast<double>(k % 977) * 1.25);
    out += R"(,"y":)";
    append_num(out, 300.25 + static_cast<double>(k % 613) * 0.75);
    out += R"(,"type":"default","rotation":0}],"meta":["patch",{"lt":["put",")";
    append_marker(out, 'p', client, sent_ns);
    out += R"("]}]}]})";
}

void message_builder::geo_record(std::string& out, std::string_view id, double x, double y,
                                 int index, std::string_view meta) const {
    out += R"({"x":)";
    append_num(out, x);
    out += R"(,"y":)";
    append_num(out, y);
    out += R"(,"rotation":0,"isLocked":false,"opacity":1,"meta":)";
    out += meta;
    out += R"(,"id":")";
    out += id;
    out += R"(","type":"geo","parentId":"page:page","index":")";
    append_index(out, index);
    out += R"(","typeName":"shape","props":{"w":160,"h":90,"geo":"rectangle","dash":"draw",)"
           R"("growY":0,"url":"","scale":1,"flipX":false,"flipY":false,"color":"black",)"
           R"("labelColor":"black","fill":"semi","size":"m","font":"draw","align":"middle",)"
           R"("verticalAlign":"middle","richText":)";
    out += label_;
    out += "}}";
}

void message_builder::create(std::string& out, std::int64_t clock, std::string_view shape_id,
                             int index, std::uint32_t client, std::int64_t sent_ns) const {
    push_head(out, clock);
    out += R"(,"diff":{")";
    out += shape_id;
    out += R"(":["put",)";
    std::string meta = R"({"lt":")";
    append_marker(meta, 'c', client, sent_ns);
    meta += R"("})";
    geo_record(out, shape_id, 100.0 + (client % 40) * 180.0, 100.0 + (index % 50) * 120.0, index,
               meta);
    out += "]}}";
}

void message_builder::edit(std::string& out, std::int64_t clock, std::string_view shape_id,
                           std::uint64_t k, std::uint32_t client, std::int64_t sent_ns) const {
    push_head(out, clock);
    out += R"(,"diff":{")";
    out += shape_id;
    out += R"(":["patch",{"x":["put",)";
    append_num(out, 100.25 + static_cast<double>(k % 2000) * 0.5);
    out += R"(],"y":["put",)";
    append_num(out, 80.75 + static_cast<double>(k % 1000) * 0.25);
    out += R"(],"meta":["patch",{"lt":["put",")";
    append_marker(out, 'e', client, sent_ns);
    out += R"("]}])";
    if (payload_bytes_ > 0) {
        // A new label each time. diffRecord nests only props and meta (and
        // arrays, strings), so the client puts the whole richText.
        out += R"(,"props":["patch",{"richText":["put",)";
        const std::size_t at = out.size() + label_text_at_;
        out += label_;
        char buf[24];
        const auto r = std::to_chars(buf, buf + sizeof buf, k);
        const auto n = std::min(static_cast<std::size_t>(r.ptr - buf),
                                static_cast<std::size_t>(payload_bytes_));
        out.replace(at, n, buf, n);
        out += "]}]";
    }
    out += "}]}}";
}

void message_builder::seed(std::string& out, std::int64_t clock, int room, int first,
                           int count) const {
    push_head(out, clock);
    out += R"(,"diff":{)";
    std::string id;
    for (int i = first; i < first + count; ++i) {
        id = "shape:seed" + std::to_string(room) + "_" + std::to_string(i);
        if (i != first) out += ',';
        out += '"';
        out += id;
        out += R"(":["put",)";
        geo_record(out, id, (i % 50) * 200.0, (i / 50) * 150.0, i, "{}");
        out += ']';
    }
    out += "}}";
}

std::string message_builder::shape_id(std::uint32_t client, std::uint64_t k) {
    return "shape:lt" + std::to_string(client) + "_" + std::to_string(k);
}

} // namespace tlsync::loadtest
