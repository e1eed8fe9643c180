#ifndef GTS_NO_HTTP2

#include "h2_session.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <new>

#include "connection.h"
#include "server.h"

namespace gts {
namespace {

constexpr size_t kStreamQueueMax = 64 * 1024;  // a stream's queued response body before the app is told to wait
constexpr size_t kOutMax = 256 * 1024;         // DATA waits (WOULDBLOCK) while the connection has this much unsent
constexpr uint32_t kConnWindow = 1u << 20;     // the connection's receive window: bounds buffered uploads
constexpr uint64_t kAbuseBurst = 200;          // RST_STREAM / invalid frames per window (Gunicorn's 200 per 10 s)
constexpr uint64_t kAbusePerSec = 20;

// nghttp2 v1 API names kept working on 1.52..1.70 (the *2 forms are newer than Debian 12's header).
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif

nghttp2_nv nv(const char* n, size_t nl, const char* v, size_t vl) {
  nghttp2_nv x;
  x.name = reinterpret_cast<uint8_t*>(const_cast<char*>(n));
  x.value = reinterpret_cast<uint8_t*>(const_cast<char*>(v));
  x.namelen = nl;
  x.valuelen = vl;
  x.flags = NGHTTP2_NV_FLAG_NONE;
  return x;
}

H2Session* self(void* u) { return static_cast<H2Session*>(u); }

}  // namespace

// ---- H2Stream: the Endpoint JS talks to -------------------------------------------

Connection* H2Stream::connection() { return s_->c_; }

void H2Stream::respond(const AppHead& app, const char* body, size_t blen, bool final, bool want_close,
                       int64_t known_length, WriteResult* wr) {
  if (head_sent_ || final_) {
    *wr = WriteResult::kInvalidState;
    return;
  }
  head_sent_ = true;
  const int st = app.status;
  const bool bodyless = is_head_ || st == 204 || st == 304 || st < 200;
  int64_t length = app.app_length >= 0 ? app.app_length : known_length;
  const bool with_body = !bodyless && !(final && blen == 0 && trailers_.empty());
  if (!closed_ && !s_->dead_) s_->submit_head(this, st, &app, length, with_body);
  *wr = write(body, blen, final);
}

WriteResult H2Stream::write(const char* p, size_t n, bool final) {
  if (!head_sent_ || final_) return WriteResult::kInvalidState;
  if (closed_ || s_->dead_) {
    if (final) s_->release(this);
    return WriteResult::kOk;  // the abort is on its way to JS
  }
  if (!is_head_ && n > 0) {
    if (out_off_ > 0 && out_off_ == out_.size()) {
      out_.clear();
      out_off_ = 0;
    }
    out_.append(p, n);
  }
  if (final) {
    final_ = true;
    s_->release(this);
  }
  if (deferred_ && (final || out_.size() > out_off_)) {
    deferred_ = false;
    nghttp2_session_resume_data(s_->s_, sid_);
  }
  s_->c_->schedule_flush();
  if (!final && out_.size() - out_off_ > kStreamQueueMax) {
    if (!want_drain_) {
      want_drain_ = true;
      s_->drain_wait_.push_back(this);
    }
    return WriteResult::kBackpressure;
  }
  return WriteResult::kOk;
}

WriteResult H2Stream::early_hints(const AppHead& hints) {
  if (head_sent_ || final_) return WriteResult::kInvalidState;
  if (closed_ || s_->dead_) return WriteResult::kOk;
  std::string text;
  std::vector<H2Field> f;
  h2_app_fields(hints, &text, &f);
  std::vector<nghttp2_nv> v;
  v.push_back(nv(":status", 7, "103", 3));
  for (const H2Field& x : f) v.push_back(nv(text.data() + x.no, x.nl, text.data() + x.vo, x.vl));
  nghttp2_submit_headers(s_->s_, NGHTTP2_FLAG_NONE, sid_, nullptr, v.data(), v.size(), nullptr);
  s_->c_->schedule_flush();
  return WriteResult::kOk;
}

void H2Stream::abort_response() {
  if (!closed_ && !s_->dead_) nghttp2_submit_rst_stream(s_->s_, NGHTTP2_FLAG_NONE, sid_, NGHTTP2_INTERNAL_ERROR);
  final_ = true;
  s_->release(this);
  s_->c_->schedule_flush();
}

void H2Stream::consume(size_t n) {
  if (n > unconsumed_) n = static_cast<size_t>(unconsumed_);
  if (n == 0) return;
  unconsumed_ -= n;
  if (s_->dead_) return;
  nghttp2_session_consume(s_->s_, sid_, n);
  s_->c_->schedule_flush();  // the WINDOW_UPDATE
}

WriteResult H2Stream::set_trailers(const AppHead& trailers) {
  if (final_) return WriteResult::kInvalidState;
  h2_app_fields(trailers, &trailer_text_, &trailers_);
  return WriteResult::kOk;
}

// ---- H2Session ---------------------------------------------------------------------

H2Session::H2Session(Connection* c, Server* srv, const H2Config& cfg, const H2HeadLimits& limits)
    : c_(c), srv_(srv), cfg_(cfg), limits_(limits), bucket_(kAbuseBurst * 1000) {}

H2Session::~H2Session() {
  if (s_ != nullptr) nghttp2_session_del(s_);  // calls no callback
  for (H2Stream* st : all_) {
    if (st->js_holds()) srv_->give_slot(st->slot_);
    delete st;
  }
}

bool H2Session::create() {
  if (!h2_runtime_available()) return false;
  nghttp2_session_callbacks* cb;
  if (nghttp2_session_callbacks_new(&cb) != 0) return false;
  nghttp2_session_callbacks_set_send_callback(cb, send_cb);
  nghttp2_session_callbacks_set_send_data_callback(cb, send_data_cb);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, begin_headers_cb);
  nghttp2_session_callbacks_set_on_header_callback(cb, header_cb);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, frame_recv_cb);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, data_chunk_cb);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, stream_close_cb);
  nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cb, invalid_frame_cb);
  nghttp2_option* opt;
  if (nghttp2_option_new(&opt) != 0) {
    nghttp2_session_callbacks_del(cb);
    return false;
  }
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_max_outbound_ack(opt, 1000);
  nghttp2_option_set_max_settings(opt, 32);
  nghttp2_option_set_stream_reset_rate_limit(opt, kAbuseBurst, kAbusePerSec);
  if (nghttp2_option_set_glitch_rate_limit != nullptr) nghttp2_option_set_glitch_rate_limit(opt, 1000, 33);
  int rv = nghttp2_session_server_new2(&s_, cb, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cb);
  if (rv != 0) {
    s_ = nullptr;
    return false;
  }
  nghttp2_settings_entry iv[4];
  size_t n = 0;
  iv[n++] = {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, cfg_.max_concurrent_streams};
  iv[n++] = {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, cfg_.initial_window_size};
  iv[n++] = {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, cfg_.max_frame_size};
  if (cfg_.max_header_list_size > 0) iv[n++] = {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, cfg_.max_header_list_size};
  if (nghttp2_submit_settings(s_, NGHTTP2_FLAG_NONE, iv, n) != 0) return false;
  nghttp2_session_set_local_window_size(s_, NGHTTP2_FLAG_NONE, 0, static_cast<int32_t>(kConnWindow));
  return true;
}

