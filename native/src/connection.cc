#include "connection.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <new>

#include "ascii.h"
#include "h2c.h"
#include "server.h"
#include "ws_handshake.h"
#include "ws_session.h"

namespace gts {
namespace {

constexpr size_t kOutHighWater = 64 * 1024;  // stop the app (write() -> backpressure) above this
constexpr size_t kMaxPipelined = 64 * 1024;  // buffered input beyond the current request before we stop reading
constexpr uint64_t kDrainMax = 256 * 1024;   // unread request body we still read and discard to keep the connection
constexpr size_t kLingerDiscardMax = 1024 * 1024;  // bytes discarded while lingering before a hard close
constexpr size_t kFileStep = 1024 * 1024;          // bytes per sendfile(2) call
constexpr size_t kFileBlock = 64 * 1024;           // a socket that is full gets one copied block queued

}  // namespace

Connection::Connection(Server* srv, uint32_t slot, bool is_unix)
    : srv_(srv),
      stream_(srv->loop(), is_unix, this, srv->read_buffer()),
      io_(&stream_),
      parser_(&srv->cfg().parser, srv->parser_shared()),
      slot_(slot) {
  if (SSL_CTX* ctx = srv->cfg().tls_ctx) {
    tls_ = new (std::nothrow) TlsTransport(
        &stream_, ctx, this, srv->plain_buffer(), srv->cipher_spare(), srv->cfg().tls_suppress_ragged_eofs,
        [](void* c) { static_cast<Connection*>(c)->schedule_flush(); }, this);
    // Without one (out of memory) the stream's events still come here: close at once.
    if (tls_ != nullptr) io_ = tls_;
  }
}

Connection::~Connection() {
#ifndef GTS_NO_HTTP2
  delete h2_;
#endif
  delete ws_;
  delete hs_;
  drop_file();
  delete tls_;
  std::free(in_);
}

void Connection::start(uint8_t listener_index) {
  listener_index_ = listener_index;
  accepted_ = true;
  bool proxy_allowed = true;
  if (!stream_.is_unix()) {
    sockaddr_storage ss{};
    if (io_->peer(&ss)) {
      if (ss.ss_family == AF_INET) {
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        inet_ntop(AF_INET, &a->sin_addr, remote_, sizeof remote_);
        remote_port_ = ntohs(a->sin_port);
      } else if (ss.ss_family == AF_INET6) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        inet_ntop(AF_INET6, &a->sin6_addr, remote_, sizeof remote_);
        remote_port_ = ntohs(a->sin6_port);
      }
      trusted_ = srv_->cfg().forwarded_allow.contains(reinterpret_cast<sockaddr*>(&ss));
      proxy_allowed = srv_->cfg().proxy_allow.contains(reinterpret_cast<sockaddr*>(&ss));
    } else {
      trusted_ = false;
      proxy_allowed = false;
    }
  }
  parser_.reset_connection(trusted_, proxy_allowed);
#ifndef GTS_NO_HTTP2
  // h2c prior knowledge (Gunicorn's peer_trusted_for_h2c: forwarded_allow_ips, unix sockets); after a
  // PROXY preamble the HTTP/2 preface is not looked for
  const H2Config& h2 = srv_->cfg().h2;
  h2_sniff_ = h2.enabled && h2.prior_knowledge && srv_->cfg().tls_ctx == nullptr && trusted_ &&
              srv_->cfg().parser.proxy_protocol == ProxyMode::kOff;
#endif
  if (srv_->cfg().tls_ctx != nullptr && (tls_ == nullptr || !tls_->ok())) {
    close_now();
    return;
  }
  // accepted while stopping (the queue a stopped listener had): a request is on its way or nothing comes
  enter_wait(srv_->draining() ? Wait::kDrain : Wait::kHead);
  update_reading();
}

// ---- reading ---------------------------------------------------------------

void Connection::on_transport_data(const char* p, size_t n) {
  if (closed_) return;
  if (ws_ != nullptr && !closing_) {
    ws_input(p, n);
    return;
  }
#ifndef GTS_NO_HTTP2
  if ((h2_ != nullptr || h2_sniff_ || (tls_ != nullptr && !alpn_checked_)) && h2_input(p, n)) return;
#endif
  Bridge* br = srv_->bridge();
  br->enter();
  if (closing_) {
    // lingering after an error or a final response: discard what the client still sends
    discarded_ += n;
    if (discarded_ > kLingerDiscardMax) close_now();
  } else if (in_len_ == 0) {
    size_t used = run(p, n);
    if (used < n && !closed_ && !closing_) keep_input(p + used, n - used);
    resume_stalled();
    if (!closed_) update_reading();
  } else {
    keep_input(p, n);
    run_buffered();
    if (!closed_) update_reading();
  }
#ifndef GTS_NO_HTTP2
  if (h2_ != nullptr) h2_take_buffered();
#endif
  br->leave();
}

void Connection::on_transport_eof() {
  if (closed_) return;
  Bridge* br = srv_->bridge();
  br->enter();
  eof_ = true;
  update_reading();
  if (ws_ != nullptr && !closing_) {
    close_now();  // the peer went without the close handshake: the app hears 1006
  } else if (h2_ != nullptr && !closing_) {
#ifndef GTS_NO_HTTP2
    h2_->abort_all();  // the client is gone: its streams cannot be answered
#endif
    close_graceful();
  } else if (closing_) {
    close_now();  // lingering close done: the peer has finished sending
  } else if (active_ && head_sent_ && !resp_done_) {
    // The client closed while a response is streaming to it: it is gone
    // (a half-close is only meaningful before the response starts).
    fail_io();
  } else {
    // Before the response starts a FIN may be a half-close (the request is
    // complete, or a Content-Length body ends short, as in Gunicorn): answer.
    run_buffered();
  }
  br->leave();
}

