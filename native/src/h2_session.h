// HTTP/2 on one connection (docs/design/http2.md §2): an nghttp2 server session
// fed with the plaintext the Connection reads, writing through the Connection's
// corked output. Every stream whose head is complete becomes an H2Stream, one
// call of the application, with its own request id (a Server slot) while JS
// holds it. nghttp2 appears only here, in h2_session.cc and in h2_compat.h.
//
// Rules (CVE-2026-27135 on Node 20's nghttp2 1.61, the Rapid Reset limiter that
// keeps processing a read): the nghttp2 callbacks only record facts; JS is
// called after nghttp2_session_mem_recv() / _send() returned; no terminate or
// GOAWAY is submitted from a callback; a negative mem_recv result is fatal (our
// own GOAWAY bytes, then close) and the session is never fed again.
#pragma once

#ifndef GTS_NO_HTTP2

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "endpoint.h"
#include "h2_compat.h"
#include "h2_head.h"
#include "request_parser.h"

namespace gts {

class Connection;
class H2Session;
class Server;

// Settings of the http2_* registry entries (lib/config/settings.ts).
struct H2Config {
  bool enabled = false;          // http_protocols has h2
  bool prior_knowledge = false;  // http2_cleartext prior-knowledge | both
  bool upgrade = false;          // http2_cleartext upgrade | both
  uint32_t max_concurrent_streams = 100;
  uint32_t initial_window_size = 65535;
  uint32_t max_frame_size = 16384;
  uint32_t max_header_list_size = 65536;
};

class H2Stream final : public Endpoint {
 public:
  H2Stream(H2Session* s, int32_t sid) : s_(s), sid_(sid) {}

  Connection* connection() final;
  void respond(const AppHead& app, const char* body, size_t blen, bool final, bool want_close, int64_t known_length,
               WriteResult* wr) final;
  WriteResult write(const char* p, size_t n, bool final) final;
  WriteResult early_hints(const AppHead& hints) final;
  int64_t prepare_file(int fd) final { return -1; }  // no sendfile through nghttp2's framing
  bool has_file() const final { return false; }
  int64_t file_length() const final { return -1; }
  void drop_file() final {}
  void pause_body(bool pause) final {}  // the stream's window does the job
  void abort_response() final;
  void consume(size_t n) final;
  WriteResult set_trailers(const AppHead& trailers) final;

 private:
  friend class H2Session;
  bool js_holds() const { return req_id_ != 0; }

  H2Session* s_;
  int32_t sid_;
  uint32_t slot_ = UINT32_MAX;
  H2HeadBuilder head_;
  std::string body_in_;      // DATA not yet given to JS (before dispatch, or within one read)
  uint64_t unconsumed_ = 0;  // DATA given to JS that the application has not read yet
  std::string out_;          // response body queued for DATA frames
  size_t out_off_ = 0;
  std::string trailer_text_;
  std::vector<H2Field> trailers_;
  bool headers_done_ = false;  // END_HEADERS of the request seen
  bool end_in_ = false;        // END_STREAM of the request seen
  bool end_told_ = false;      // on_body_end given to JS
  bool dispatched_ = false;
  bool body_to_js_ = false;
  bool in_ready_ = false, in_body_ready_ = false;
  bool head_sent_ = false;
  bool final_ = false;     // the application's last write came
  bool deferred_ = false;  // the data provider returned DEFERRED: resume on the next write
  bool want_drain_ = false;
  bool closed_ = false;  // nghttp2 closed the stream
  bool is_head_ = false;
  bool no_credit_ = false;  // the Upgrade: h2c request's body came over HTTP/1: no window to reopen
  uint64_t since_ = 0;      // request_timeout counts from here (dispatch, body bytes given to JS, a drain)
};

class H2Session {
 public:
  H2Session(Connection* c, Server* srv, const H2Config& cfg, const H2HeadLimits& limits);
  ~H2Session();
  H2Session(const H2Session&) = delete;
  H2Session& operator=(const H2Session&) = delete;

  // Creates the nghttp2 session and queues our SETTINGS; false when it cannot.
  bool start();
  // Upgrade: h2c: stream 1 is the HTTP/1.1 request (already answered with 101).
  bool start_upgrade(const std::string& settings_payload, bool head_request);
  H2Stream* upgrade_stream();
  void upgrade_field(const char* n, size_t nl, const char* v, size_t vl);
  // Dispatches stream 1 with the upgrade request's body (no window credit is owed for it).
  void dispatch_upgrade(const char* body, size_t n);