bool H2Session::start() { return create(); }

bool H2Session::start_upgrade(const std::string& settings_payload, bool head_request) {
  if (!create()) return false;
  auto* st = new (std::nothrow) H2Stream(this, 1);
  if (st == nullptr) return false;
  if (nghttp2_session_upgrade2(s_, reinterpret_cast<const uint8_t*>(settings_payload.data()), settings_payload.size(),
                               head_request ? 1 : 0, st) != 0) {
    delete st;
    return false;
  }
  all_.push_back(st);
  st->headers_done_ = st->end_in_ = true;
  st->is_head_ = head_request;
  return true;
}

H2Stream* H2Session::upgrade_stream() {
  for (H2Stream* st : all_)
    if (st->sid_ == 1) return st;
  return nullptr;
}

void H2Session::upgrade_field(const char* n, size_t nl, const char* v, size_t vl) {
  if (H2Stream* st = upgrade_stream()) st->head_.add(n, nl, v, vl, limits_);
}

void H2Session::dispatch_upgrade(const char* body, size_t n) {
  H2Stream* st = upgrade_stream();
  if (st == nullptr) return;
  st->body_in_.assign(body, n);
  st->no_credit_ = true;
  st->in_ready_ = true;
  ready_.push_back(st);
  after_io();
}

// ---- reading ---------------------------------------------------------------------------

