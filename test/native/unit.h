// The check macros of the pure C++ unit drivers (h2_test.cc, ws_test.cc): one "ok N ..." or "not ok N ...
// (line L)" line per check on stdout, counted in `checks` and `failures`, which
// the driver's main() reports and turns into its exit status. One translation
// unit per driver, so the counters are file-static.
#ifndef GTS_TEST_UNIT_H_
#define GTS_TEST_UNIT_H_

#include <cstdio>

static int failures = 0;
static int checks = 0;

// CHECK(cond): the condition's text is the line's description.
#define CHECK(cond)                                                     \
  do {                                                                  \
    checks++;                                                           \
    if (cond) {                                                         \
      std::printf("ok %d %s\n", checks, #cond);                         \
    } else {                                                            \
      failures++;                                                       \
      std::printf("not ok %d %s (line %d)\n", checks, #cond, __LINE__); \
    }                                                                   \
  } while (0)

// CHECK_MSG(cond, fmt, ...): a printf-formatted description instead.
#define CHECK_MSG(cond, ...)                                 \
  do {                                                       \
    checks++;                                                \
    if (cond) {                                              \
      std::printf("ok %d ", checks);                         \
    } else {                                                 \
      failures++;                                            \
      std::printf("not ok %d (line %d) ", checks, __LINE__); \
    }                                                        \
    std::printf(__VA_ARGS__);                                \
    std::printf("\n");                                       \
  } while (0)

#endif  // GTS_TEST_UNIT_H_