void Connection::on_transport_error() {
  if (closed_) return;
  Bridge* br = srv_->bridge();
  br->enter();
  fail_io();
  br->leave();
}

void Connection::keep_input(const char* p, size_t n) {
  // Unconsumed input is bounded (a head is at most 64 MiB; beyond the current
  // request we stop reading at 64 KiB), so 32-bit sizes are enough; refuse
  // anything that would not fit rather than wrap.
  if (static_cast<uint64_t>(in_len_) + n > (1u << 30)) {
    close_now();
    return;
  }
  if (in_len_ + n > in_cap_) {
    size_t cap = in_cap_ ? static_cast<size_t>(in_cap_) * 2 : 4096;
    while (cap < in_len_ + n) cap *= 2;
    char* nb = static_cast<char*>(std::realloc(in_, cap));
    if (nb == nullptr) {
      close_now();
      return;
    }
    in_ = nb;
    in_cap_ = static_cast<uint32_t>(cap);
  }
  std::memcpy(in_ + in_len_, p, n);
  in_len_ += n;
}

void Connection::run_buffered() {
  if (in_run_ || closed_ || closing_) return;
  if (ws_ != nullptr) {
    ws_take_buffered();
    return;
  }
  for (;;) {
    size_t used = run(in_, in_len_);
    if (closed_ || closing_) {
      in_len_ = 0;
      return;
    }
    if (used > 0) {
      std::memmove(in_, in_ + used, in_len_ - used);
      in_len_ -= used;
    }
    // stopped at the output high-water mark, and that output has already left (the write completed at
    // once, so no write callback will come): go on with the requests still buffered
    if (!out_stalled_ || active_ || in_len_ == 0 || !out_.empty() || io_->pending() != 0) break;
    out_stalled_ = false;
  }
  if (in_len_ == 0 && in_cap_ > 0) {
    std::free(in_);
    in_ = nullptr;
    in_cap_ = 0;
  }
  update_reading();
}

// The per-connection state machine. Consumes bytes from data[0..len) and
// returns how many were used; the rest is kept by the caller.
size_t Connection::run(const char* data, size_t len) {
  in_run_ = true;
  size_t off = 0;
  Bridge* br = srv_->bridge();
  while (!closing_ && !closed_) {
    if (active_) {
      if (!parser_.body_done()) {
        const bool deliver = body_to_js_ && !resp_done_;
        if (off < len && !(deliver && app_paused_)) {
          size_t k = parser_.parse_body(data + off, len - off, [&](const char* p, size_t n) {
            if (body_to_js_ && !resp_done_) br->on_body(req_id_, p, n);
          });
          if (parser_.body_error() != Err::kOk) {
            body_failed(parser_.body_error());
            break;
          }
          off += k;
          body_bytes_ += k;
          if (closed_ || closing_) break;
        }
        if (!parser_.body_done() && eof_ && off == len) {
          Err e = parser_.body_eof();
          if (e != Err::kOk) {
            body_failed(e);
            break;
          }
        }
        if (!parser_.body_done()) break;  // need more body bytes (or the app paused us)
        req_since_ = srv_->now_ms();      // request_timeout: the application has the whole request from now
        if (body_to_js_ && !resp_done_) {
          body_to_js_ = false;
          br->on_body_end(req_id_, Err::kOk);
          if (closed_ || closing_) break;
        }
      }
      if (!resp_done_) break;  // waiting for the application
      finish_request();
      continue;
    }
    // between requests
    if (off == len) {
      if (eof_) {
        close_graceful();
      } else if (wait_list_ == Wait::kNone) {
        enter_wait(srv_->draining() ? Wait::kDrain : served_one_ ? Wait::kIdle : Wait::kHead);
      }
      break;
    }
    if (out_.size() + io_->pending() > kOutHighWater) {  // the client is not reading our answers (yet)
      out_stalled_ = true;
      break;
    }
    RequestParser::Status st = parser_.parse_head(data + off, len - off, eof_);
    if (st == RequestParser::Status::kNeedMore) {
      if (wait_list_ != Wait::kHead) enter_wait(Wait::kHead);
      break;
    }
    if (st == RequestParser::Status::kError) {
      send_error(parser_.error(), parser_.error_detail());
      break;
    }
    size_t used = 0;
    dispatch(data + off, len - off, &used);
    off += used;
    if (h2_ != nullptr) break;  // Upgrade: h2c: what follows is HTTP/2 (h2_take_buffered())
    if (ws_ != nullptr) break;  // a WebSocket now: what follows is frames (ws_take_buffered())
  }
  in_run_ = false;
  if ((!out_.empty() || (file_fd_ >= 0 && file_started_)) && !closed_) {
    run_flushing_ = true;  // a flush that completes at once must not resume the run it ends (its caller does)
    flush();
    run_flushing_ = false;
  }
  return off;
}