void H2Session::on_data(const char* p, size_t n) {
  if (dead_ || s_ == nullptr) return;
  depth_++;
  ssize_t r = nghttp2_session_mem_recv(s_, reinterpret_cast<const uint8_t*>(p), n);
  depth_--;
  if (r < 0 || calm_) {
    if (r == NGHTTP2_ERR_BAD_CLIENT_MAGIC) {
      dead_ = true;
      abort_all();
      c_->close_now();
      return;
    }
    uint32_t code = NGHTTP2_PROTOCOL_ERROR;
    if (calm_ || r == NGHTTP2_ERR_FLOODED || r == -905 /* TOO_MANY_CONTINUATIONS, 1.52 deb12u2+ */) {
      code = NGHTTP2_ENHANCE_YOUR_CALM;
    } else if (r == NGHTTP2_ERR_CALLBACK_FAILURE) {
      code = NGHTTP2_INTERNAL_ERROR;
    }
    fatal(code);
    return;
  }
  after_io();
  send();
}

void H2Session::fatal(uint32_t code) {
  if (dead_) return;
  dead_ = true;
  const int32_t last = nghttp2_session_get_last_proc_stream_id(s_);
  const uint8_t g[17] = {0,
                         0,
                         8,
                         NGHTTP2_GOAWAY,
                         0,
                         0,
                         0,
                         0,
                         0,
                         static_cast<uint8_t>((last >> 24) & 0x7f),
                         static_cast<uint8_t>(last >> 16),
                         static_cast<uint8_t>(last >> 8),
                         static_cast<uint8_t>(last),
                         static_cast<uint8_t>(code >> 24),
                         static_cast<uint8_t>(code >> 16),
                         static_cast<uint8_t>(code >> 8),
                         static_cast<uint8_t>(code)};
  c_->out_append(reinterpret_cast<const char*>(g), sizeof g);
  abort_all();
  c_->close_graceful();
}

void H2Session::after_io() {
  Bridge* br = srv_->bridge();
  in_after_io_ = true;  // JS may stop the server from here (send(), GOAWAY): no stream is freed meanwhile
  // heads completed by this read, in order
  for (size_t i = 0; i < ready_.size() && !dead_; i++) {
    H2Stream* st = ready_[i];
    st->in_ready_ = false;
    if (!st->closed_ && !st->dispatched_) dispatch(st);
  }
  ready_.clear();
  // DATA (and END_STREAM) for streams JS has
  for (size_t i = 0; i < body_ready_.size() && !dead_; i++) {
    H2Stream* st = body_ready_[i];
    st->in_body_ready_ = false;
    if (!st->dispatched_) continue;
    if (st->js_holds() && st->body_to_js_) {
      if (!st->body_in_.empty()) {
        std::string b;
        b.swap(st->body_in_);
        st->unconsumed_ += b.size();
        st->since_ = srv_->now_ms();  // request_timeout: the wait was the client's
        br->on_body(st->req_id_, b.data(), b.size());
      }
      if (st->end_in_ && !st->end_told_ && st->js_holds()) {
        st->end_told_ = true;
        st->since_ = srv_->now_ms();
        br->on_body_end(st->req_id_, Err::kOk);
      }
    } else if (!st->body_in_.empty()) {  // nobody reads it: give the window back
      if (!st->closed_) nghttp2_session_consume(s_, st->sid_, st->body_in_.size());
      else nghttp2_session_consume_connection(s_, st->body_in_.size());
      st->body_in_.clear();
    }
  }
  body_ready_.clear();
  in_after_io_ = false;
  reap_closed();
}

void H2Session::reap_closed() {
  if (in_after_io_) return;  // after_io() comes back to it
  Bridge* br = srv_->bridge();
  while (!closed_.empty()) {
    H2Stream* st = closed_.back();
    closed_.pop_back();
    if (st->js_holds()) {
      uint64_t id = st->req_id_;
      release(st);
      br->on_abort(id, Abort::kGone);
    }
    auto dw = std::find(drain_wait_.begin(), drain_wait_.end(), st);
    if (dw != drain_wait_.end()) drain_wait_.erase(dw);
    auto a = std::find(all_.begin(), all_.end(), st);
    if (a != all_.end()) all_.erase(a);
    delete st;
  }
  idle_check();
}

