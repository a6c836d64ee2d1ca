#pragma once
// Client messages as text, built with appends into a reused string: the
// generator sends tens of thousands a second. The records are complete
// tldraw 5.4.2 records (the shapes of test/bench/bench_core.cpp), so both
// tlsyncd's validators and @tldraw/tlschema's accept them. Every pushed
// record carries a latency marker in meta.lt (scan.hpp). Patches are written
// as tldraw's diffRecord writes them (nested `patch` for meta and props), so
// the server's diff equals the client's and a push is committed, not rebased.

#include <cstdint>
#include <memory>
#include <string>

namespace tlsync::loadtest {

class message_builder {
  public:
    // payload_bytes: label text in creates and edits.
    explicit message_builder(int payload_bytes);

    // {"type":"connect",...} with the tldraw schema, as proto::encode writes it.
    void connect(std::string& out, std::string_view request_id) const;
    static void ping(std::string& out);

    // Presence put: the full instance_presence record as the client sends it.
    void presence_put(std::string& out, std::int64_t clock, std::uint32_t client) const;
    // A cursor move at 30 Hz: cursor, lastActivityTimestamp and the marker.
    void presence_move(std::string& out, std::int64_t clock, std::uint32_t client, std::uint64_t k,
                       std::int64_t sent_ns) const;

    // A new geo shape with richText (the payload) and the marker in meta.
    void create(std::string& out, std::int64_t clock, std::string_view shape_id, int index,
                std::uint32_t client, std::int64_t sent_ns) const;
    // x/y (and the label, with a payload) of an existing shape, plus the marker.
    void edit(std::string& out, std::int64_t clock, std::string_view shape_id, std::uint64_t k,
              std::uint32_t client, std::int64_t sent_ns) const;
    // One push putting shapes first..first+count-1 of a seeded room.
    void seed(std::string& out, std::int64_t clock, int room, int first, int count) const;

    [[nodiscard]] static std::string shape_id(std::uint32_t client, std::uint64_t k);

  private:
    void geo_record(std::string& out, std::string_view id, double x, double y, int index,
                    std::string_view meta) const;

    std::string connect_head_;      // up to the request id's opening quote
    std::string connect_tail_;      // from its closing quote
    std::string label_;             // richText JSON of the payload
    std::size_t label_text_at_ = 0; // where the label's text starts in label_
    int payload_bytes_ = 0;
};

} // namespace tlsync::loadtest