void Connection::dispatch(const char* data, size_t avail, size_t* used) {
  const RequestHead& h = parser_.head();
  const size_t hl = parser_.head_length();
#ifndef GTS_NO_HTTP2
  if (srv_->cfg().h2.enabled && srv_->cfg().h2.upgrade && tls_ == nullptr && trusted_ && !served_one_ &&
      h2c_upgrade(data, avail, used)) {
    return;
  }
#endif
  if (h.upgrade) {
    // RFC 6455 §4.2.1: a broken handshake is answered here; a valid one is the application's to accept
    if (hs_ == nullptr) hs_ = new (std::nothrow) WsHandshake;
    if (hs_ == nullptr) {
      close_now();
      *used = avail;
      return;
    }
    switch (ws_check_handshake(h, hs_)) {
      case WsHandshakeResult::kNotWebSocket: break;
      case WsHandshakeResult::kValid: parser_.mutable_head().websocket = true; break;
      case WsHandshakeResult::kBad:
        *used = avail;
        send_error(Err::kBadWebSocketHandshake, "invalid WebSocket handshake");
        return;
      case WsHandshakeResult::kBadVersion: {
        *used = avail;
        leave_wait();
        srv_->bridge()->on_protocol_error(this, Err::kWebSocketVersion, "unsupported Sec-WebSocket-Version");
        if (closed_) return;
        const ErrInfo& info = err_info(Err::kWebSocketVersion);
        std::string page;
        build_error(page, info.status, info.reason, "WebSocket version 13 only");
        size_t eol = page.find("\r\n");
        if (eol != std::string::npos) page.insert(eol + 2, "Sec-WebSocket-Version: 13\r\n");
        out_append(page.data(), page.size());
        close_graceful();
        return;
      }
    }
  }
  leave_wait();
  active_ = true;
  head_sent_ = resp_done_ = false;
  app_paused_ = want_drain_ = false;
  must_close_after_ = false;
  resp_body_sent_ = 0;
  req_id_ = srv_->next_request_id(slot_);
  facts_.version_major = h.version_major;
  facts_.version_minor = h.version_minor;
  facts_.is_head = h.is_head;
  facts_.keep_alive = h.keep_alive && !h.must_close && srv_->cfg().keepalive_ms > 0 && !srv_->draining();
  const char* body = nullptr;
  size_t blen = 0;
  bool follows = false;
  size_t off = hl;
  if (h.body == BodyKind::kLength) {
    uint64_t cl = h.content_length;
    if (cl <= srv_->cfg().inline_body_max && avail - hl >= cl) {
      body = data + hl;
      blen = static_cast<size_t>(cl);
      parser_.parse_body(body, blen, [](const char*, size_t) {});
      off += blen;
    } else {
      follows = true;
    }
  } else if (h.body == BodyKind::kChunked) {
    follows = true;
  }
  body_to_js_ = follows;
  if (follows && h.expect_continue) {
    // RFC 9110 §10.1.1; Gunicorn sends it before the application runs.
    out_append("HTTP/1.1 100 Continue\r\n\r\n", 25);
  }
  *used = off;
  srv_->bridge()->on_request(this, req_id_, h, body, blen, follows);
  // Still in flight (an async application, or a body to come): on the busy list, under the timeouts.
  // A request answered within the call (a synchronous application) never needs it.
  if (active_ && !closed_ && !closing_ && wait_list_ == Wait::kNone && (!resp_done_ || !parser_.body_done())) {
    enter_wait(Wait::kBusy);
    req_since_ = body_since_ = wait_since_;
    body_bytes_ = 0;
  }
}

void Connection::finish_request() {
  if (hs_ != nullptr) {
    delete hs_;
    hs_ = nullptr;
  }
  leave_wait();
  active_ = false;
  served_one_ = true;
  req_id_ = 0;
  body_to_js_ = false;
  if (must_close_after_ || !plan_.keep_alive) {
    close_graceful();
    return;
  }
  parser_.reset_request();
}

void Connection::update_reading() {
  if (closed_) return;
  bool want = !eof_;
  if (active_ && !resp_done_ && body_to_js_ && app_paused_) want = false;
  if (active_ && parser_.body_done() && in_len_ > kMaxPipelined) want = false;
  if (!active_ && in_len_ > kMaxPipelined) want = false;
  if (io_->pending() > kOutHighWater && !closing_) want = false;
  io_->set_reading(want);
}

void Connection::pause_body(bool pause) {
  if (app_paused_ == pause) return;
  app_paused_ = pause;
  if (!pause) {  // body_timeout: a new allowance from now (the wait was the application's)
    body_since_ = srv_->now_ms();
    body_bytes_ = 0;
  }
  update_reading();
  if (!pause && !in_run_ && in_len_ > 0) run_buffered();
}

// ---- errors ----------------------------------------------------------------

void Connection::send_error(Err e, const char* detail) {
  leave_wait();
  srv_->bridge()->on_protocol_error(this, e, detail);
  if (closed_) return;
  const ErrInfo& info = err_info(e);
  build_error(out_, info.status, info.reason, detail);
  close_graceful();
}

void Connection::body_failed(Err e) {
  uint64_t id = req_id_;
  bool was_active = active_ && !resp_done_;
  if (!head_sent_) {
    // The request is unusable: answer the error ourselves and tell JS the
    // request is gone, so that whatever the app does next is ignored.
    active_ = false;
    req_id_ = 0;
    if (was_active) srv_->bridge()->on_abort(id, Abort::kGone);
    if (!closed_) send_error(e, parser_.error_detail());
  } else {
    srv_->bridge()->on_protocol_error(this, e, parser_.error_detail());
    if (was_active) {
      active_ = false;
      req_id_ = 0;
      srv_->bridge()->on_abort(id, Abort::kGone);
    }
    close_now();
  }
}

void Connection::fail_io() {
#ifndef GTS_NO_HTTP2
  if (h2_ != nullptr) h2_->abort_all();
#endif
  if (active_ && !resp_done_) {
    uint64_t id = req_id_;
    active_ = false;
    req_id_ = 0;
    srv_->bridge()->on_abort(id, Abort::kGone);
  }
  close_now();
}

void Connection::abort_response() {
  active_ = false;
  req_id_ = 0;
  close_now();
}

// ---- responses ---------------------------------------------------------------

