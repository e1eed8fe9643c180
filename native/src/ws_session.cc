#include "ws_session.h"

#include <cstring>

#include "connection.h"
#include "server.h"

namespace gts {
namespace {

constexpr size_t kOutHighWater = 64 * 1024;  // send() says -1 (wait for drain) above this
constexpr size_t kMsgKeepMax = 64 * 1024;    // a message buffer that grew above this is released after use

// RFC 6455 §7.4: the codes an endpoint may send (as `ws` has it).
bool valid_close_code(uint16_t c) {
  return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
}

}  // namespace

WsSession::WsSession(Connection* c, const WsLimits& lim, uint64_t id)
    : c_(c), id_(id), parser_(WsParserConfig{lim.max_message, false}), lim_(lim) {}

bool WsSession::gone() const { return c_->closed_ || c_->closing_; }

void WsSession::consume(const uint8_t* p, size_t n) {
  in_consume_ = true;
  WsClose r = parser_.feed(p, n, *this);
  in_consume_ = false;
  if (r != WsClose::kNone && r != WsClose::kDone) fail(r);
}

uint8_t* WsSession::data_dest(size_t n, uint64_t frame_len, bool msg_start, uint8_t op, bool compressed) {
  if (msg_start) {
    msg_op_ = op;
    msg_.clear();
    utf8_.reset();
    // One frame, whole message: reserve it at once (bounded by the limit, checked on the header).
    if (frame_len > msg_.capacity() && frame_len <= lim_.max_message) msg_.reserve(static_cast<size_t>(frame_len));
  }
  msg_off_ = msg_.size();
  msg_.resize(msg_off_ + n);
  return reinterpret_cast<uint8_t*>(&msg_[0]) + msg_off_;
}

WsClose WsSession::on_data(uint8_t* p, size_t n, bool msg_end) {
  if (close_sent_) {  // after our close: parsed, not delivered
    if (msg_end || msg_.size() > kMsgKeepMax) msg_.clear();
    return WsClose::kNone;
  }
  if (msg_op_ == kWsText && !utf8_.feed(p, n)) return WsClose::kInvalidData;  // fail fast (6.4.x)
  if (!msg_end) return WsClose::kNone;
  if (msg_op_ == kWsText && !utf8_.complete()) return WsClose::kInvalidData;
  c_->srv_->bridge()->on_ws_message(id_, msg_.data(), msg_.size(), msg_op_ == kWsBinary);
  if (msg_.capacity() > kMsgKeepMax) std::string().swap(msg_);
  else msg_.clear();
  return gone() ? WsClose::kDone : WsClose::kNone;
}

WsClose WsSession::on_control(uint8_t op, const uint8_t* p, size_t n) {
  if (op == kWsPing) {
    if (!close_sent_) send_frame(kWsPong, reinterpret_cast<const char*>(p), n);
    return WsClose::kNone;
  }
  if (op == kWsPong) return WsClose::kNone;
  // close
  uint16_t code = 1005;
  const char* reason = "";
  size_t rlen = 0;
  if (n == 1) return WsClose::kProtocol;
  if (n >= 2) {
    code = static_cast<uint16_t>((p[0] << 8) | p[1]);
    if (!valid_close_code(code)) return WsClose::kProtocol;
    if (!utf8_valid(p + 2, n - 2)) return WsClose::kInvalidData;
    reason = reinterpret_cast<const char*>(p + 2);
    rlen = n - 2;
  }
  close_recv_ = true;
  if (!close_sent_) {
    // echo the code and reason (RFC 6455 §5.5.1); an empty close gets an empty one
    if (n >= 2) send_close(code, reason, rlen);
    else send_close(0, nullptr, 0);
  }
  report(code, reason, rlen);
  if (!c_->closed_) c_->close_graceful();  // flush, FIN, linger until the client closes (RFC 6455 §7.1.1)
  return WsClose::kDone;
}

void WsSession::send_frame(uint8_t op, const char* p, size_t n) {
  uint8_t h[kWsMaxHeader];
  size_t hl = ws_frame_header(h, op, n);
  c_->out_append(reinterpret_cast<const char*>(h), hl);
  if (n > 0) c_->out_append(p, n);
  if (!in_consume_) c_->schedule_flush();
}

void WsSession::send_close(uint16_t code, const char* reason, size_t n) {
  char b[125];
  size_t len = 0;
  if (code != 0) {
    b[0] = static_cast<char>(code >> 8);
    b[1] = static_cast<char>(code);
    if (n > 123) n = 123;
    if (n > 0) std::memcpy(b + 2, reason, n);
    len = 2 + n;
  }
  close_sent_ = true;
  send_frame(kWsClose, b, len);
}

void WsSession::fail(WsClose code) {
  if (c_->closed_) return;
  uint16_t c = static_cast<uint16_t>(code);
  if (!close_sent_) send_close(c, nullptr, 0);
  report(c, "", 0);
  c_->close_graceful();
}

void WsSession::report(uint16_t code, const char* reason, size_t n) {
  if (reported_) return;
  reported_ = true;
  c_->srv_->bridge()->on_ws_close(id_, code, reason, n);
}

void WsSession::on_connection_gone() { report(1006, "", 0); }

void WsSession::ping() {
  if (close_sent_ || gone()) return;
  ping_outstanding_ = true;
  send_frame(kWsPing, nullptr, 0);
}

int64_t WsSession::send(const char* p, size_t n, bool binary) {
  if (close_sent_ || gone()) return 0;
  size_t buffered = c_->out_.size() + c_->io_->pending();
  if (buffered > lim_.max_backpressure) return 0;
  send_frame(binary ? kWsBinary : kWsText, p, n);
  if (buffered + n > kOutHighWater) {
    c_->want_drain_ = true;
    return -1;
  }
  return static_cast<int64_t>(n) + 2;
}

void WsSession::end(uint16_t code, const char* reason, size_t n) {
  if (close_sent_ || gone()) return;
  send_close(code, reason, n);
  if (close_recv_) return;
  // wait for the peer's close (data it still sends is dropped), at most the linger time
  c_->enter_wait(Wait::kWsClosing);
}

}  // namespace gts
