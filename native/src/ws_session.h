// One WebSocket connection after the 101 (docs/design/websocket.md §1, §2, §4):
// the parser's sink (message assembly, UTF-8 of text as it arrives, auto-pong,
// the close handshake and failing the connection with 1002/1007/1009) and the
// operations JS calls (send, end, close). The Connection stays the socket owner:
// it hands the session its input (Connection::ws_input) and the session appends
// frames to the Connection's corked output. No N-API here: JS is reached through
// the Server's Bridge. permessage-deflate (ws_deflate.h) when the handshake negotiated it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "ws_deflate.h"
#include "ws_parser.h"
#include "ws_utf8.h"

namespace gts {

class Connection;

struct WsLimits {
  uint64_t max_message = 16u << 20;       // websocket_max_message_size (inclusive)
  uint64_t max_backpressure = 16u << 20;  // websocket_max_backpressure: send() drops above this
  // the app's handlers asked for transientMessages: each message in an ArrayBuffer of its own that is detached
  // once message() returns (Bridge::on_ws_message), instead of a view into a slab it may keep
  bool transient = false;
};

// A connection's permessage-deflate state (only when negotiated): the parameters, its own zlib streams in
// `dedicated` mode (made at the first compressed message in each direction), and the compressed bytes of
// the message being received.
struct WsZ {
  WsDeflateParams params;
  bool shared = false;
  WsDeflatePool* pool = nullptr;  // the worker's (shared streams; the deflate scratch buffer)
  std::unique_ptr<WsInflater> inf;
  std::unique_ptr<WsDeflater> def;
  std::string zin;  // compressed input: the current piece (dedicated) or the whole message (shared)
};

class WsSession final : public WsFrameSink {
 public:
  // z: the negotiated permessage-deflate (or null), taken over
  WsSession(Connection* c, const WsLimits& lim, uint64_t id, std::unique_ptr<WsZ> z, uint64_t now_ms);
  uint64_t id() const { return id_; }

  // Client bytes (the Connection's read path).
  void consume(const uint8_t* p, size_t n);
  // JS: a data message. >0 bytes queued, -1 queued above the high-water mark (wait for drain), 0 dropped
  // (over websocket_max_backpressure, or the connection is closing).
  // compress: deflate it when permessage-deflate was negotiated and it is not tiny (kWsCompressMin).
  int64_t send(const char* p, size_t n, bool binary, bool compress = true);
  // the negotiated Sec-WebSocket-Extensions value ("" when none)
  const std::string& extensions() const;
  // websocket_idle_timeout: when the last text/binary message (or the upgrade) came
  uint64_t last_message_ms() const { return last_msg_ms_; }
  // JS: the close handshake (code 0: a close frame without a code).
  void end(uint16_t code, const char* reason, size_t n);
  // The connection is going away (closed or failed): the app's close(1006) unless it had its close.
  void on_connection_gone();
  bool close_sent() const { return close_sent_; }
  bool reported() const { return reported_; }
  // websocket_ping_interval: a ping sent and nothing heard since
  void ping();
  bool ping_outstanding() const { return ping_outstanding_; }
  void set_ping_outstanding(bool v) { ping_outstanding_ = v; }

  // WsFrameSink
  uint8_t* data_dest(size_t n, uint64_t frame_len, bool msg_start, uint8_t op, bool compressed) override;
  WsClose on_data(uint8_t* p, size_t n, bool msg_end) override;
  WsClose on_control(uint8_t op, const uint8_t* p, size_t n) override;

 private:
  void send_frame(uint8_t op, const char* p, size_t n, bool rsv1 = false);
  WsClose inflate(const uint8_t* p, size_t n, bool msg_end);
  void send_close(uint16_t code, const char* reason, size_t n);
  void fail(WsClose code);
  void report(uint16_t code, const char* reason, size_t n);
  bool gone() const;  // the connection closed, or closing: nothing more for JS

  Connection* c_;
  uint64_t id_;
  WsParser parser_;
  WsLimits lim_;
  std::string msg_;  // the message being assembled (when it is not whole in one read)
  // a message whose only frame came whole in this read: unmasked straight into the Bridge's slab
  uint8_t* direct_ = nullptr;
  size_t msg_off_ = 0;
  Utf8Validator utf8_;
  std::unique_ptr<WsZ> z_;
  uint64_t last_msg_ms_;
  uint8_t msg_op_ = 0;
  bool msg_compressed_ = false;
  bool close_sent_ = false;
  bool close_recv_ = false;
  bool reported_ = false;  // the app's close() was called
  bool in_consume_ = false;
  bool ping_outstanding_ = false;
};

}  // namespace gts
