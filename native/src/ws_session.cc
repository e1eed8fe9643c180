#include "ws_session.h"

#include <cstring>
#include <new>

#include "connection.h"
#include "server.h"

namespace gts {
namespace {

constexpr size_t kOutHighWater = 64 * 1024;  // send() says -1 (wait for drain) above this
constexpr size_t kMsgKeepMax = 64 * 1024;    // a message buffer that grew above this is released after use
constexpr size_t kZKeepMax = 4 * 1024;       // compressed input / inflated output kept per connection
// A payload this big is written at once from the caller's memory (Connection::write_direct) instead of being
// copied behind the corked bytes: the copy costs more than the write(2) it might share with a later send.
constexpr size_t kWsDirectMin = 8 * 1024;

// RFC 6455 §7.4: the codes an endpoint may send (as `ws` has it).
bool valid_close_code(uint16_t c) {
  return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
}

}  // namespace

WsSession::WsSession(Connection* c, const WsLimits& lim, uint64_t id, std::unique_ptr<WsZ> z, uint64_t now_ms)
    : c_(c),
      id_(id),
      parser_(WsParserConfig{lim.max_message, z != nullptr}),
      lim_(lim),
      z_(std::move(z)),
      last_msg_ms_(now_ms) {}

const std::string& WsSession::extensions() const {
  static const std::string kNone;
  return z_ ? z_->params.response : kNone;
}

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
    msg_compressed_ = compressed;
    msg_.clear();
    utf8_.reset();
    direct_ = nullptr;
    // The frame is whole in this read: unmasked into the slab JS gets, the only copy (if it is the
    // message's only frame; on_data() moves it to msg_ otherwise).
    if (!compressed && n == frame_len && !close_sent_) {
      direct_ = c_->srv_->bridge()->ws_reserve(n, lim_.transient);
      if (direct_ != nullptr) return direct_;
    }
    // One frame, whole message: reserve it at once (bounded by the limit, checked on the header).
    if (!compressed && frame_len > msg_.capacity() && frame_len <= lim_.max_message) {
      msg_.reserve(static_cast<size_t>(frame_len));
    }
  }
  if (msg_compressed_) {  // unmasked beside the message, inflated into it by on_data()
    std::string& zin = z_->zin;
    size_t off = z_->shared ? zin.size() : 0;
    zin.resize(off + n);
    return reinterpret_cast<uint8_t*>(&zin[0]) + off;
  }
  msg_off_ = msg_.size();
  msg_.resize(msg_off_ + n);
  return reinterpret_cast<uint8_t*>(&msg_[0]) + msg_off_;
}

WsClose WsSession::on_data(uint8_t* p, size_t n, bool msg_end) {
  if (close_sent_) {  // after our close: parsed, not delivered
    direct_ = nullptr;
    if (msg_end || msg_.size() > kMsgKeepMax) msg_.clear();
    if (msg_compressed_ && (msg_end || !z_->shared)) z_->zin.clear();
    return WsClose::kNone;
  }
  if (msg_compressed_) {
    WsClose r = inflate(p, n, msg_end);
    if (r != WsClose::kNone) return r;
  } else if (msg_op_ == kWsText && !utf8_.feed(p, n)) {
    return WsClose::kInvalidData;  // fail fast (6.4.x)
  }
  if (!msg_end) {
    if (direct_ != nullptr) {  // a fragmented message: assembled here from its first frame on
      msg_.assign(reinterpret_cast<const char*>(direct_), n);
      direct_ = nullptr;
    }
    return WsClose::kNone;
  }
  if (msg_op_ == kWsText && !utf8_.complete()) return WsClose::kInvalidData;
  last_msg_ms_ = c_->srv_->now_ms();
  if (direct_ != nullptr) {
    uint8_t* d = direct_;
    direct_ = nullptr;
    c_->srv_->bridge()->on_ws_message(id_, d, n, msg_op_ == kWsBinary, lim_.transient);
    return gone() ? WsClose::kDone : WsClose::kNone;
  }
  c_->srv_->bridge()->on_ws_message(id_, reinterpret_cast<const uint8_t*>(msg_.data()), msg_.size(),
                                    msg_op_ == kWsBinary, lim_.transient);
  if (msg_compressed_) {
    if (z_->shared) {  // the worker's buffer goes back to the pool, this connection's (empty) one comes back
      msg_.clear();
      msg_.swap(z_->pool->inflated);
      if (z_->pool->inflated.capacity() > kMsgKeepMax * 16) std::string().swap(z_->pool->inflated);
    } else if (msg_.capacity() > kZKeepMax) {  // inflation grew it in 16 KiB steps: not kept per connection
      std::string().swap(msg_);
    }
  }
  if (msg_.capacity() > kMsgKeepMax) std::string().swap(msg_);
  else msg_.clear();
  return gone() ? WsClose::kDone : WsClose::kNone;
}

