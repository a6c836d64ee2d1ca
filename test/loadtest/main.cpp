// tlsync_loadtest: drives a tldraw sync server (tlsyncd, the Node reference
// server, or bench_relay) with simulated clients and reports what it saw.
// scripts/loadtest builds and runs it; scripts/bench runs the standard
// workloads with it. See --help.

#include "test/loadtest/engine.hpp"
#include "test/loadtest/messages.hpp"
#include "test/loadtest/options.hpp"
#include "test/loadtest/report.hpp"

#include <sched.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <fstream>
#include <memory>
#include <thread>

namespace {

using namespace tlsync::loadtest;

int affinity_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
    return std::max(1, CPU_COUNT(&set));
}

const char* phase_name(const run_plan& plan) {
    const auto ns = plan.now_ns();
    return ns < plan.window_start_ns ? "ramp" : ns < plan.window_end_ns ? "run" : "drain";
}

// Appends an --intervals line: counters so far, latencies since the last line.
void write_interval(std::FILE* out, const run_plan& plan, engine& eng, const char* phase) {
    interval_counts c;
    histogram latency;
    for (const auto& s : eng.stats()) {
        c.made += s->connected.get();
        c.failed += s->failed.get();
        c.closed_by_server += s->closed_by_server.get();
        c.pushes += s->pushes.get();
        c.patches += s->patches.get();
        s->take_interval_latency(latency);
    }
    for (const auto& m : plan.room_members)
        c.connected_now += m.load(std::memory_order_relaxed);
    const auto line = interval_json(static_cast<double>(plan.now_ns()) / 1e9, phase, c, latency);
    std::fputs(line.c_str(), out);
    std::fflush(out);
}

void progress(const run_plan& plan, engine& eng, bool tty, double gen_cpu0) {
    std::uint64_t made = 0, failed = 0, pushes = 0, patches = 0, results = 0, closes = 0;
    for (const auto& s : eng.stats()) {
        made += s->connected.get();
        failed += s->failed.get();
        pushes += s->pushes.get();
        patches += s->patches.get();
        results += s->commits.get() + s->discards.get() + s->rebases.get();
        closes += s->closed_by_server.get();
    }
    const double t = static_cast<double>(plan.now_ns()) / 1e9;
    const char* phase = plan.now_ns() < plan.window_start_ns ? "ramp"
                        : plan.now_ns() < plan.window_end_ns ? "run "
                                                             : "drain";
    std::fprintf(stderr,
                 "%s[%6.1fs %s] conn %llu ok %llu failed %llu closed | pushes %llu results %llu | "
                 "patches %llu | gen cpu %.1fs%s",
                 tty ? "\r" : "", t, phase, static_cast<unsigned long long>(made),
                 static_cast<unsigned long long>(failed), static_cast<unsigned long long>(closes),
                 static_cast<unsigned long long>(pushes), static_cast<unsigned long long>(results),
                 static_cast<unsigned long long>(patches), read_proc(0).cpu_s - gen_cpu0,
                 tty ? "   " : "\n");
    std::fflush(stderr);
}

