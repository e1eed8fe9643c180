// libFuzzer target over the pure C++ request parser (no N-API, no libuv):
// arbitrary bytes, split at input-chosen points, through
// RequestParser::parse_head / parse_body / body_eof across pipelined requests
// on one connection, with the ParserConfig variant chosen by the first byte.
// The invariants are in parser_harness.h. Built and run by scripts/fuzz.sh
// (`npm run fuzz -- -max_total_time=N`).
#include <cstddef>
#include <cstdint>

#include "parser_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  harness::fuzz_one(data, size);
  return 0;
}
