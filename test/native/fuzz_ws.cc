// libFuzzer target over the WebSocket frame parser (native/src/ws_parser.cc)
// with a text sink that validates UTF-8 as pieces arrive (ws_utf8.h):
//   byte 0: config (bit 0 deflate negotiated, bit 1 a 300-byte message limit),
//   byte 1: seed of the split, rest: client bytes.
// Invariants: every split gives the same events and the same close code as the
// whole input; data_dest is asked for no more bytes than the frame has left;
// a message never grows past the limit; control payloads are <= 125 bytes.
// Built and run by scripts/fuzz.sh (FUZZ_TARGET=ws).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "ws_parser.h"
#include "ws_utf8.h"

namespace {

#define CHECK(c, what)                             \
  do {                                             \
    if (!(c)) {                                    \
      std::fprintf(stderr, "fuzz_ws: %s\n", what); \
      std::abort();                                \
    }                                              \
  } while (0)

struct Sink final : gts::WsFrameSink {
  uint64_t limit;
  std::string piece, msg, log;
  gts::Utf8Validator utf8;
  uint8_t op = 0;
  uint64_t frame_left = 0;
  bool in_frame = false;
  explicit Sink(uint64_t l) : limit(l) {}
  uint8_t* data_dest(size_t n, uint64_t frame_len, bool msg_start, uint8_t o, bool) override {
    if (!in_frame) frame_left = frame_len, in_frame = true;
    CHECK(n <= frame_left, "data_dest asked past the frame");
    frame_left -= n;
    if (frame_left == 0) in_frame = false;
    if (msg_start) op = o, msg.clear(), utf8.reset();
    piece.assign(n + 1, '\0');
    return reinterpret_cast<uint8_t*>(&piece[0]);
  }
  gts::WsClose on_data(uint8_t* p, size_t n, bool end) override {
    msg.append(reinterpret_cast<char*>(p), n);
    CHECK(msg.size() <= limit, "message past the limit");
    if (op == gts::kWsText && !utf8.feed(p, n)) return gts::WsClose::kInvalidData;
    if (end) {
      if (op == gts::kWsText && !utf8.complete()) return gts::WsClose::kInvalidData;
      log += char(op);
      log += std::to_string(msg.size()) + ":" + msg + ";";
    }
    return gts::WsClose::kNone;
  }
  gts::WsClose on_control(uint8_t o, const uint8_t* p, size_t n) override {
    CHECK(n <= 125, "control payload over 125");
    log += char(o);
    log += std::string(reinterpret_cast<const char*>(p ? p : reinterpret_cast<const uint8_t*>("")), n) + ";";
    return gts::WsClose::kNone;
  }
};

std::string run(const uint8_t* p, size_t n, const gts::WsParserConfig& cfg, uint32_t seed) {
  gts::WsParser parser(cfg);
  Sink sink(cfg.max_message);
  gts::WsClose first = gts::WsClose::kNone;
  size_t off = 0;
  while (off < n) {
    size_t k = n - off;
    if (seed) {
      seed = seed * 1103515245u + 12345u;
      k = 1 + (seed >> 16) % 17;
      if (k > n - off) k = n - off;
    }
    gts::WsClose r = parser.feed(p + off, k, sink);
    if (r != gts::WsClose::kNone && first == gts::WsClose::kNone) first = r;
    off += k;
  }
  return sink.log + "|" + std::to_string(static_cast<int>(first));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  gts::WsParserConfig cfg;
  cfg.deflate = data[0] & 1;
  cfg.max_message = (data[0] & 2) ? 300 : 1u << 20;
  uint32_t seed = data[1] | 1;
  const uint8_t* p = data + 2;
  size_t n = size - 2;
  std::string whole = run(p, n, cfg, 0);
  CHECK(run(p, n, cfg, seed) == whole, "a split changed the outcome");
  return 0;
}
