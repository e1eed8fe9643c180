// permessage-deflate (RFC 7692) for the native WebSocket (docs/design/websocket.md §3):
// the negotiation (ws_negotiate(), a pure function over the Sec-WebSocket-Extensions
// offers), and the zlib streams: an Inflater that writes a message's inflated bytes
// into the session's buffer in bounded steps (the decompression-bomb check happens
// between steps), a Deflater whose output loses the 00 00 ff ff tail, and the
// per-worker pool that `shared` mode uses. zlib is the one Node exports (no -lz in
// binding.gyp). No N-API, no libuv: unit-tested and fuzzed (test/native/ws_test.cc,
// fuzz_ws.cc).
#pragma once

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#if ZLIB_VERNUM < 0x1290
#error "permessage-deflate needs zlib >= 1.2.9 (raw deflate with a window of 8 refused)"
#endif

namespace gts {

enum class WsCompression : uint8_t { kOff = 0, kShared = 1, kDedicated = 2 };

// What one accepted offer makes of the connection.
struct WsDeflateParams {
  bool server_no_context_takeover = false;  // our deflater resets after each message
  bool client_no_context_takeover = false;  // the client resets: our inflater may too
  uint8_t deflate_bits = 15;                // our deflate window (9..15)
  uint8_t inflate_bits = 15;                // our inflate window (9..15; the client's, or larger)
  std::string response;                     // the Sec-WebSocket-Extensions value of the 101
};

// Picks the first permessage-deflate offer of `header` (all Sec-WebSocket-Extensions lines, joined with ',')
// that fits: offers with an unknown, duplicate or badly valued parameter are skipped, and so are those with
// server_max_window_bits=8 (zlib cannot deflate raw with a window of 8). `max_bits` (9..15) caps our deflate
// window (websocket_compression_window_bits) and, when the client lets us, its window. `shared` answers
// both no_context_takeover parameters always (one deflater and inflater per worker). false: none fits (or
// mode is off), and the 101 has no extension.
bool ws_negotiate(const char* header, size_t n, WsCompression mode, int max_bits, WsDeflateParams* out);

// Inflates one message's compressed bytes piece by piece.
class WsInflater {
 public:
  enum Result : uint8_t { kOk, kBad, kTooBig, kNoMemory };
  explicit WsInflater(int bits) : bits_(bits) {}
  ~WsInflater();
  WsInflater(const WsInflater&) = delete;
  WsInflater& operator=(const WsInflater&) = delete;
  // Appends the inflation of p[0..n) (and of the 00 00 ff ff tail when `end`) to `out`, in steps of at most
  // kStep bytes; kTooBig as soon as out holds more than `max` bytes (so it never grows more than kStep past
  // it); kBad for data that is not deflate (close 1007). A message's end resets nothing: see reset().
  Result inflate(const uint8_t* p, size_t n, bool end, std::string& out, uint64_t max);
  void reset();  // the next message starts without the previous one's window
  static constexpr size_t kStep = 16 * 1024;

 private:
  bool init();
  z_stream z_{};
  int bits_;
  bool ready_ = false;
  bool ended_ = false;  // a final deflate block ended this message's stream: ignore the rest of the message
  size_t fed_ = 0;      // compressed bytes of the current message so far
};

class WsDeflater {
 public:
  explicit WsDeflater(int bits) : bits_(bits) {}
  ~WsDeflater();
  WsDeflater(const WsDeflater&) = delete;
  WsDeflater& operator=(const WsDeflater&) = delete;
  // The compressed message (a sync flush, without its 00 00 ff ff tail) appended to `out`; false on a zlib
  // failure (out is then as it was).
  bool deflate(const char* p, size_t n, std::string& out);
  void reset();
  // Level 1 (Z_BEST_SPEED): an echo/chat server's messages are small, and level 6 costs ~2× the CPU for a
  // few per cent less output. memLevel falls with the window (bits - 7: 8 at 15, 3 at 10, as uWS pairs
  // them): a deflater takes 2^(bits+2) + 2^(memLevel+9) bytes (256 KiB at 15, 8 KiB at 10).
  static constexpr int kLevel = 1;
  static int mem_level(int bits) { return bits - 7 < 1 ? 1 : bits - 7 > 8 ? 8 : bits - 7; }

 private:
  bool init();
  z_stream z_{};
  int bits_;
  bool ready_ = false;
};

// Messages shorter than this go uncompressed (RSV1 = 0; RFC 7692 lets each message choose).
constexpr size_t kWsCompressMin = 128;

// `shared` mode's streams, one set per worker (Server): a deflater per window size that some client asked
// for (9..15, made on first use) and one inflater (window 15, which reads any client window). A session
// inflates a compressed message here only once the whole of it has arrived (the stream is reset after each
// message, so messages of different connections never mix). The last compressed message is kept: a publish
// to many subscribers deflates once (send() finds the same bytes again).
struct WsDeflatePool {
  std::unique_ptr<WsDeflater> deflaters[7];  // index bits - 9
  std::unique_ptr<WsInflater> inflater;
  std::string last_in, last_out;  // the last message deflated in shared mode and its compressed form
  int last_bits = 0;
  std::string scratch;   // dedicated mode: a message's compressed form on its way to the frame
  std::string inflated;  // shared mode: the message being inflated (swapped with the session's buffer)
  WsDeflater* deflater(int bits);
  WsInflater* shared_inflater();
};

}  // namespace gts
