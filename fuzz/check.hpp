#pragma once
// FUZZ_CHECK: an invariant of a fuzz target. A failure prints what was
// expected and aborts, which libFuzzer reports as a crash with the input saved.

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond, ...)                                                                   \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            std::fprintf(stderr, "%s:%d: invariant failed: %s\n  ", __FILE__, __LINE__, #cond); \
            std::fprintf(stderr, __VA_ARGS__);                                                  \
            std::fprintf(stderr, "\n");                                                         \
            std::abort();                                                                       \
        }                                                                                       \
    } while (0)