  void on_data(const char* p, size_t n);
  // The connection goes away: every stream JS still holds hears of it.
  void abort_all();
  // Frames queued by the application outside a read (respond/write/...): out now.
  void send();
  // After our output left: streams waiting for drain may go on.
  void on_written();
  bool dead() const { return dead_; }
  size_t open_streams() const { return all_.size(); }
  // Zero-window stall (Server's busy sweep, write_timeout): response bytes are queued and no DATA has
  // gone out for `limit` ms (the client keeps its window shut). reset_stalled() cancels those streams
  // (RST_STREAM CANCEL; JS hears on_abort), and closes the connection when its own window is shut.
  bool stalled(uint64_t now, uint64_t limit);
  void reset_stalled();
  // request_timeout per stream (Server's busy sweep): a stream JS holds whose application is the one we
  // wait for (the whole request is in, or JS has unread body; not waiting for the client to drain) and
  // has not finished its response within `limit` ms. time_out_streams() acts on them: before the head,
  // JS hears Abort::kTimeout and answers 503 (else we do); after it, Abort::kTimeoutClosed and
  // RST_STREAM. Other streams on the connection go on.
  bool streams_timed_out(uint64_t now, uint64_t limit) const;
  void time_out_streams(uint64_t now, uint64_t limit);
  // A graceful stop: GOAWAY with the last stream id we processed, then close when done.
  void goaway();
  // Its first step: GOAWAY(2^31-1), a warning that the connection will go (RFC 9113 §6.8).
  void shutdown_notice();

 private:
  friend class H2Stream;
  static ssize_t send_cb(nghttp2_session*, const uint8_t* data, size_t len, int flags, void* u);
  static int send_data_cb(nghttp2_session*, nghttp2_frame* frame, const uint8_t* fh, size_t len,
                          nghttp2_data_source* src, void* u);
  static int begin_headers_cb(nghttp2_session*, const nghttp2_frame* frame, void* u);
  static int header_cb(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t nlen,
                       const uint8_t* value, size_t vlen, uint8_t flags, void* u);
  static int frame_recv_cb(nghttp2_session*, const nghttp2_frame* frame, void* u);
  static int data_chunk_cb(nghttp2_session*, uint8_t flags, int32_t sid, const uint8_t* data, size_t len, void* u);
  static int stream_close_cb(nghttp2_session*, int32_t sid, uint32_t code, void* u);
  static int invalid_frame_cb(nghttp2_session*, const nghttp2_frame* frame, int err, void* u);
  static ssize_t read_cb(nghttp2_session*, int32_t sid, uint8_t* buf, size_t len, uint32_t* flags,
                         nghttp2_data_source* src, void* u);

  bool create();
  void reap_closed();  // JS hears of the streams nghttp2 closed; they are freed
  void idle_check();   // the connection's wait list from the streams left
  static bool expired(const H2Stream* st, uint64_t now, uint64_t limit);  // request_timeout
  bool abuse(uint32_t cost);  // the RST/invalid-frame token bucket; true when exhausted
  void fatal(uint32_t code);  // our own GOAWAY bytes, close, never feed again
  void after_io();            // JS calls for what the last recv/send recorded
  void dispatch(H2Stream* st);
  void answer_error(H2Stream* st, Err e);
  void answer_error(H2Stream* st, Err e, const char* detail);
  void release(H2Stream* st);  // JS lets go of the stream (slot back)
  void reap(H2Stream* st);     // nghttp2 closed it: free
  bool submit_head(H2Stream* st, int status, const AppHead* app, int64_t length, bool with_body);

  Connection* c_;
  Server* srv_;
  H2Config cfg_;
  H2HeadLimits limits_;
  nghttp2_session* s_ = nullptr;
  std::vector<H2Stream*> all_;         // every stream object alive
  std::vector<H2Stream*> ready_;       // head complete in this read
  std::vector<H2Stream*> body_ready_;  // DATA or END_STREAM in this read for dispatched streams
  std::vector<H2Stream*> closed_;      // closed by nghttp2 during recv/send
  std::vector<H2Stream*> drain_wait_;  // told kBackpressure
  RequestHead head_;                   // scratch for dispatch
  std::string fields_text_;            // scratch for response fields
  std::vector<H2Field> fields_;
  std::vector<nghttp2_nv> nv_;
  uint64_t bucket_ = 0;  // abuse tokens left (×1000 for the refill arithmetic)
  uint64_t bucket_at_ = 0;
  uint64_t progress_at_ = 0;  // DATA last went out (or nothing was queued)
  int depth_ = 0;             // inside mem_recv / session_send
  bool dead_ = false;
  bool calm_ = false;
  bool goaway_sent_ = false;
  bool in_after_io_ = false;
};

}  // namespace gts

#endif  // GTS_NO_HTTP2