void H2Session::dispatch(H2Stream* st) {
  st->dispatched_ = true;
  if (!st->head_.finish(&head_)) {
    answer_error(st, st->head_.err());
    return;
  }
  uint32_t slot = srv_->take_slot(st);
  if (slot == UINT32_MAX) {
    nghttp2_submit_rst_stream(s_, NGHTTP2_FLAG_NONE, st->sid_, NGHTTP2_REFUSED_STREAM);
    return;
  }
  st->slot_ = slot;
  st->req_id_ = srv_->next_request_id(slot);
  st->is_head_ = head_.is_head;
  head_.http2 = true;
  const char* body = nullptr;
  size_t blen = 0;
  bool follows = false;
  if (st->end_in_ && st->body_in_.size() <= srv_->cfg().inline_body_max) {
    if (!st->body_in_.empty()) {
      body = st->body_in_.data();
      blen = st->body_in_.size();
    }
  } else {
    follows = true;
  }
  st->body_to_js_ = follows;
  st->since_ = srv_->now_ms();
  const uint64_t id = st->req_id_;
  srv_->bridge()->on_request(c_, id, head_, body, blen, follows);
  if (body != nullptr) {  // inline: the application has it all
    if (!st->no_credit_) nghttp2_session_consume(s_, st->sid_, blen);
    st->body_in_.clear();
    std::string().swap(st->body_in_);  // (not shrink_to_fit(): GLIBCXX_3.4.29, above the prebuild floor)
  }
  st->head_.reset();
  if (follows && !st->in_body_ready_) {  // what came with the head goes next, by after_io()
    st->in_body_ready_ = true;
    body_ready_.push_back(st);
  }
}

void H2Session::answer_error(H2Stream* st, Err e) { answer_error(st, e, st->head_.detail()); }

void H2Session::answer_error(H2Stream* st, Err e, const char* detail) {
  const ErrInfo& info = err_info(e);
  std::string page;
  build_error(page, info.status, info.reason, detail);
  // build_error writes a whole HTTP/1 response: keep its body only
  size_t b = page.find("\r\n\r\n");
  st->out_.assign(b == std::string::npos ? "" : page.substr(b + 4));
  st->out_off_ = 0;
  st->final_ = st->head_sent_ = true;
  st->head_.reset();
  AppHead app;
  app.status = info.status;
  app.lines = "Content-Type: text/html\r\n";
  submit_head(st, info.status, &app, static_cast<int64_t>(st->out_.size()), true);
  srv_->bridge()->on_protocol_error(c_, e, detail != nullptr && *detail != 0 ? detail : info.reason);
}

bool H2Session::submit_head(H2Stream* st, int status, const AppHead* app, int64_t length, bool with_body) {
  char code[4] = {static_cast<char>('0' + status / 100 % 10), static_cast<char>('0' + status / 10 % 10),
                  static_cast<char>('0' + status % 10), 0};
  nv_.clear();
  nv_.push_back(nv(":status", 7, code, 3));
  static const char kServer[] = "gunicorn-ts";
  nv_.push_back(nv("server", 6, kServer, sizeof kServer - 1));
  const std::string& date = srv_->date().get();
  nv_.push_back(nv("date", 4, date.data(), date.size()));
  h2_app_fields(*app, &fields_text_, &fields_);
  for (const H2Field& f : fields_) {
    nv_.push_back(nv(fields_text_.data() + f.no, f.nl, fields_text_.data() + f.vo, f.vl));
  }
  char digits[24];
  if (length >= 0 && status >= 200 && status != 204 && status != 304) {
    int k = std::snprintf(digits, sizeof digits, "%lld", static_cast<long long>(length));
    nv_.push_back(nv("content-length", 14, digits, static_cast<size_t>(k)));
  }
  nghttp2_data_provider prov;
  prov.source.ptr = st;
  prov.read_callback = read_cb;
  return nghttp2_submit_response(s_, st->sid_, nv_.data(), nv_.size(), with_body ? &prov : nullptr) == 0;
}

void H2Session::release(H2Stream* st) {
  if (!st->js_holds()) return;
  srv_->give_slot(st->slot_);
  st->slot_ = UINT32_MAX;
  st->req_id_ = 0;
  st->body_to_js_ = false;
  if (st->unconsumed_ > 0 && s_ != nullptr && !dead_) {
    // read by nobody now: the window goes back (to the connection if the stream is gone)
    if (!st->closed_) nghttp2_session_consume(s_, st->sid_, st->unconsumed_);
    else nghttp2_session_consume_connection(s_, st->unconsumed_);
  }
  st->unconsumed_ = 0;
  if (!st->body_in_.empty()) {
    if (!st->closed_ && s_ != nullptr && !dead_) nghttp2_session_consume(s_, st->sid_, st->body_in_.size());
    st->body_in_.clear();
  }
}

