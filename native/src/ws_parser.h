// The WebSocket frame parser (RFC 6455 §5), server side: client frames in, events
// out. Pure C++ (no N-API, no libuv; unit-tested by test/native/ws_test.cc).
// The input is const and only valid during feed(): data payload is unmasked while
// it is copied to where the sink wants it (the only copy), piece by piece as it
// arrives, so UTF-8 checks and inflation see bytes before a frame is complete.
// See docs/design/websocket.md §2.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace gts {

struct WsParserConfig {
  uint64_t max_message = 16u << 20;  // inclusive; above -> 1009 (checked on the frame header)
  bool deflate = false;              // permessage-deflate negotiated: RSV1 allowed on a message's first frame
};

// kDone: not a close code; a sink returns it to stop the parser (the close handshake is over).
enum class WsClose : uint16_t {
  kNone = 0,
  kDone = 1,
  kProtocol = 1002,
  kInvalidData = 1007,
  kTooBig = 1009,
  kInternal = 1011,
};

enum WsOp : uint8_t { kWsCont = 0, kWsText = 1, kWsBinary = 2, kWsClose = 8, kWsPing = 9, kWsPong = 10 };

class WsFrameSink {
 public:
  // Where to unmask the next `n` payload bytes of a data frame of `frame_len` bytes; `msg_start` on the
  // first piece of a message (op is the message's: text or binary). n may be 0 (an empty frame).
  virtual uint8_t* data_dest(size_t n, uint64_t frame_len, bool msg_start, uint8_t op, bool compressed) = 0;
  // Those bytes, now unmasked; msg_end on the last piece of the message's last frame.
  virtual WsClose on_data(uint8_t* p, size_t n, bool msg_end) = 0;
  // A whole ping/pong/close payload (n <= 125), unmasked.
  virtual WsClose on_control(uint8_t op, const uint8_t* p, size_t n) = 0;

 protected:
  ~WsFrameSink() = default;
};

class WsParser {
 public:
  explicit WsParser(const WsParserConfig& cfg) : cfg_(cfg) {}
  // Consumes all of p[0..n) unless a frame breaks the protocol or the sink returns a close code: then
  // that code, and the parser stays failed (later input is ignored, kNone).
  WsClose feed(const uint8_t* p, size_t n, WsFrameSink& sink);
  bool failed() const { return state_ == kFailed; }
  bool in_message() const { return msg_op_ != 0; }
  void set_max_message(uint64_t m) { cfg_.max_message = m; }

 private:
  enum State : uint8_t { kHeader, kPayload, kFailed };
  WsClose header_start(uint8_t b0, uint8_t b1);  // checks on the first two bytes
  WsClose header_done(const uint8_t* h, size_t hlen, WsFrameSink& sink);
  WsClose fail(WsClose c) {
    state_ = kFailed;
    return c;
  }

  WsParserConfig cfg_;
  uint64_t remaining_ = 0;  // payload bytes of the current frame still to come
  uint64_t frame_len_ = 0;
  uint64_t msg_len_ = 0;            // bytes of the current message so far (as sent: compressed or not)
  std::unique_ptr<uint8_t[]> ctl_;  // a control payload split across reads (allocated on first need)
  uint8_t hdr_[14];
  uint8_t hdr_len_ = 0;
  uint8_t mask_[4] = {0, 0, 0, 0};
  uint8_t mask_off_ = 0;  // payload offset mod 4
  uint8_t ctl_len_ = 0;
  uint8_t frame_op_ = 0;
  bool frame_fin_ = false;
  uint8_t msg_op_ = 0;  // 0: no message open; 1 text; 2 binary
  bool msg_compressed_ = false;
  bool msg_fresh_ = false;  // the next data_dest() is the message's first
  State state_ = kHeader;
};

// dst[i] = src[i] ^ mask[(off + i) & 3], 8 bytes at a time. dst may equal src.
void ws_unmask(uint8_t* dst, const uint8_t* src, size_t n, const uint8_t mask[4], unsigned off);

// A server frame header (unmasked) for a payload of `len` bytes; returns its size (2, 4 or 10).
size_t ws_frame_header(uint8_t* dst, uint8_t op, uint64_t len, bool rsv1 = false, bool fin = true);
constexpr size_t kWsMaxHeader = 10;

}  // namespace gts
