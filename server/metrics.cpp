#include "server/metrics.hpp"

#include "proto/messages.hpp"

#include <cmath>
#include <cstdio>

namespace tlsync::server {

void histogram::observe(double seconds) noexcept {
    std::size_t i = 0;
    while (i + 1 < bucket_count && seconds > bound(i)) ++i;
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
    const double micros = seconds > 0 ? seconds * 1e6 : 0;
    sum_micros_.fetch_add(static_cast<std::uint64_t>(std::llround(micros)), std::memory_order_relaxed);
}

double histogram::bound(std::size_t i) noexcept {
    // 50us * 2^i: 50us .. ~26s over 20 buckets; the last one also takes +Inf.
    return first_bound * std::ldexp(1.0, static_cast<int>(i));
}

double histogram::sum() const noexcept {
    return static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6;
}

std::string_view to_string(msg_type t) noexcept {
    switch (t) {
    case msg_type::connect: return "connect";
    case msg_type::push: return "push";
    case msg_type::ping: return "ping";
    case msg_type::data: return "data";
    case msg_type::pong: return "pong";
    case msg_type::custom: return "custom";
    case msg_type::incompatibility_error: return "incompatibility_error";
    default: return "other";
    }
}

std::string_view to_string(reject_reason r) noexcept {
    switch (r) {
    case reject_reason::not_found: return "NOT_FOUND";
    case reject_reason::forbidden: return "FORBIDDEN";
    case reject_reason::not_authenticated: return "NOT_AUTHENTICATED";
    case reject_reason::unknown_error: return "UNKNOWN_ERROR";
    case reject_reason::client_too_old: return "CLIENT_TOO_OLD";
    case reject_reason::server_too_old: return "SERVER_TOO_OLD";
    case reject_reason::invalid_record: return "INVALID_RECORD";
    case reject_reason::rate_limited: return "RATE_LIMITED";
    case reject_reason::room_full: return "ROOM_FULL";
    case reject_reason::bad_request: return "bad_request";
    case reject_reason::message_too_large: return "message_too_large";
    case reject_reason::slow_consumer: return "slow_consumer";
    case reject_reason::too_many_connections: return "too_many_connections";
    case reject_reason::connection_rate: return "connection_rate";
    case reject_reason::handshake_timeout: return "handshake_timeout";
    case reject_reason::idle_timeout: return "idle_timeout";
    case reject_reason::storage_unavailable: return "storage_unavailable";
    case reject_reason::room_owned_elsewhere: return "room_owned_elsewhere";
    case reject_reason::lease_lost: return "lease_lost";
    default: return "other";
    }
}

reject_reason reject_reason_from_close_reason(std::string_view r) noexcept {
    for (std::size_t i = 0; i < metrics::n_reasons; ++i) {
        const auto candidate = static_cast<reject_reason>(i);
        if (to_string(candidate) == r) return candidate;
    }
    return reject_reason::other;
}

namespace {

void line(std::string& out, std::string_view name, std::string_view labels, double v) {
    out.append(name);
    if (!labels.empty()) out.append("{").append(labels).append("}");
    char buf[64];
    std::snprintf(buf, sizeof buf, " %.17g\n", v);
    out.append(buf);
}

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
    out.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

template <class T>
void by_type(std::string& out, std::string_view name, std::string_view help, const T& arr) {
    header(out, name, "counter", help);
    for (std::size_t i = 0; i < arr.size(); ++i) {
        const std::string labels =
            "type=\"" + std::string(to_string(static_cast<msg_type>(i))) + "\"";
        line(out, name, labels, static_cast<double>(arr[i].value()));
    }
}

void hist(std::string& out, std::string_view name, std::string_view help, const histogram& h) {
    header(out, name, "histogram", help);
    std::uint64_t cumulative = 0;
    const std::string bucket = std::string(name) + "_bucket";
    for (std::size_t i = 0; i < histogram::bucket_count; ++i) {
        cumulative += h.bucket(i);
        char le[64];
        std::snprintf(le, sizeof le, "le=\"%.6g\"", histogram::bound(i));
        if (i + 1 < histogram::bucket_count) line(out, bucket, le, static_cast<double>(cumulative));
    }
    line(out, bucket, "le=\"+Inf\"", static_cast<double>(h.count()));
    line(out, std::string(name) + "_sum", {}, h.sum());
    line(out, std::string(name) + "_count", {}, static_cast<double>(h.count()));
}

} // namespace

std::string metrics::render() const {
    std::string out;
    out.reserve(8192);
    auto g = [&](std::string_view name, std::string_view help, const gauge& v) {
        header(out, name, "gauge", help);
        line(out, name, {}, static_cast<double>(v.value()));
    };
    auto c = [&](std::string_view name, std::string_view help, const counter& v) {
        header(out, name, "counter", help);
        line(out, name, {}, static_cast<double>(v.value()));
    };
    g("tlsync_rooms_loaded", "Rooms loaded in memory.", rooms_loaded);
    g("tlsync_connections_open", "Open client connections (HTTP and WebSocket).", connections_open);
    c("tlsync_connections_total", "Connections accepted since start.", connections_total);
    header(out, "tlsync_sessions", "gauge", "Sync sessions by state.");
    line(out, "tlsync_sessions", "state=\"awaiting_connect\"", static_cast<double>(sessions_awaiting_connect.value()));
    line(out, "tlsync_sessions", "state=\"connected\"", static_cast<double>(sessions_connected.value()));
    line(out, "tlsync_sessions", "state=\"awaiting_removal\"", static_cast<double>(sessions_awaiting_removal.value()));
    by_type(out, "tlsync_messages_in_total", "Client messages received, by type.", messages_in);
    by_type(out, "tlsync_bytes_in_total", "Client message bytes received, by type.", bytes_in);
    by_type(out, "tlsync_messages_out_total", "Messages sent to clients, by type.", messages_out);
    by_type(out, "tlsync_bytes_out_total", "Bytes sent to clients, by type.", bytes_out);
    header(out, "tlsync_rejections_total", "counter", "Sessions or connections refused or closed, by reason.");
    for (std::size_t i = 0; i < n_reasons; ++i)
        line(out, "tlsync_rejections_total",
             "reason=\"" + std::string(to_string(static_cast<reject_reason>(i))) + "\"",
             static_cast<double>(rejections[i].value()));
    hist(out, "tlsync_push_handling_seconds", "Time to handle one push on the room's strand.", push_seconds);
    hist(out, "tlsync_storage_flush_seconds", "Time of one write-behind flush to SQLite.", flush_seconds);
    hist(out, "tlsync_storage_flush_strand_seconds",
         "Time a flush holds the room's strand (copying what changed).", flush_strand_seconds);
    g("tlsync_outbound_queue_bytes", "Bytes queued for sending across all connections.", outbound_queue_bytes);
    c("tlsync_http_requests_total", "HTTP requests served.", http_requests);
    c("tlsync_storage_flush_failures_total", "Failed storage flushes (retried).", flushes_failed);
    c("tlsync_replicator_transactions_total", "Postgres transactions recorded by the replicator.",
      replicator_transactions);
    c("tlsync_replicator_reboots_total", "Replication sessions that ended and were restarted.", replicator_reboots);
    c("tlsync_replicator_sequence_breaks_total", "Replication continuity breaks (every user reloads).",
      replicator_sequence_breaks);
    g("tlsync_user_sockets_open", "Open user sockets (/app/{userId}/connect).", user_sockets_open);
    g("tlsync_users_connected", "Users with at least one open socket.", users_connected);
    c("tlsync_user_events_total", "Changes events handed to user sockets.", user_events);
    c("tlsync_user_slow_closes_total", "User sockets closed for falling behind.", user_slow_closes);
    c("tlsync_user_mutations_committed_total", "User mutations committed.", user_mutations_committed);
    c("tlsync_user_mutations_rejected_total", "User mutations rejected.", user_mutations_rejected);
    c("tlsync_rooms_deleted_with_file_total", "Rooms closed and removed because their file was deleted.",
      rooms_deleted_with_file);
    g("tlsync_room_leases_held", "Room leases this node holds (--storage postgres).", room_leases_held);
    c("tlsync_room_lease_renewals_total", "Room lease renewal rounds that succeeded (one statement each).",
      room_lease_renewals);
    c("tlsync_room_lease_renewal_failures_total", "Room lease renewal rounds that failed (retried).",
      room_lease_renewal_failures);
    c("tlsync_room_leases_lost_total", "Room leases lost: taken by another node, or expired unrenewed.",
      room_leases_lost);
    c("tlsync_room_handovers_total", "Rooms handed over to another node that asked for them.", room_handovers);
    c("tlsync_uploads_total", "Uploads stored (PUT /uploads/{id}).", uploads);
    c("tlsync_upload_bytes_total", "Bytes of uploads stored.", upload_bytes);
    c("tlsync_uploads_refused_total", "Upload requests refused (size, type, token, capacity, bad id).",
      uploads_refused);
    return out;
}

metrics& global_metrics() noexcept {
    static metrics m;
    return m;
}

} // namespace tlsync::server