// A piece of a compressed message: inflated at once into msg_ (dedicated), or kept until the message is
// whole and then inflated by the worker's one inflater (shared). Text is checked as it comes out.
WsClose WsSession::inflate(const uint8_t* p, size_t n, bool msg_end) {
  WsZ& z = *z_;
  WsInflater* inf;
  if (z.shared) {
    if (!msg_end) return WsClose::kNone;
    inf = z.pool->shared_inflater();
    p = reinterpret_cast<const uint8_t*>(z.zin.data());
    n = z.zin.size();
    // inflated into the worker's buffer (swapped in here, back out after delivery): no per-connection copy
    msg_.swap(z.pool->inflated);
    msg_.clear();
  } else {
    if (!z.inf) z.inf.reset(new (std::nothrow) WsInflater(z.params.inflate_bits));
    inf = z.inf.get();
  }
  if (inf == nullptr) return WsClose::kInternal;
  size_t before = msg_.size();
  WsInflater::Result r = inf->inflate(p, n, msg_end, msg_, lim_.max_message);
  if (z.shared || r != WsInflater::kOk) {
    if (z.shared) inf->reset();
    if (z.zin.capacity() > kZKeepMax) std::string().swap(z.zin);
    else z.zin.clear();
  } else if (msg_end && z.zin.capacity() > kZKeepMax) {  // a piece can be a whole read: not kept after it
    std::string().swap(z.zin);
  } else {
    z.zin.clear();
  }
  if (r == WsInflater::kBad) return WsClose::kInvalidData;
  if (r == WsInflater::kNoMemory) return WsClose::kInternal;
  // Text is checked up to the limit: invalid UTF-8 before it wins over 1009, however the input was cut.
  size_t upto = msg_.size() < lim_.max_message ? msg_.size() : static_cast<size_t>(lim_.max_message);
  if (msg_op_ == kWsText && upto > before &&
      !utf8_.feed(reinterpret_cast<const uint8_t*>(msg_.data()) + before, upto - before)) {
    return WsClose::kInvalidData;
  }
  if (r == WsInflater::kTooBig) return WsClose::kTooBig;
  if (msg_end && !z.shared && z.params.client_no_context_takeover) inf->reset();
  return WsClose::kNone;
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

void WsSession::send_frame(uint8_t op, const char* p, size_t n, bool rsv1) {
  uint8_t h[kWsMaxHeader];
  size_t hl = ws_frame_header(h, op, n, rsv1);
  c_->out_append(reinterpret_cast<const char*>(h), hl);
  if (n >= kWsDirectMin) {  // big: written now from the caller's memory, not copied into out_ first
    c_->write_direct(p, n);
    return;
  }
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

int64_t WsSession::send(const char* p, size_t n, bool binary, bool compress) {
  if (close_sent_ || gone()) return 0;
  size_t buffered = c_->out_.size() + c_->io_->pending();
  if (buffered > lim_.max_backpressure) return 0;
  uint8_t op = binary ? kWsBinary : kWsText;
  if (compress && z_ && n >= kWsCompressMin) {
    WsZ& z = *z_;
    WsDeflatePool& pool = *z.pool;
    int bits = z.params.deflate_bits;
    const std::string* out = nullptr;
    if (z.shared) {
      // A publish sends the same bytes to every subscriber: deflated once (no context to differ by).
      if (pool.last_bits == bits && pool.last_in.size() == n && std::memcmp(pool.last_in.data(), p, n) == 0) {
        out = &pool.last_out;
      } else {
        WsDeflater* d = pool.deflater(bits);
        pool.last_out.clear();
        pool.last_bits = 0;
        if (d != nullptr && d->deflate(p, n, pool.last_out)) {
          d->reset();
          pool.last_in.assign(p, n);
          pool.last_bits = bits;
          out = &pool.last_out;
        }
      }
    } else {
      if (!z.def) z.def.reset(new (std::nothrow) WsDeflater(bits));
      pool.scratch.clear();
      if (z.def && z.def->deflate(p, n, pool.scratch)) {
        if (z.params.server_no_context_takeover) z.def->reset();
        out = &pool.scratch;
      }
    }
    if (out != nullptr) {
      size_t m = out->size();
      send_frame(op, out->data(), m, true);
      if (z.shared && n > kMsgKeepMax * 16) {  // do not keep big messages around
        std::string().swap(pool.last_in);
        std::string().swap(pool.last_out);
        pool.last_bits = 0;
      } else if (pool.scratch.capacity() > kMsgKeepMax * 16) {
        std::string().swap(pool.scratch);
      }
      if (buffered + m > kOutHighWater) {
        c_->want_drain_ = true;
        return -1;
      }
      return static_cast<int64_t>(m) + 2;
    }
    // zlib failed (out of memory): the message goes uncompressed, which RFC 7692 allows
  }
  send_frame(op, p, n);
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