void Connection::respond(const AppHead& app, const char* body, size_t blen, bool final, bool want_close,
                         int64_t known_length, WriteResult* wr) {
  if (head_sent_ || resp_done_) {
    *wr = WriteResult::kInvalidState;
    return;
  }
  bool close = want_close || srv_->draining();
  emit_head(out_, facts_, app, known_length, close, srv_->date().get(), &plan_);
  head_sent_ = true;
  if (!plan_.keep_alive) must_close_after_ = true;
  *wr = write(body, blen, final);
}

WriteResult Connection::early_hints(const AppHead& hints) {
  if (head_sent_ || resp_done_) return WriteResult::kInvalidState;
  if (facts_.version_major == 1 && facts_.version_minor == 0) return WriteResult::kOk;  // RFC 8297: not for 1.0
  static const char kLine[] = "HTTP/1.1 103 Early Hints\r\n";
  out_append(kLine, sizeof kLine - 1);
  out_append(hints.lines.data(), hints.lines.size());
  out_append("\r\n", 2);
  if (!in_run_) schedule_flush();
  return WriteResult::kOk;
}

// ---- sendfile ------------------------------------------------------------------

int64_t Connection::prepare_file(int fd) {
  if (file_started_) return -1;  // an earlier response's file is still going out: this one goes the other way
  drop_file();
  if (tls_ != nullptr || head_sent_ || resp_done_) return -1;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return -1;
  off_t cur = lseek(fd, 0, SEEK_CUR);  // Gunicorn sends from the file's current offset (and leaves it there)
  if (cur < 0 || cur > st.st_size) return -1;
  int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);  // ours: the application may close its fd at once
  if (d < 0) return -1;
  file_fd_ = d;
  file_started_ = false;
  file_off_ = static_cast<uint64_t>(cur);
  file_left_ = static_cast<uint64_t>(st.st_size - cur);
  return static_cast<int64_t>(file_left_);
}

void Connection::drop_file() {
  if (file_fd_ < 0) return;
  ::close(file_fd_);
  file_fd_ = -1;
  file_started_ = false;
}

// The response is final: the file is its body, as much of it as the framing
// allows. The head (in out_) goes to the transport now; what is appended later
// (a pipelined response) waits in out_ until the file has gone out.
void Connection::start_file() {
  uint64_t take = 0;
  if (plan_.send_body && plan_.framing == Framing::kLength) {
    uint64_t room = plan_.length - resp_body_sent_;
    take = file_left_ < room ? file_left_ : room;
  } else if (plan_.send_body && plan_.framing == Framing::kClose) {
    take = file_left_;
  }
  if (take == 0 || plan_.framing == Framing::kChunked) {
    drop_file();
    return;
  }
  file_left_ = take;
  resp_body_sent_ += take;
  file_started_ = true;
  if (!out_.empty()) {
    switch (io_->write(out_)) {
      case Transport::WriteStatus::kDone:
        out_.clear();
        srv_->give_buffer(std::move(out_));
        out_ = std::string();
        break;
      case Transport::WriteStatus::kPending: break;
      case Transport::WriteStatus::kError: drop_file(); return;  // flush() will find the stream failed
    }
  }
}

// sendfile(2) while the socket takes it; when it is full, one block is copied
// and queued instead, and its completion (the socket writable again) brings us back.
void Connection::pump_file() {
  while (file_fd_ >= 0 && !closed_) {
    if (io_->pending() > 0) return;  // on_transport_written() resumes
    if (file_left_ == 0) {
      drop_file();
      break;
    }
    long r = stream_.send_file(file_fd_, &file_off_, file_left_ < kFileStep ? file_left_ : kFileStep);
    if (r > 0) {
      file_left_ -= static_cast<uint64_t>(r);
      continue;
    }
    if (r == -EAGAIN || r == -ENOSYS || r == -EINVAL) {
      std::string b = srv_->take_buffer();
      b.resize(file_left_ < kFileBlock ? file_left_ : kFileBlock);
      ssize_t k;
      do {
        k = pread(file_fd_, &b[0], b.size(), static_cast<off_t>(file_off_));
      } while (k < 0 && errno == EINTR);
      if (k > 0) {
        b.resize(static_cast<size_t>(k));
        file_off_ += static_cast<uint64_t>(k);
        file_left_ -= static_cast<uint64_t>(k);
        Transport::WriteStatus ws = io_->write(b);
        if (ws == Transport::WriteStatus::kDone) srv_->give_buffer(std::move(b));
        if (ws == Transport::WriteStatus::kPending) update_reading();
        if (ws != Transport::WriteStatus::kError) continue;
      }
    }
    // the file ended before its announced length (it shrank) or failed: close, so the truncation shows
    drop_file();
    fail_io();
    return;
  }
  if (closed_) return;
  if (!out_.empty()) {
    flush();
  } else if (closing_) {
    close_graceful();
  } else {
    maybe_drain();
    resume_stalled();
    if (!active_ && in_len_ > 0) run_buffered();
  }
}

