#include "test/loadtest/report.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace tlsync::loadtest {

proc_sample read_proc(int pid) {
    proc_sample s;
    const std::string base = pid ? "/proc/" + std::to_string(pid) : std::string("/proc/self");
    std::ifstream stat(base + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return s;
    // Fields after the parenthesised command name (which may hold spaces).
    const auto close = line.rfind(')');
    if (close == std::string::npos) return s;
    std::istringstream in(line.substr(close + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && in >> field; ++i) {
        if (i == 14) utime = std::stoull(field);
        if (i == 15) stime = std::stoull(field);
    }
    s.cpu_s = static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
    std::ifstream status(base + "/status");
    while (std::getline(status, line)) {
        if (line.starts_with("VmRSS:"))
            s.rss_kib = std::stol(line.substr(6));
        else if (line.starts_with("VmHWM:"))
            s.hwm_kib = std::stol(line.substr(6));
    }
    s.ok = true;
    return s;
}

void merge_into(thread_stats& t, const thread_stats& s) {
    counter thread_stats::*counters[] = {&thread_stats::attempts,
                                         &thread_stats::connected,
                                         &thread_stats::failed,
                                         &thread_stats::closed_by_server,
                                         &thread_stats::pushes,
                                         &thread_stats::pushes_in_window,
                                         &thread_stats::expected_in_window,
                                         &thread_stats::commits,
                                         &thread_stats::discards,
                                         &thread_stats::rebases,
                                         &thread_stats::patches,
                                         &thread_stats::delivered_in_window,
                                         &thread_stats::pongs,
                                         &thread_stats::pings,
                                         &thread_stats::frames_in,
                                         &thread_stats::bytes_in,
                                         &thread_stats::bytes_out,
                                         &thread_stats::skipped_sends,
                                         &thread_stats::seed_pushes,
                                         &thread_stats::seed_done};
    for (auto c : counters)
        (t.*c).add((s.*c).get());
    histogram thread_stats::*histograms[] = {
        &thread_stats::latency_us,      &thread_stats::latency_presence_us,
        &thread_stats::latency_edit_us, &thread_stats::latency_create_us,
        &thread_stats::connect_us,      &thread_stats::handshake_us,
        &thread_stats::send_lag_us};
    for (auto h : histograms)
        (t.*h).merge(s.*h);
    t.connect_bytes_max = std::max(t.connect_bytes_max, s.connect_bytes_max);
    for (const auto& [k, v] : s.close_codes)
        t.close_codes[k] += v;
    for (const auto& [k, v] : s.failures)
        t.failures[k] += v;
    if (t.first_not_committed.empty()) t.first_not_committed = s.first_not_committed;
    t.first_attempt_ns = std::min(t.first_attempt_ns, s.first_attempt_ns);
    t.last_connected_ns = std::max(t.last_connected_ns, s.last_connected_ns);
}

namespace {

std::string esc(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\')
            out += '\\', out += c;
        else if (static_cast<unsigned char>(c) < 0x20)
            out += ' ';
        else
            out += c;
    }
    return out + "\"";
}

std::string num(double v, int decimals = 3) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

// Quantiles in milliseconds.
std::string hist_json(const histogram& h) {
    auto ms = [&](double q) { return num(static_cast<double>(h.quantile(q)) / 1000.0); };
    return "{\"count\":" + std::to_string(h.count()) + ",\"mean\":" + num(h.mean() / 1000.0) +
           ",\"p50\":" + ms(0.5) + ",\"p90\":" + ms(0.9) + ",\"p99\":" + ms(0.99) +
           ",\"p999\":" + ms(0.999) + ",\"max\":" + num(static_cast<double>(h.max()) / 1000.0) +
           "}";
}

std::string hist_text(const histogram& h) {
    if (!h.count()) return "-";
    auto ms = [&](double q) { return static_cast<double>(h.quantile(q)) / 1000.0; };
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  "p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f ms  (n=%llu)", ms(0.5),
                  ms(0.9), ms(0.99), ms(0.999), static_cast<double>(h.max()) / 1000.0,
                  static_cast<unsigned long long>(h.count()));
    return buf;
}

std::string map_json(const std::map<std::string, std::uint64_t>& m) {
    std::string out = "{";
    for (const auto& [k, v] : m) {
        if (out.size() > 1) out += ',';
        out += esc(k) + ":" + std::to_string(v);
    }
    return out + "}";
}

} // namespace

std::string interval_json(double t_s, const char* phase, const interval_counts& c,
                          const histogram& latency_us) {
    return "{\"t\":" + num(t_s) + ",\"phase\":" + esc(phase) +
           ",\"connected_now\":" + std::to_string(c.connected_now) +
           ",\"made\":" + std::to_string(c.made) + ",\"failed\":" + std::to_string(c.failed) +
           ",\"closed_by_server\":" + std::to_string(c.closed_by_server) +
           ",\"pushes\":" + std::to_string(c.pushes) + ",\"patches\":" + std::to_string(c.patches) +
           ",\"latency_ms\":" + hist_json(latency_us) + "}\n";
}

