// CHECK(c, what) of the libFuzzer targets: a broken invariant prints one line,
// "<FUZZ_NAME>: what (line N)", on stderr and aborts (libFuzzer then keeps the
// input as a crash). Each target defines FUZZ_NAME before including this.
#ifndef GTS_TEST_FUZZ_CHECK_H_
#define GTS_TEST_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define CHECK(c, what)                                                       \
  do {                                                                       \
    if (!(c)) {                                                              \
      std::fprintf(stderr, "%s: %s (line %d)\n", FUZZ_NAME, what, __LINE__); \
      std::abort();                                                          \
    }                                                                        \
  } while (0)

#endif  // GTS_TEST_FUZZ_CHECK_H_