WriteResult Connection::write(const char* p, size_t n, bool final) {
  if (!head_sent_ || resp_done_) return WriteResult::kInvalidState;
  if (plan_.send_body && n > 0) {
    switch (plan_.framing) {
      case Framing::kLength: {
        // Bytes beyond Content-Length are dropped (Gunicorn).
        uint64_t room = plan_.length - resp_body_sent_;
        size_t take = n < room ? n : static_cast<size_t>(room);
        out_append(p, take);
        resp_body_sent_ += take;
        break;
      }
      case Framing::kChunked:
        append_chunk_header(out_, n);
        out_append(p, n);
        out_append("\r\n", 2);
        resp_body_sent_ += n;
        break;
      case Framing::kClose:
        out_append(p, n);
        resp_body_sent_ += n;
        break;
      case Framing::kNone: break;
    }
  }
  if (final) {
    if (has_file()) start_file();
    if (plan_.framing == Framing::kChunked) out_append("0\r\n\r\n", 5);
    if (plan_.framing == Framing::kLength && resp_body_sent_ < plan_.length) {
      must_close_after_ = true;  // shorter than its Content-Length: closing makes the truncation visible
    }
    if (!parser_.body_done()) {
      // Unread request body: drain a small known remainder, otherwise close.
      bool small = parser_.body_kind() == BodyKind::kLength && parser_.body_left() <= kDrainMax;
      if (!small) must_close_after_ = true;
    }
    resp_done_ = true;
    body_to_js_ = false;
    app_paused_ = false;
    if (!in_run_) {
      schedule_flush();
      // A response finished outside a read callback: the state machine takes
      // it from here (finish the request or drain its body, then the next
      // pipelined request, the idle list, or a close at EOF).
      if (!parser_.body_done() && must_close_after_) close_graceful();
      else run_buffered();
    }
    return WriteResult::kOk;
  }
  if (!in_run_) schedule_flush();
  if (out_.size() + io_->pending() > kOutHighWater) {
    want_drain_ = true;
    return WriteResult::kBackpressure;
  }
  return WriteResult::kOk;
}

void Connection::schedule_flush() {
  if (flush_queued_ || closed_) return;
  flush_queued_ = true;
  srv_->queue_flush(this);
}

void Connection::flush_queued() {
  flush_queued_ = false;
  if (closed_) return;
  // TLS: records decrypted or received while reading was paused
  if (tls_ != nullptr) tls_->run_deferred();
  if (closed_) return;
  if (ws_ != nullptr && in_len_ > 0 && !closing_) ws_take_buffered();  // frames that came with the handshake
  if (closed_) return;
#ifndef GTS_NO_HTTP2
  if (h2_ != nullptr && !closing_) {
    h2_->send();  // frames the application queued since the last read
    flush();
    if (!closed_ && !closing_) h2_->on_written();
    if (!closed_ && !out_.empty()) schedule_flush();
    return;
  }
#endif
  flush();
}

// Pipelined requests left unparsed at the output high-water mark go on once that output has left. A write
// that completes at once brings no write callback (on_transport_written() resumes the others).
void Connection::resume_stalled() {
  if (!out_stalled_ || in_run_ || run_flushing_ || closed_ || closing_ || !out_.empty() || io_->pending() != 0) return;
  out_stalled_ = false;
  if (!active_ && in_len_ > 0) run_buffered();
}

// A writer told to wait (kBackpressure) may go on once everything it wrote has
// been handed to the kernel.
void Connection::maybe_drain() {
  if (closed_ || !want_drain_ || io_->pending() != 0 || !out_.empty()) return;
  want_drain_ = false;
  req_since_ = srv_->now_ms();  // request_timeout: the wait was the client's
  if (ws_ != nullptr) {
    if (!closing_ && !ws_->close_sent()) srv_->bridge()->on_ws_drain(ws_->id());
  } else if (active_ && !resp_done_) {
    srv_->bridge()->on_drain(req_id_);
  }
}

void Connection::out_append(const char* p, size_t n) {
  if (out_.capacity() == 0) out_ = srv_->take_buffer();
  out_.append(p, n);
}

// The corked bytes and then p..p+n handed to the transport now, without copying p into out_ when the kernel
// takes everything (a big WebSocket message: its header is corked, its payload is the application's
// memory). Nothing else happens here (no drain event, no close): that is flush()'s business, later.
void Connection::write_direct(const char* p, size_t n) {
  if (closed_ || (file_fd_ >= 0 && file_started_)) {
    out_append(p, n);
    schedule_flush();
    return;
  }
  switch (io_->write2(out_, p, n)) {
    case Transport::WriteStatus::kDone: out_.clear(); return;
    case Transport::WriteStatus::kPending: update_reading(); return;
    case Transport::WriteStatus::kError: fail_io(); return;
  }
}

// Hands the corked bytes to the transport: one write per read callback or
// per loop iteration (Server's check phase), however many pieces were appended.
void Connection::flush() {
  if (file_fd_ >= 0 && file_started_) {
    pump_file();  // out_ (what follows the file) waits for it
    return;
  }
  if (out_.empty() || closed_) return;
  switch (io_->write(out_)) {
    case Transport::WriteStatus::kDone:
      out_.clear();
      srv_->give_buffer(std::move(out_));
      out_ = std::string();
      if (closing_) {
        close_graceful();
      } else {
        maybe_drain();
        resume_stalled();
      }
      return;
    case Transport::WriteStatus::kPending: update_reading(); return;
    case Transport::WriteStatus::kError: fail_io(); return;
  }
}

void Connection::on_transport_written() {
  if (closed_) return;
  Bridge* br = srv_->bridge();
  br->enter();
  if (h2_ != nullptr && !closing_) {
#ifndef GTS_NO_HTTP2
    h2_->on_written();
    if (!closed_ && !out_.empty()) schedule_flush();
    if (!closed_) update_reading();
#endif
  } else if (file_fd_ >= 0 && file_started_) {
    pump_file();
  } else if (closing_) {
    close_graceful();
  } else if (!active_ && wait_list_ == Wait::kBusy) {
    // keepalive ran out while the last response was leaving (Server::sweep): it has left
    if (in_len_ > 0) {
      leave_wait();
      run_buffered();
    } else {
      close_now();
    }
  } else {
    maybe_drain();
    if (!closed_) {
      update_reading();
      if (!active_ && in_len_ > 0) run_buffered();
    }
  }
  br->leave();
}