int run(options& opt) {
    opt.threads = opt.threads > 0 ? opt.threads : affinity_cpus();
    std::signal(SIGPIPE, SIG_IGN);
    const message_builder msgs(opt.payload_bytes);
    run_plan plan(opt);
    engine eng(opt, msgs, plan);
    if (auto e = eng.prepare(); !e.empty()) {
        std::fprintf(stderr, "loadtest: %s\n", e.c_str());
        return 2;
    }
    run_samples samples;
    samples.threads = eng.threads();
    samples.cpus = affinity_cpus();
    if (opt.seed_shapes > 0) {
        const auto t = plan.now_ns();
        if (auto e = eng.seed(); !e.empty()) {
            std::fprintf(stderr, "loadtest: %s\n", e.c_str());
            return 1;
        }
        for (const auto& s : eng.stats())
            samples.seed_pushes += s->seed_pushes.get();
        std::fprintf(stderr, "seeded %d shape(s) into %d room(s) in %.2f s\n", opt.seed_shapes,
                     opt.rooms, static_cast<double>(plan.now_ns() - t) / 1e9);
        if (opt.seed_only) return 0;
    }

    // The plan, relative to a fresh t0.
    const int total = opt.rooms * opt.clients_per_room;
    double ramp = opt.ramp_up_s;
    if (opt.connect_rate > 0) ramp = std::max(ramp, (total - 1) / opt.connect_rate);
    plan.t0 = clock_type::now();
    plan.window_start_ns = static_cast<std::int64_t>((ramp + opt.warmup_s) * 1e9);
    plan.window_end_ns = plan.window_start_ns + static_cast<std::int64_t>(opt.duration_s * 1e9);
    plan.drain_end_ns = plan.window_end_ns + static_cast<std::int64_t>(opt.drain_s * 1e9);
    samples.window_s = opt.duration_s;

    if (opt.server_pid) {
        samples.server_before = read_proc(opt.server_pid);
        if (!samples.server_before.ok)
            std::fprintf(stderr, "loadtest: cannot read /proc/%d; no server figures\n",
                         opt.server_pid);
    }
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> intervals(nullptr, &std::fclose);
    if (!opt.intervals_path.empty()) {
        intervals.reset(std::fopen(opt.intervals_path.c_str(), "w"));
        if (!intervals) {
            std::fprintf(stderr, "loadtest: --intervals: cannot write %s\n",
                         opt.intervals_path.c_str());
            return 2;
        }
    }
    const double gen_cpu0 = read_proc(0).cpu_s;
    eng.start();

    const bool tty = !opt.quiet && isatty(STDERR_FILENO);
    const auto tick = std::chrono::milliseconds(static_cast<int>(opt.progress_s * 1000));
    auto next_progress = plan.t0 + tick;
    bool window_started = false, window_ended = false;
    // Clients close within 3 s of the drain's end (the close handshake deadline).
    const auto give_up = plan.at(plan.drain_end_ns) + std::chrono::seconds(4);
    while (plan.clients_done.load() < total) {
        const auto now = clock_type::now();
        if (now >= give_up) {
            samples.forced_stop = true;
            break;
        }
        auto wake = std::min(next_progress, give_up);
        if (!window_started)
            wake = std::min(wake, plan.at(plan.window_start_ns));
        else if (!window_ended)
            wake = std::min(wake, plan.at(plan.window_end_ns));
        std::this_thread::sleep_until(std::min(wake, now + std::chrono::milliseconds(50)));
        const auto ns = plan.now_ns();
        if (!window_started && ns >= plan.window_start_ns) {
            window_started = true;
            samples.self_window_start = read_proc(0);
            if (opt.server_pid) samples.server_window_start = read_proc(opt.server_pid);
        }
        if (window_started && !window_ended && ns >= plan.window_end_ns) {
            window_ended = true;
            samples.self_window_end = read_proc(0);
            if (opt.server_pid) samples.server_window_end = read_proc(opt.server_pid);
        }
        if (clock_type::now() >= next_progress) {
            if (!opt.quiet) progress(plan, eng, tty, gen_cpu0);
            if (intervals) write_interval(intervals.get(), plan, eng, phase_name(plan));
            // Never a wake-up time in the past: this loop must sleep, not spin.
            while (next_progress <= clock_type::now())
                next_progress += tick;
        }
    }
    if (!window_ended) { // everyone gave up early (e.g. the server went away)
        samples.self_window_end = read_proc(0);
        if (!window_started) samples.self_window_start = samples.self_window_end;
        if (opt.server_pid) {
            samples.server_window_end = read_proc(opt.server_pid);
            if (!window_started) samples.server_window_start = samples.server_window_end;
        }
    }
    if (samples.forced_stop) eng.stop();
    eng.join();
    if (tty) std::fputc('\n', stderr);
    if (intervals) write_interval(intervals.get(), plan, eng, "end"); // the rest, after the drain
    samples.self_end = read_proc(0);
    samples.elapsed_s = static_cast<double>(plan.now_ns()) / 1e9;

    thread_stats total_stats;
    for (const auto& s : eng.stats())
        merge_into(total_stats, *s);
    const std::string json = report(opt, plan, total_stats, samples);
    if (!opt.json_path.empty()) {
        std::ofstream out(opt.json_path);
        out << json;
        if (!out) {
            std::fprintf(stderr, "loadtest: cannot write %s\n", opt.json_path.c_str());
            return 1;
        }
    }
    return total_stats.connected.get() > 0 || total == 0 ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    options opt;
    bool help = false;
    if (auto error = parse_options(argc, argv, opt, help)) {
        std::fprintf(stderr, "loadtest: %s\n", error->c_str());
        return 2;
    }
    if (help) {
        std::fputs(usage().c_str(), stdout);
        return 0;
    }
    try {
        return run(opt);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "loadtest: fatal: %s\n", e.what());
        return 1;
    }
}