void H2Session::abort_all() {
  dead_ = true;
  Bridge* br = srv_->bridge();
  for (size_t i = 0; i < all_.size(); i++) {
    H2Stream* st = all_[i];
    if (st->js_holds()) {
      uint64_t id = st->req_id_;
      release(st);
      br->on_abort(id, Abort::kGone);
    }
  }
}

// ---- writing ---------------------------------------------------------------------------

void H2Session::send() {
  if (dead_ || s_ == nullptr || depth_ > 0) return;
  depth_++;
  int rv = nghttp2_session_send(s_);
  depth_--;
  if (rv != 0) {
    fatal(NGHTTP2_INTERNAL_ERROR);
    return;
  }
  reap_closed();
  if (dead_) return;
  if (!nghttp2_session_want_read(s_) && !nghttp2_session_want_write(s_)) {
    dead_ = true;
    abort_all();
    c_->close_graceful();
  }
}

void H2Session::on_written() {
  if (dead_) return;
  if (nghttp2_session_want_write(s_)) send();
  Bridge* br = srv_->bridge();
  for (size_t i = 0; i < drain_wait_.size();) {
    H2Stream* st = drain_wait_[i];
    if (st->out_.size() - st->out_off_ <= kStreamQueueMax / 4) {
      st->want_drain_ = false;
      st->since_ = srv_->now_ms();  // request_timeout: the wait was the client's
      drain_wait_.erase(drain_wait_.begin() + static_cast<long>(i));
      if (st->js_holds()) br->on_drain(st->req_id_);
    } else {
      i++;
    }
  }
}

void H2Session::goaway() {
  if (goaway_sent_ || dead_ || s_ == nullptr) return;
  goaway_sent_ = true;
  nghttp2_submit_goaway(s_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(s_), NGHTTP2_NO_ERROR, nullptr,
                        0);
  send();
}

bool H2Session::stalled(uint64_t now, uint64_t limit) {
  if (dead_ || limit == 0) return false;
  bool queued = false;
  for (H2Stream* st : all_) queued = queued || (!st->closed_ && st->out_.size() > st->out_off_);
  if (!queued || progress_at_ == 0) {
    progress_at_ = now;
    return false;
  }
  return now - progress_at_ >= limit;
}

void H2Session::reset_stalled() {
  if (dead_) return;
  for (H2Stream* st : all_) {
    if (st->closed_ || st->out_.size() <= st->out_off_) continue;
    nghttp2_submit_rst_stream(s_, NGHTTP2_FLAG_NONE, st->sid_, NGHTTP2_CANCEL);
    st->out_.clear();
    std::string().swap(st->out_);
    st->out_off_ = 0;
  }
  progress_at_ = srv_->now_ms();
  if (nghttp2_session_get_remote_window_size(s_) <= 0) {  // the whole connection is shut: it goes
    goaway();
    if (!dead_) {
      dead_ = true;
      abort_all();
      c_->close_graceful();
    }
    return;
  }
  send();
}

// ---- request_timeout per stream (Server::sweep_busy, every 250 ms) --------------------

// The application is the one we wait for: the whole request is in (or JS has body it has not read),
// and it is not waiting for the client to take what it wrote.
bool H2Session::expired(const H2Stream* st, uint64_t now, uint64_t limit) {
  return st->js_holds() && !st->closed_ && (st->end_in_ || st->unconsumed_ > 0) && !st->want_drain_ &&
         now - st->since_ >= limit;
}

bool H2Session::streams_timed_out(uint64_t now, uint64_t limit) const {
  if (dead_ || limit == 0) return false;
  for (const H2Stream* st : all_) {
    if (expired(st, now, limit)) {
      return true;
    }
  }
  return false;
}