// ---- closing -----------------------------------------------------------------

// Close after everything written has left: flush, half-close our side, then
// keep reading (and discarding) until the client closes or a short linger
// timeout, so that unread client bytes never turn our last answer into a reset.
void Connection::close_graceful() {
  if (closed_) return;
  bool first = !closing_;
  closing_ = true;
  if (first) {
    leave_wait();
    active_ = false;
    req_id_ = 0;
    in_len_ = 0;
  }
  if (!out_.empty() || (file_fd_ >= 0 && file_started_)) {
    flush();
    // still leaving: write_timeout applies (on_transport_written() calls us again)
    if (!closed_ && io_->pending() > 0 && wait_list_ == Wait::kNone) enter_wait(Wait::kBusy);
    return;
  }
  if (io_->pending() > 0) {  // on_transport_written() calls us again
    if (wait_list_ == Wait::kNone) enter_wait(Wait::kBusy);
    return;
  }
  if (eof_) {
    close_now();
    return;
  }
  if (wait_list_ == Wait::kLinger) return;  // shutdown already sent
  if (!io_->shutdown()) {
    close_now();
    return;
  }
  enter_wait(Wait::kLinger);
  update_reading();
}

void Connection::close_now() {
  if (closed_) return;
#ifndef GTS_NO_HTTP2
  if (h2_ != nullptr && !h2_->dead()) h2_->abort_all();
#endif
  closed_ = true;
  drop_file();
  leave_wait();
  io_->close();
  if (ws_ != nullptr) ws_->on_connection_gone();  // the app's close(1006) unless it had its close already
}

void Connection::on_transport_closed() {
  // A connection that failed accept() was never counted by the Server.
  if (accepted_) srv_->on_connection_closed(this);
  else delete this;
}

// ---- timeouts (Server::sweep_busy, every 250 ms) -----------------------------------

// Which timeout this busy connection has passed (kept in expired_why_ for time_out()).
bool Connection::timed_out(uint64_t now) {
  const ServerConfig& cfg = srv_->cfg();
  expired_why_ = 0;
  if (closed_) return false;
  // write_timeout: output pending and the socket's queue not shrinking (the client stopped reading)
  if (io_->pending() == 0) {
    write_mark_ = 0;
  } else {
    size_t q = stream_.queued();
    if (write_mark_ == 0 || q < write_pend_) {
      write_mark_ = now;
      write_pend_ = q;
    } else if (cfg.write_timeout_ms > 0 && now - write_mark_ >= cfg.write_timeout_ms) {
      expired_why_ = 1;
      return true;
    }
  }
#ifndef GTS_NO_HTTP2
  if (h2_ != nullptr) {  // HTTP/2: the zero-window stall (h2_session.h)
    if (h2_->stalled(now, cfg.write_timeout_ms)) {
      expired_why_ = 4;
      return true;
    }
    if (h2_->streams_timed_out(now, cfg.request_timeout_ms)) {  // request_timeout, per stream
      expired_why_ = 5;
      return true;
    }
    return false;
  }
#endif
  if (!active_) return false;
  const bool body_wait = !parser_.body_done() && !(body_to_js_ && app_paused_);  // waiting for the client's body
  if (cfg.body_timeout_ms > 0 && body_wait) {
    // mod_reqtimeout's body=N,MinRate=R: N seconds, one more per R bytes received
    uint64_t allow = cfg.body_timeout_ms + (cfg.body_min_rate > 0 ? body_bytes_ * 1000 / cfg.body_min_rate : 0);
    if (now - body_since_ >= allow) {
      expired_why_ = 2;
      return true;
    }
  }
  // request_timeout: counted while the application is the one we wait for
  if (cfg.request_timeout_ms > 0 && !resp_done_ && !body_wait && !want_drain_ &&
      now - req_since_ >= cfg.request_timeout_ms) {
    expired_why_ = 3;
    return true;
  }
  return false;
}

void Connection::time_out() {
  if (closed_ || expired_why_ == 0) return;
  Bridge* br = srv_->bridge();
  const uint64_t id = req_id_;
#ifndef GTS_NO_HTTP2
  if (expired_why_ == 4) {  // HTTP/2 zero-window stall: those streams are cancelled
    h2_->reset_stalled();
    if (!closed_ && !closing_) flush();
    return;
  }
  if (expired_why_ == 5) {  // HTTP/2 request_timeout: those streams answer 503 or are reset, not the connection
    h2_->time_out_streams(srv_->now_ms(), srv_->cfg().request_timeout_ms);
    if (!closed_ && !closing_) flush();
    return;
  }
#endif
  if (expired_why_ == 1) {  // write_timeout
    fail_io();              // the application (if still writing) hears of it as a disconnect
    return;
  }
  if (expired_why_ == 2) {  // body_timeout: the request is unusable
    static const char kSlowBody[] = "request body too slow (body_timeout, body_min_rate)";
    const bool in_app = active_ && !resp_done_;
    active_ = false;
    req_id_ = 0;
    if (in_app) br->on_abort(id, Abort::kGone);
    if (closed_) return;
    if (!head_sent_) {
      send_error(Err::kBodyTimeout, kSlowBody);
    } else {
      br->on_protocol_error(this, Err::kBodyTimeout, kSlowBody);
      close_now();
    }
    return;
  }
  // request_timeout
  if (head_sent_) {
    active_ = false;
    req_id_ = 0;
    br->on_abort(id, Abort::kTimeoutClosed);  // the response is cut short: closing shows it
    close_now();
    return;
  }
  // Nothing sent yet: JS answers 503 itself (its error page, access log line and
  // the iterable's close()); if it cannot (no such request there), we do.
  br->on_abort(id, Abort::kTimeout);
  if (closed_ || closing_ || resp_done_ || req_id_ != id) return;
  active_ = false;
  req_id_ = 0;
  send_error(Err::kRequestTimeout, "request_timeout");
}

