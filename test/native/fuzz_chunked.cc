// libFuzzer target over the chunked decoder alone (native/src/chunked_decoder.cc):
//   byte 0: limits (bit 0 small line/field limits, bit 1 a body limit),
//   byte 1: seed of the split, rest: the body bytes.
// Invariants: every split of the input decodes to the same data, the same
// verdict (done, error code) and the same consumed count as the whole input;
// consumed never exceeds the input; nothing is consumed after done(); data
// pieces point inside the input; the body limit is never exceeded.
// Built and run by scripts/fuzz.sh (FUZZ_TARGET=chunked).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "chunked_decoder.h"

#define FUZZ_NAME "fuzz_chunked"
#include "fuzz_check.h"

namespace {

struct Result {
  std::string data;
  gts::Err err = gts::Err::kOk;
  bool done = false;
  size_t consumed = 0;
};

// Feeds p[0..n) in pieces of the given sizes (0: the rest), as a connection
// does: unconsumed bytes are kept and offered again with the next piece.
Result run(const uint8_t* p, size_t n, const gts::ChunkedLimits& lim, uint32_t seed) {
  gts::ChunkedDecoder d;
  Result r;
  std::string pending;
  size_t off = 0;
  while (off < n || !pending.empty()) {
    size_t k = n - off;
    if (seed != 0) {
      seed ^= seed << 13;
      seed ^= seed >> 17;
      seed ^= seed << 5;
      size_t want = 1 + seed % 19;
      if (want < k) k = want;
    }
    pending.append(reinterpret_cast<const char*>(p + off), k);
    off += k;
    size_t used = 0;
    while (used < pending.size() && !d.done()) {
      const char* data = nullptr;
      size_t len = 0;
      size_t c = d.decode(pending.data() + used, pending.size() - used, lim, &data, &len);
      if (d.error() != gts::Err::kOk) {
        CHECK(c == 0 && len == 0, "an error consumes nothing and yields no data");
        r.err = d.error();
        r.consumed += used;
        return r;
      }
      CHECK(c <= pending.size() - used, "consumed more than offered");
      if (len > 0) {
        CHECK(data >= pending.data() + used && data + len <= pending.data() + used + c, "data outside the input");
        r.data.append(data, len);
      }
      if (c == 0) break;
      used += c;
    }
    pending.erase(0, used);
    r.consumed += used;
    if (d.done()) {
      r.done = true;
      CHECK(d.decode("0\r\n\r\n", 5, lim, nullptr, nullptr) == 0, "decoding goes on after done()");
      return r;
    }
    if (off == n) break;
  }
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  gts::ChunkedLimits lim{8190, 100, 0};
  if (data[0] & 1) lim = gts::ChunkedLimits{24, 3, 0};
  if (data[0] & 2) lim.body_bytes = 64;
  const uint32_t seed = data[1] | 1u;
  const Result whole = run(data + 2, size - 2, lim, 0);
  const Result split = run(data + 2, size - 2, lim, seed);
  if (lim.body_bytes > 0) CHECK(whole.data.size() <= lim.body_bytes, "body limit exceeded");
  CHECK(whole.done == split.done, "done differs between splits");
  CHECK(whole.err == split.err, "error differs between splits");
  if (whole.err == gts::Err::kOk) {
    CHECK(whole.data == split.data, "data differs between splits");
    CHECK(whole.consumed == split.consumed, "consumed differs between splits");
  }
  if (whole.done) CHECK(whole.err == gts::Err::kOk, "done with an error");
  return 0;
}