void H2Session::time_out_streams(uint64_t now, uint64_t limit) {
  if (dead_ || limit == 0) return;
  Bridge* br = srv_->bridge();
  const bool nested = in_after_io_;
  in_after_io_ = true;  // JS is called: no stream is freed meanwhile (reap_closed() waits for us)
  for (size_t i = 0; i < all_.size() && !dead_; i++) {
    H2Stream* st = all_[i];
    if (!expired(st, now, limit)) {
      continue;
    }
    const uint64_t id = st->req_id_;
    if (st->head_sent_) {
      // The response is cut short. Only this stream goes (the connection's other streams are fine):
      // RST_STREAM INTERNAL_ERROR, as abort_response() does for an application that fails mid-body.
      // Not CANCEL: that says the stream is no longer needed (RFC 9113 §7), which is the client's
      // word; INTERNAL_ERROR tells the client the response it has is incomplete by the server's fault.
      st->final_ = true;
      release(st);
      nghttp2_submit_rst_stream(s_, NGHTTP2_FLAG_NONE, st->sid_, NGHTTP2_INTERNAL_ERROR);
      br->on_abort(id, Abort::kTimeoutClosed);
      continue;
    }
    // Nothing sent yet: JS answers 503 itself (its error page, access log line and the iterable's
    // close()) through respond(); if it cannot (no such request there), we do.
    br->on_abort(id, Abort::kTimeout);
    if (dead_ || st->closed_ || st->head_sent_ || st->req_id_ != id) continue;
    release(st);
    answer_error(st, Err::kRequestTimeout, "request_timeout");
  }
  in_after_io_ = nested;
  reap_closed();
  if (!dead_) send();
}

void H2Session::shutdown_notice() {
  if (goaway_sent_ || dead_ || s_ == nullptr) return;
  nghttp2_submit_shutdown_notice(s_);
  send();
}

// No stream open: the connection waits for the next one under keepalive (the idle
// timeout, as in Gunicorn); a stopping server sends GOAWAY and closes.
void H2Session::idle_check() {
  if (dead_ || c_->closing_ || c_->closed_) return;
  if (!all_.empty()) {
    // streams open: on the busy list (write_timeout: a client that stops reading, or keeps its window shut);
    // the drain grace keeps counting
    if (c_->wait_list_ != Wait::kDrain && c_->wait_list_ != Wait::kBusy) c_->enter_wait(Wait::kBusy);
    return;
  }
  if (srv_->draining()) {
    if (!goaway_sent_ && c_->wait_list_ == Wait::kDrain) return;  // the drain grace: a request may still come
    goaway();
    if (!dead_) {
      dead_ = true;
      c_->close_graceful();
    }
    return;
  }
  c_->enter_wait(Wait::kIdle);
}

// ---- nghttp2 callbacks: record facts only (no JS, no terminate, no GOAWAY) -----------

ssize_t H2Session::send_cb(nghttp2_session*, const uint8_t* data, size_t len, int, void* u) {
  self(u)->c_->out_append(reinterpret_cast<const char*>(data), len);
  return static_cast<ssize_t>(len);
}

int H2Session::send_data_cb(nghttp2_session*, nghttp2_frame* frame, const uint8_t* fh, size_t len,
                            nghttp2_data_source* src, void* u) {
  H2Session* s = self(u);
  auto* st = static_cast<H2Stream*>(src->ptr);
  if (s->c_->out_.size() + s->c_->io_->pending() > kOutMax) return NGHTTP2_ERR_WOULDBLOCK;
  s->c_->out_append(reinterpret_cast<const char*>(fh), 9);
  s->progress_at_ = s->srv_->now_ms();
  if (len > 0) {
    s->c_->out_append(st->out_.data() + st->out_off_, len);
    st->out_off_ += len;
  }
  if (st->out_off_ == st->out_.size()) {
    st->out_.clear();
    st->out_off_ = 0;
    if (st->final_) std::string().swap(st->out_);
  }
  return 0;
}

ssize_t H2Session::read_cb(nghttp2_session* session, int32_t sid, uint8_t*, size_t len, uint32_t* flags,
                           nghttp2_data_source* src, void* u) {
  auto* st = static_cast<H2Stream*>(src->ptr);
  size_t avail = st->out_.size() - st->out_off_;
  size_t n = avail < len ? avail : len;
  if (n == 0 && !st->final_) {
    st->deferred_ = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
  if (st->final_ && n == avail) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (!st->trailers_.empty()) {
      std::vector<nghttp2_nv> v;
      for (const H2Field& f : st->trailers_) {
        v.push_back(nv(st->trailer_text_.data() + f.no, f.nl, st->trailer_text_.data() + f.vo, f.vl));
      }
      if (nghttp2_submit_trailer(session, sid, v.data(), v.size()) == 0) *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    }
  }
  return static_cast<ssize_t>(n);
}