// ---- wait lists ------------------------------------------------------------------

void Connection::enter_wait(Wait list) {
  leave_wait();
  wait_since_ = srv_->now_ms();
  wait_list_ = list;
  list_of(list).push(this);
}

void Connection::leave_wait() {
  if (wait_list_ == Wait::kNone) return;
  list_of(wait_list_).remove(this);
  wait_list_ = Wait::kNone;
}

WaitList& Connection::list_of(Wait list) {
  switch (list) {
    case Wait::kIdle: return srv_->idle_list;
    case Wait::kHead: return srv_->head_list;
    case Wait::kLinger: return srv_->linger_list;
    case Wait::kWsClosing: return srv_->linger_list;
    case Wait::kWs: return srv_->ws_list;
    case Wait::kBusy: return srv_->busy_list;
    default: return srv_->drain_list;
  }
}

// ---- WebSocket (ws_session.h) -------------------------------------------------------------

int64_t Connection::ws_upgrade(const char* proto, size_t plen, const std::string& extra, bool transient) {
  if (hs_ == nullptr || ws_ != nullptr || !active_ || head_sent_ || resp_done_ || closing_ || closed_) return -1;
  if (srv_->draining()) return -2;
  if (plen > 0 && !ws_protocol_offered(hs_->protocols, proto, plen)) return -3;
  const ServerConfig& cfg = srv_->cfg();
  WsLimits lim;
  lim.max_message = cfg.ws_max_message;
  lim.max_backpressure = cfg.ws_max_backpressure;
  lim.transient = transient;
  std::unique_ptr<WsZ> z;
  WsDeflateParams dp;
  WsDeflatePool* pool = nullptr;
  if (cfg.ws_compression != 0 && !hs_->extensions.empty() &&
      ws_negotiate(hs_->extensions.data(), hs_->extensions.size(), static_cast<WsCompression>(cfg.ws_compression),
                   cfg.ws_window_bits, &dp) &&
      (pool = srv_->ws_pool()) != nullptr) {
    z.reset(new (std::nothrow) WsZ());
    if (z) {
      z->params = std::move(dp);
      z->shared = cfg.ws_compression == static_cast<uint8_t>(WsCompression::kShared);
      z->pool = pool;
    }
  }
  std::string head;
  if (z) {
    std::string lines = "Sec-WebSocket-Extensions: " + z->params.response + "\r\n" + extra;
    ws_build_101(head, *hs_, proto, plen, lines.data(), lines.size());
  } else {
    ws_build_101(head, *hs_, proto, plen, extra.data(), extra.size());
  }
  uint64_t id = srv_->next_request_id(slot_);
  ws_ = new (std::nothrow) WsSession(this, lim, id, std::move(z), srv_->now_ms());
  if (ws_ == nullptr) return -1;
  delete hs_;
  hs_ = nullptr;
  out_append(head.data(), head.size());
  leave_wait();
  active_ = false;
  head_sent_ = resp_done_ = true;
  served_one_ = true;
  body_to_js_ = false;
  req_id_ = id;
  if (cfg.ws_ping_ms > 0) enter_wait(Wait::kWs);
  schedule_flush();  // the 101, and frames that came early (flush_queued(): after the app's open())
  update_reading();
  return static_cast<int64_t>(id);
}

void Connection::ws_input(const char* p, size_t n) {
  if (wait_list_ == Wait::kWs) {  // heard from: the ping interval starts again (to the list's tail)
    enter_wait(Wait::kWs);
    ws_->set_ping_outstanding(false);
  }
  Bridge* br = srv_->bridge();
  br->enter();
  ws_->consume(reinterpret_cast<const uint8_t*>(p), n);
  // websocket_idle_timeout also here: a client that pings on its own is never silent long enough for ours
  uint64_t idle = srv_->cfg().ws_idle_ms;
  if (idle > 0 && !closed_ && !closing_ && srv_->now_ms() - ws_->last_message_ms() >= idle) ws_idle();
  if (!closed_) flush();
  if (!closed_) update_reading();
  br->leave();
}

void Connection::ws_take_buffered() {
  if (in_len_ == 0 || closed_ || closing_) return;
  std::string b(in_, in_len_);
  in_len_ = 0;
  std::free(in_);
  in_ = nullptr;
  in_cap_ = 0;
  ws_input(b.data(), b.size());
}

void Connection::ws_idle() {
  static const char kReason[] = "idle timeout";
  if (ws_ != nullptr && !closed_ && !closing_) ws_->end(1001, kReason, sizeof kReason - 1);
  // end() waits on the linger list for the peer's answer; in any case off the ws_list (the sweep's loop)
  if (wait_list_ == Wait::kWs) leave_wait();
}

void Connection::ws_shutdown() {
  if (ws_ == nullptr || closed_ || closing_) return;
  static const char kReason[] = "server shutting down";
  ws_->end(1001, kReason, sizeof kReason - 1);
}

// ---- HTTP/2 (h2_session.h) -------------------------------------------------------------