std::string report(const options& opt, const run_plan& plan, const thread_stats& t,
                   const run_samples& s) {
    const double window = s.window_s > 0 ? s.window_s : 1;
    const double pushes_w = static_cast<double>(t.pushes_in_window.get());
    const double delivered_w = static_cast<double>(t.delivered_in_window.get());
    const double expected_w = static_cast<double>(t.expected_in_window.get());
    const double ratio = expected_w > 0 ? delivered_w / expected_w : 0;
    const double gen_cpu = s.self_window_end.cpu_s - s.self_window_start.cpu_s;
    const double gen_util = gen_cpu / window;
    const bool generator_bound = gen_util > 0.8 * s.cpus;
    const bool have_server = opt.server_pid && s.server_window_end.ok && s.server_window_start.ok;
    const double srv_cpu =
        have_server ? s.server_window_end.cpu_s - s.server_window_start.cpu_s : 0;
    const double connected = static_cast<double>(t.connected.get());
    const double join_s = t.last_connected_ns > t.first_attempt_ns && t.connected.get()
                              ? static_cast<double>(t.last_connected_ns - t.first_attempt_ns) / 1e9
                              : 0;
    const double rss_per_session =
        have_server && connected > 0
            ? static_cast<double>(s.server_window_end.rss_kib - s.server_before.rss_kib) / connected
            : 0;
    auto per_million = [](double cpu, double n) { return n > 0 ? cpu / (n / 1e6) : 0.0; };

    // ---------------------------------------------------------------- text
    std::printf(
        "\n== tlsync_loadtest: %s, %d room(s) x %d client(s), presence %.3g Hz, edits %.3g Hz, "
        "creates %.3g Hz, payload %d B\n",
        opt.url.c_str(), opt.rooms, opt.clients_per_room, opt.presence_hz, opt.edit_hz,
        opt.create_hz, opt.payload_bytes);
    std::printf("connections  %llu made, %llu failed of %llu; all joined in %.3f s\n",
                static_cast<unsigned long long>(t.connected.get()),
                static_cast<unsigned long long>(t.failed.get()),
                static_cast<unsigned long long>(t.attempts.get()), join_s);
    for (const auto& [k, v] : t.failures)
        std::printf("  failure    %s: %llu\n", k.c_str(), static_cast<unsigned long long>(v));
    std::printf("connect      %s (largest %llu B)\n", hist_text(t.connect_us).c_str(),
                static_cast<unsigned long long>(t.connect_bytes_max));
    std::printf("window       %.1f s: %.0f pushes (%.0f/s), %.0f of %.0f expected deliveries "
                "(%.4f), %.0f/s\n",
                window, pushes_w, pushes_w / window, delivered_w, expected_w, ratio,
                delivered_w / window);
    std::printf(
        "results      commit %llu, discard %llu, rebase %llu, unanswered %lld (all %llu pushes)\n",
        static_cast<unsigned long long>(t.commits.get()),
        static_cast<unsigned long long>(t.discards.get()),
        static_cast<unsigned long long>(t.rebases.get()),
        static_cast<long long>(t.pushes.get()) -
            static_cast<long long>(t.commits.get() + t.discards.get() + t.rebases.get()),
        static_cast<unsigned long long>(t.pushes.get()));
    if (!t.first_not_committed.empty())
        std::printf("  first      %s\n", t.first_not_committed.c_str());
    std::printf("patches      %llu received in all; pongs %llu of %llu pings\n",
                static_cast<unsigned long long>(t.patches.get()),
                static_cast<unsigned long long>(t.pongs.get()),
                static_cast<unsigned long long>(t.pings.get()));
    std::printf("latency      %s\n", hist_text(t.latency_us).c_str());
    std::printf("  presence   %s\n", hist_text(t.latency_presence_us).c_str());
    std::printf("  edit       %s\n", hist_text(t.latency_edit_us).c_str());
    std::printf("closes       %s\n", map_json(t.close_codes).c_str());
    std::printf(
        "generator    %.2f CPU-s in window (%.0f%% of %d CPU(s), %d thread(s)); send lag %s; "
        "skipped %llu%s\n",
        gen_cpu, 100 * gen_util / s.cpus, s.cpus, s.threads, hist_text(t.send_lag_us).c_str(),
        static_cast<unsigned long long>(t.skipped_sends.get()),
        generator_bound ? "\n  ** GENERATOR-BOUND: the generator used over 80% of its CPUs; "
                          "do not believe these figures **"
                        : "");
    if (have_server)
        std::printf(
            "server       %.2f CPU-s in window (%.0f%%), %.3f CPU-s per million deliveries, "
            "%.3f per million pushes; RSS %ld -> %ld KiB (%.2f KiB/session), peak %ld KiB\n",
            srv_cpu, 100 * srv_cpu / window, per_million(srv_cpu, delivered_w),
            per_million(srv_cpu, pushes_w), s.server_before.rss_kib, s.server_window_end.rss_kib,
            rss_per_session, s.server_window_end.hwm_kib);
    if (s.forced_stop)
        std::printf("note         some clients did not close in time and were stopped\n");

    // ---------------------------------------------------------------- JSON
    std::string j = "{";
    j += "\"url\":" + esc(opt.url) + ",\"rooms\":" + std::to_string(opt.rooms) +
         ",\"clients_per_room\":" + std::to_string(opt.clients_per_room) +
         ",\"presence_hz\":" + num(opt.presence_hz) + ",\"edit_hz\":" + num(opt.edit_hz) +
         ",\"create_hz\":" + num(opt.create_hz) +
         ",\"payload_bytes\":" + std::to_string(opt.payload_bytes) +
         ",\"duration_s\":" + num(opt.duration_s) + ",\"ramp_up_s\":" + num(opt.ramp_up_s) +
         ",\"seed_shapes\":" + std::to_string(opt.seed_shapes) +
         ",\"seed_pushes\":" + std::to_string(s.seed_pushes) + ",\"elapsed_s\":" + num(s.elapsed_s);
    j += ",\"connections\":{\"attempted\":" + std::to_string(t.attempts.get()) +
         ",\"made\":" + std::to_string(t.connected.get()) +
         ",\"failed\":" + std::to_string(t.failed.get()) + ",\"failures\":" + map_json(t.failures) +
         ",\"join_s\":" + num(join_s) + ",\"connect_ms\":" + hist_json(t.connect_us) +
         ",\"handshake_ms\":" + hist_json(t.handshake_us) +
         ",\"connect_bytes_max\":" + std::to_string(t.connect_bytes_max) + "}";
    j += ",\"window_s\":" + num(window);
    j += ",\"pushes\":{\"sent\":" + std::to_string(t.pushes.get()) +
         ",\"in_window\":" + std::to_string(t.pushes_in_window.get()) +
         ",\"per_s\":" + num(pushes_w / window) + ",\"commit\":" + std::to_string(t.commits.get()) +
         ",\"discard\":" + std::to_string(t.discards.get()) +
         ",\"rebase\":" + std::to_string(t.rebases.get()) +
         ",\"skipped\":" + std::to_string(t.skipped_sends.get()) + "}";
    j += ",\"patches\":{\"received\":" + std::to_string(t.patches.get()) +
         ",\"delivered_in_window\":" + std::to_string(t.delivered_in_window.get()) +
         ",\"expected_in_window\":" + std::to_string(t.expected_in_window.get()) +
         ",\"delivery_ratio\":" + num(ratio, 5) + ",\"per_s\":" + num(delivered_w / window) + "}";
    j += ",\"latency_ms\":" + hist_json(t.latency_us) +
         ",\"latency_presence_ms\":" + hist_json(t.latency_presence_us) +
         ",\"latency_edit_ms\":" + hist_json(t.latency_edit_us) +
         ",\"latency_create_ms\":" + hist_json(t.latency_create_us);
    j += ",\"pings\":" + std::to_string(t.pings.get()) +
         ",\"pongs\":" + std::to_string(t.pongs.get()) +
         ",\"frames_in\":" + std::to_string(t.frames_in.get()) +
         ",\"bytes_in\":" + std::to_string(t.bytes_in.get()) +
         ",\"bytes_out\":" + std::to_string(t.bytes_out.get());
    j += ",\"close_codes\":" + map_json(t.close_codes) +
         ",\"closed_by_server\":" + std::to_string(t.closed_by_server.get());
    j += ",\"generator\":{\"cpu_s\":" + num(gen_cpu) + ",\"cpu_s_total\":" + num(s.self_end.cpu_s) +
         ",\"utilization\":" + num(gen_util) + ",\"cpus\":" + std::to_string(s.cpus) +
         ",\"threads\":" + std::to_string(s.threads) +
         ",\"bound\":" + (generator_bound ? "true" : "false") +
         ",\"send_lag_ms\":" + hist_json(t.send_lag_us) +
         ",\"rss_kib\":" + std::to_string(s.self_end.rss_kib) +
         ",\"forced_stop\":" + (s.forced_stop ? "true" : "false") + "}";
    if (have_server)
        j += ",\"server\":{\"pid\":" + std::to_string(opt.server_pid) +
             ",\"cpu_s\":" + num(srv_cpu) + ",\"utilization\":" + num(srv_cpu / window) +
             ",\"cpu_s_per_million_deliveries\":" + num(per_million(srv_cpu, delivered_w)) +
             ",\"cpu_s_per_million_pushes\":" + num(per_million(srv_cpu, pushes_w)) +
             ",\"rss_kib_before\":" + std::to_string(s.server_before.rss_kib) +
             ",\"rss_kib_window_start\":" + std::to_string(s.server_window_start.rss_kib) +
             ",\"rss_kib_window_end\":" + std::to_string(s.server_window_end.rss_kib) +
             ",\"rss_kib_peak\":" + std::to_string(s.server_window_end.hwm_kib) +
             ",\"rss_kib_per_session\":" + num(rss_per_session) + "}";
    (void)plan;
    return j + "}\n";
}

} // namespace tlsync::loadtest