int H2Session::begin_headers_cb(nghttp2_session* session, const nghttp2_frame* frame, void* u) {
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  H2Session* s = self(u);
  auto* st = new (std::nothrow) H2Stream(s, frame->hd.stream_id);
  if (st == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // that stream is reset
  s->all_.push_back(st);
  nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, st);
  return 0;
}

int H2Session::header_cb(nghttp2_session* session, const nghttp2_frame* frame, const uint8_t* name, size_t nlen,
                         const uint8_t* value, size_t vlen, uint8_t, void* u) {
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;  // trailers
  auto* st = static_cast<H2Stream*>(nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
  if (st == nullptr || st->headers_done_) return 0;
  st->head_.add(reinterpret_cast<const char*>(name), nlen, reinterpret_cast<const char*>(value), vlen,
                self(u)->limits_);
  return 0;
}

int H2Session::frame_recv_cb(nghttp2_session* session, const nghttp2_frame* frame, void* u) {
  H2Session* s = self(u);
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
    case NGHTTP2_DATA: {
      auto* st = static_cast<H2Stream*>(nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
      if (st == nullptr) return 0;
      if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST && !st->headers_done_) {
        st->headers_done_ = true;
        // A header block our own checks rejected (h2_head: 431 limits, header_map refuse) is answered with
        // an error page: one abuse event, as nghttp2's own rejections (RST_STREAM(PROTOCOL_ERROR), counted
        // in invalid_frame_cb), so that a client cannot make us do that work without end.
        if (st->head_.err() != Err::kOk && s->abuse(1)) {
          s->calm_ = true;
          return NGHTTP2_ERR_CALLBACK_FAILURE;  // processing stops at this frame
        }
        if (!st->in_ready_) {
          st->in_ready_ = true;
          s->ready_.push_back(st);
        }
      }
      if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
        st->end_in_ = true;
        if (st->dispatched_ && !st->in_body_ready_) {
          st->in_body_ready_ = true;
          s->body_ready_.push_back(st);
        }
      }
      return 0;
    }
    case NGHTTP2_RST_STREAM:
      if (s->abuse(1)) {
        s->calm_ = true;
        return NGHTTP2_ERR_CALLBACK_FAILURE;  // processing stops at this frame
      }
      return 0;
    default: return 0;
  }
}

int H2Session::data_chunk_cb(nghttp2_session* session, uint8_t, int32_t sid, const uint8_t* data, size_t len, void* u) {
  H2Session* s = self(u);
  auto* st = static_cast<H2Stream*>(nghttp2_session_get_stream_user_data(session, sid));
  if (st == nullptr) {
    nghttp2_session_consume_connection(session, len);
    return 0;
  }
  st->body_in_.append(reinterpret_cast<const char*>(data), len);
  if (st->dispatched_ && !st->in_body_ready_) {
    st->in_body_ready_ = true;
    s->body_ready_.push_back(st);
  }
  return 0;
}

int H2Session::stream_close_cb(nghttp2_session* session, int32_t sid, uint32_t, void* u) {
  auto* st = static_cast<H2Stream*>(nghttp2_session_get_stream_user_data(session, sid));
  if (st == nullptr || st->closed_) return 0;
  st->closed_ = true;
  self(u)->closed_.push_back(st);
  return 0;
}

int H2Session::invalid_frame_cb(nghttp2_session*, const nghttp2_frame*, int, void* u) {
  H2Session* s = self(u);
  if (s->abuse(1)) {
    s->calm_ = true;
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  }
  return 0;
}

// Gunicorn's RST_STREAM_RATE_LIMIT / WINDOW: 200 per 10 s, as a token bucket. Events: RST_STREAM
// received, invalid frames (nghttp2's header rejections among them: each is an invalid_frame_cb before
// its RST_STREAM(PROTOCOL_ERROR)), and header blocks rejected by h2_head.
bool H2Session::abuse(uint32_t cost) {
  const uint64_t now = srv_->now_ms();
  if (bucket_at_ != 0) {
    bucket_ += (now - bucket_at_) * kAbusePerSec;  // tokens × 1000 per ms
    if (bucket_ > kAbuseBurst * 1000) bucket_ = kAbuseBurst * 1000;
  }
  bucket_at_ = now;
  const uint64_t c = static_cast<uint64_t>(cost) * 1000;
  if (bucket_ < c) return true;
  bucket_ -= c;
  return false;
}

}  // namespace gts

#endif  // GTS_NO_HTTP2