#ifndef GTS_NO_HTTP2
bool Connection::h2_input(const char* p, size_t n) {
  Bridge* br = srv_->bridge();
  if (h2_ != nullptr) {
    if (closing_) {  // lingering after our GOAWAY: discard
      discarded_ += n;
      if (discarded_ > kLingerDiscardMax) close_now();
      return true;
    }
    br->enter();
    h2_->on_data(p, n);
    if (!closed_) flush();
    if (!closed_) update_reading();
    br->leave();
    return true;
  }
  if (tls_ != nullptr) {
    alpn_checked_ = true;
    if (!srv_->cfg().h2.enabled || !tls_->alpn_h2()) return false;
    switch_h2(p, n);
    return true;
  }
  // cleartext prior knowledge: the 24-byte preface, maybe in pieces
  const char* d = p;
  size_t len = n;
  if (in_len_ > 0) {
    keep_input(p, n);
    if (closed_) return true;
    d = in_;
    len = in_len_;
  }
  PrefaceMatch m = preface_match(d, len);
  if (m == PrefaceMatch::kNeedMore) {
    if (in_len_ == 0) keep_input(p, n);
    if (!closed_) update_reading();
    return true;
  }
  h2_sniff_ = false;
  if (m == PrefaceMatch::kMatch) {
    std::string bytes(d, len);
    in_len_ = 0;
    switch_h2(bytes.data(), bytes.size());
    return true;
  }
  if (!srv_->cfg().h2.upgrade) {
    // prior-knowledge only: a trusted peer on this port must speak HTTP/2; anything else is Gunicorn's
    // InvalidH2CPreface (400), not a silent downgrade to HTTP/1 (with `both`, HTTP/1 may still upgrade)
    in_len_ = 0;
    br->enter();
    send_error(Err::kInvalidH2CPreface, "expected the HTTP/2 client preface (http2_cleartext prior-knowledge)");
    br->leave();
    return true;
  }
  if (in_len_ == 0) return false;  // HTTP/1, as these bytes would have gone anyway
  br->enter();
  run_buffered();
  if (!closed_) update_reading();
  br->leave();
  return true;
}

// Upgrade: h2c (RFC 7540 §3.2, Gunicorn's upgrade_settings): the first request of a trusted cleartext
// connection, with its whole (small) body already read, becomes stream 1 of an HTTP/2 session. Any check
// that fails leaves it a plain HTTP/1 request.
bool Connection::h2c_upgrade(const char* data, size_t avail, size_t* used) {
  const RequestHead& h = parser_.head();
  const size_t hl = parser_.head_length();
  Slice sv;
  if (!h2c_upgrade_request(h, &sv)) return false;
  const size_t blen = h.body == BodyKind::kLength ? static_cast<size_t>(h.content_length) : 0;
  if (avail - hl < blen) return false;  // the body is not all here yet: served as HTTP/1
  std::string payload;
  if (!decode_http2_settings(sv.p, sv.n, &payload)) return false;
  const ServerConfig& cfg = srv_->cfg();
  H2HeadLimits lim;
  lim.parser = &cfg.parser;
  lim.max_header_list = cfg.h2.max_header_list_size;
  lim.trusted = trusted_;
  h2_ = new (std::nothrow) H2Session(this, srv_, cfg.h2, lim);
  if (h2_ == nullptr || !h2_->start_upgrade(payload, h.is_head)) {
    close_now();
    *used = avail;
    return true;
  }
  leave_wait();
  served_one_ = true;
  static const char k101[] = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
  out_append(k101, sizeof k101 - 1);
  // stream 1's head: the HTTP/1 request's, Host as :authority, the hop-by-hop fields left out
  std::string name;
  auto add = [&](const char* n, size_t nl, const char* v, size_t vl) { h2_->upgrade_field(n, nl, v, vl); };
  add(":method", 7, h.method.p, h.method.n);
  add(":path", 5, h.target.p, h.target.n);
  for (const HeaderField& f : h.headers) {
    name.assign(f.name.p, f.name.n);
    for (char& c : name) c = ascii::lower(c);
    if (name == "host") {
      add(":authority", 10, f.value.p, f.value.n);
    } else if (name != "connection" && name != "upgrade" && name != "http2-settings" && name != "keep-alive" &&
               name != "transfer-encoding" && name != "te" && name != "proxy-connection") {
      add(name.data(), name.size(), f.value.p, f.value.n);
    }
  }
  *used = hl + blen;
  h2_->dispatch_upgrade(data + hl, blen);
  return true;
}

void Connection::h2_drain() {
  if (h2_ == nullptr || closed_ || closing_) return;
  h2_->shutdown_notice();
  if (closed_ || closing_) return;
  flush();
  if (!closed_ && !closing_) enter_wait(Wait::kDrain);
}

void Connection::h2_goaway() {
  if (h2_ == nullptr || closed_ || closing_) return;
  leave_wait();
  h2_->goaway();
  if (closed_ || closing_) return;
  flush();
  if (!closed_ && !closing_ && h2_->open_streams() == 0) close_graceful();
}

// Bytes after an Upgrade: h2c request (the client preface and frames) go to the session.
void Connection::h2_take_buffered() {
  if (in_len_ == 0 || closed_ || closing_) return;
  std::string b(in_, in_len_);
  in_len_ = 0;
  h2_->on_data(b.data(), b.size());
  if (!closed_) flush();
  if (!closed_) update_reading();
}

void Connection::switch_h2(const char* p, size_t n) {
  const ServerConfig& cfg = srv_->cfg();
  H2HeadLimits lim;
  lim.parser = &cfg.parser;
  lim.max_header_list = cfg.h2.max_header_list_size;
  lim.trusted = trusted_;
  h2_ = new (std::nothrow) H2Session(this, srv_, cfg.h2, lim);
  if (h2_ == nullptr || !h2_->start()) {
    close_now();
    return;
  }
  leave_wait();
  served_one_ = true;
  Bridge* br = srv_->bridge();
  br->enter();
  h2_->on_data(p, n);
  if (!closed_) flush();
  if (!closed_) update_reading();
  br->leave();
}
#endif

}  // namespace gts
