// libFuzzer target over the WebSocket frame parser (native/src/ws_parser.cc)
// with a text sink that validates UTF-8 as pieces arrive (ws_utf8.h), and
// permessage-deflate (ws_deflate.cc): compressed messages are inflated piece by
// piece (WsInflater, context takeover, the bomb limit), and the whole input is
// also given to ws_negotiate() as a Sec-WebSocket-Extensions header:
//   byte 0: config (bit 0 deflate negotiated, bit 1 a 300-byte message limit,
//           bit 2 reset the inflater after each message),
//   byte 1: seed of the split, rest: client bytes.
// Invariants: every split gives the same events and the same close code as the
// whole input (inflation included); data_dest is asked for no more bytes than
// the frame has left; a message never grows past the limit (inflated: by at most
// one inflate step); control payloads are <= 125 bytes; a negotiation result is
// well formed and, offered back, negotiates to itself.
// Built and run by scripts/fuzz.sh (FUZZ_TARGET=ws).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "ws_deflate.h"
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
  bool reset_each;
  std::string piece, msg, log;
  gts::Utf8Validator utf8;
  gts::WsInflater inflater{15};
  uint8_t op = 0;
  bool compressed = false;
  uint64_t frame_left = 0;
  bool in_frame = false;
  Sink(uint64_t l, bool r) : limit(l), reset_each(r) {}
  uint8_t* data_dest(size_t n, uint64_t frame_len, bool msg_start, uint8_t o, bool z) override {
    if (!in_frame) frame_left = frame_len, in_frame = true;
    CHECK(n <= frame_left, "data_dest asked past the frame");
    frame_left -= n;
    if (frame_left == 0) in_frame = false;
    if (msg_start) op = o, msg.clear(), utf8.reset(), compressed = z;
    piece.assign(n + 1, '\0');
    return reinterpret_cast<uint8_t*>(&piece[0]);
  }
  gts::WsClose on_data(uint8_t* p, size_t n, bool end) override {
    if (compressed) {
      size_t before = msg.size();
      gts::WsInflater::Result r = inflater.inflate(p, n, end, msg, limit);
      if (r == gts::WsInflater::kBad) return gts::WsClose::kInvalidData;
      CHECK(r != gts::WsInflater::kNoMemory, "inflate out of memory");
      // as WsSession::inflate(): text checked up to the limit, then 1009
      size_t upto = msg.size() < limit ? msg.size() : static_cast<size_t>(limit);
      if (op == gts::kWsText && upto > before &&
          !utf8.feed(reinterpret_cast<const uint8_t*>(msg.data()) + before, upto - before))
        return gts::WsClose::kInvalidData;
      if (r == gts::WsInflater::kTooBig) {
        CHECK(msg.size() <= limit + gts::WsInflater::kStep, "inflated past the limit by more than a step");
        return gts::WsClose::kTooBig;
      }
      CHECK(msg.size() <= limit, "inflated message past the limit");
      if (end && reset_each) inflater.reset();
      if (end) log += 'z';
      p = nullptr, n = 0;
    } else {
      msg.append(reinterpret_cast<char*>(p), n);
    }
    CHECK(msg.size() <= limit, "message past the limit");
    if (op == gts::kWsText && n > 0 && !utf8.feed(p, n)) return gts::WsClose::kInvalidData;
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

std::string run(const uint8_t* p, size_t n, const gts::WsParserConfig& cfg, bool reset_each, uint32_t seed) {
  gts::WsParser parser(cfg);
  Sink sink(cfg.max_message, reset_each);
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
  bool reset_each = data[0] & 4;
  std::string whole = run(p, n, cfg, reset_each, 0);
  CHECK(run(p, n, cfg, reset_each, seed) == whole, "a split changed the outcome");
  // the same bytes as a Sec-WebSocket-Extensions header
  const char* h = reinterpret_cast<const char*>(p);
  for (int mode = 1; mode <= 2; mode++) {
    gts::WsDeflateParams r;
    int bits = 9 + (data[1] % 7);
    if (!gts::ws_negotiate(h, n, static_cast<gts::WsCompression>(mode), bits, &r)) continue;
    CHECK(r.response.compare(0, 18, "permessage-deflate") == 0, "response is not permessage-deflate");
    CHECK(r.deflate_bits >= 9 && r.deflate_bits <= bits, "deflate window out of range");
    CHECK(r.inflate_bits >= 9 && r.inflate_bits <= 15, "inflate window out of range");
    if (mode == 1) CHECK(r.server_no_context_takeover && r.client_no_context_takeover, "shared without nct");
    gts::WsDeflateParams again;
    CHECK(gts::ws_negotiate(r.response.data(), r.response.size(), static_cast<gts::WsCompression>(mode), bits, &again),
          "the response, offered back, is refused");
    CHECK(again.response == r.response && again.deflate_bits == r.deflate_bits,
          "the response does not negotiate to itself");
  }
  return 0;
}
