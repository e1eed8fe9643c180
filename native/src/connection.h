// One client connection: reading, head parsing, dispatch of one request at a
// time (pipelined requests wait in the input buffer and are answered strictly
// in order), body delivery with backpressure, response framing and writing.
//
// Lifetime rules for JS (see lib/http/handler.ts): a request id is valid from
// on_request until the response is finished or on_abort fires; calls with a
// stale id are ignored.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>

#include "request_parser.h"
#include "response.h"

namespace gts {

class Server;
struct WaitList;

// Result codes of respond()/write()/end(), shared with JS.
enum class WriteResult : int {
  kOk = 0,
  kBackpressure = 1,  // accepted, but stop writing until on_drain
  kStale = 5,         // no such request (finished, aborted or closed)
  kInvalidState = 6,  // e.g. write before respond, respond twice
};

class Connection {
 public:
  Connection(Server* srv, uint32_t slot, bool is_unix);
  ~Connection();

  // After uv_accept: records the peer, starts reading.
  void start(uint8_t listener_index);
  void close_now();  // abort: close the socket without further writes

  // JS -> native (id already resolved to this connection)
  // `app` is the validated start_response() part (prepare_head); returns
  // kInvalidState in *wr when a head was already sent.
  void respond(const AppHead& app, const char* body, size_t blen, bool final, bool want_close, int64_t known_length,
               WriteResult* wr);
  WriteResult write(const char* p, size_t n, bool final);
  void pause_body(bool pause);
  void abort_response();  // app failed after headers were sent: close so the response is visibly truncated

  uint64_t request_id() const { return req_id_; }
  bool active() const { return active_; }
  const char* remote_addr() const { return remote_; }
  uint16_t remote_port() const { return remote_port_; }
  bool is_unix() const { return is_unix_; }
  bool trusted() const { return trusted_; }
  uint8_t listener_index() const { return listener_index_; }
  const ProxyInfo* proxy() const { return parser_.proxy(); }
  uint32_t slot() const { return slot_; }
  void flush_queued();  // Server's check phase
  bool flush_queued_ = false;

  // wait-list links (Server::idle_list / head_list)
  Connection* prev_ = nullptr;
  Connection* next_ = nullptr;
  uint64_t wait_since_ = 0;
  uint8_t wait_list_ = 0;  // 0 none, 1 idle, 2 head, 3 linger, 4 drain
  void enter_wait(uint8_t list);
  bool waiting_idle() const { return !active_ && in_len_ == 0 && !parser_.head_started(); }

  friend class Server;

 private:
  static void on_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);
  static void on_close(uv_handle_t* h);

  size_t run(const char* data, size_t len);
  void run_buffered();
  void dispatch(const char* data, size_t avail, size_t* used);
  void finish_request();
  void send_error(Err e, const char* detail);
  void body_failed(Err e);
  void leave_wait();
  WaitList& list_of(uint8_t list);
  void update_reading();
  void out_append(const char* p, size_t n);
  void flush();
  void schedule_flush();
  void maybe_drain();
  void write_out(const char* p, size_t n);
  void close_graceful();
  void fail_io();
  void keep_input(const char* p, size_t n);

  Server* srv_;
  union {
    uv_tcp_t tcp;
    uv_pipe_t pipe;
    uv_stream_t stream;
    uv_handle_t handle;
  } h_;
  RequestParser parser_;
  uint32_t slot_;
  uint64_t req_id_ = 0;

  // unconsumed input (partial head, pipelined requests, unread body)
  char* in_ = nullptr;
  uint32_t in_len_ = 0;  // bounded by the head limit plus 64 KiB of pipelined input
  uint32_t in_cap_ = 0;

  std::string out_;           // response bytes not yet handed to the kernel
  size_t pending_bytes_ = 0;  // handed to uv_write, not yet written
  uint32_t discarded_ = 0;    // bytes read and dropped while lingering (capped at 1 MiB)

  RequestFacts facts_;
  ResponsePlan plan_;
  uint64_t resp_body_sent_ = 0;

  char remote_[46] = {0};
  uint16_t remote_port_ = 0;
  uint8_t listener_index_ = 0;
  bool is_unix_;
  bool trusted_ = true;
  bool reading_ = false;
  bool eof_ = false;
  bool active_ = false;      // a request was dispatched and is not finished
  bool head_sent_ = false;   // response head written
  bool resp_done_ = false;   // response complete
  bool body_to_js_ = false;  // request body is streamed to JS
  bool app_paused_ = false;  // JS asked us to stop reading body
  bool want_drain_ = false;
  bool in_run_ = false;
  bool closing_ = false;  // close once output is flushed
  bool closed_ = false;   // uv_close called
  bool served_one_ = false;
  bool must_close_after_ = false;
};

}  // namespace gts
