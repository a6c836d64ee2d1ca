#pragma once
// The run's summary: merged counters, /proc samples, the text table and JSON.

#include "test/loadtest/options.hpp"
#include "test/loadtest/stats.hpp"

#include <memory>
#include <string>
#include <vector>

namespace tlsync::loadtest {

struct proc_sample {
    bool ok = false;
    double cpu_s = 0; // utime + stime, all threads
    long rss_kib = 0;
    long hwm_kib = 0;
};

// /proc/<pid>/stat and /proc/<pid>/status; pid 0: this process.
[[nodiscard]] proc_sample read_proc(int pid);

struct run_samples {
    proc_sample server_before, server_window_start, server_window_end;
    proc_sample self_window_start, self_window_end, self_end;
    double window_s = 0;  // as planned
    double elapsed_s = 0; // whole run
    int threads = 1;
    int cpus = 1; // CPUs the generator may run on
    std::uint64_t seed_pushes = 0;
    bool forced_stop = false;
};

void merge_into(thread_stats& total, const thread_stats& s);

// Running totals for an --intervals line (counters only: they may be read
// while the clients run; the maps and histograms of thread_stats may not).
struct interval_counts {
    std::uint64_t made = 0, failed = 0, closed_by_server = 0, pushes = 0, patches = 0;
    int connected_now = 0; // clients connected at this moment
};

// One --intervals line: the totals and the latencies recorded since the
// previous line.
std::string interval_json(double t_s, const char* phase, const interval_counts& c,
                          const histogram& latency_us);

// Prints the human summary to stdout and returns the JSON summary.
std::string report(const options& opt, const run_plan& plan, const thread_stats& t,
                   const run_samples& s);

} // namespace tlsync::loadtest
