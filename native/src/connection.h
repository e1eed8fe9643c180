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

#include "endpoint.h"
#include "request_parser.h"
#include "response.h"
#include "tls.h"
#include "transport.h"

namespace gts {

class H2Session;
class H2Stream;
class WsSession;
struct WsHandshake;
class Server;
struct WaitList;

// Which of the Server's wait lists a connection is on (each has its own timeout).
enum class Wait : uint8_t {
  kNone = 0,
  kIdle,       // between requests, waiting for the next one (keepalive)
  kHead,       // new connection or partial head (header_timeout)
  kLinger,     // closing: our side shut down, reading until the client closes
  kDrain,      // graceful close: a last chance for a request already in flight
  kBusy,       // a request in flight, or output still leaving (request/body/write timeouts)
  kWsClosing,  // WebSocket: our close frame sent, waiting for the peer's (linger time)
  kWs,         // WebSocket: open, silent since wait_since_ (websocket_ping_interval)
};

// The HTTP/1 state machine of one connection, over a Transport (transport.h):
// it never sees a socket, so a TLS transport slots in underneath unchanged.
class Connection final : public Endpoint, public TransportEvents {
 public:
  Connection(Server* srv, uint32_t slot, bool is_unix);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Accepts from a listener into this connection's stream; 0 or a libuv error.
  int open(int fd) { return stream_.open(fd); }
  // After accept(): records the peer, starts reading.
  void start(uint8_t listener_index);
  void close_now();  // abort: close the socket without further writes

  // JS -> native (id already resolved to this connection)
  // `app` is the validated start_response() part (prepare_head); returns
  // kInvalidState in *wr when a head was already sent.
  void respond(const AppHead& app, const char* body, size_t blen, bool final, bool want_close, int64_t known_length,
               WriteResult* wr) final;
  WriteResult write(const char* p, size_t n, bool final) final;
  // A 103 Early Hints head with the application's (validated) lines, before the
  // response; HTTP/1.0 clients get none (kOk all the same).
  WriteResult early_hints(const AppHead& hints) final;
  // wsgi.file_wrapper over a regular file (Gunicorn's sendfile): takes a copy of `fd`
  // for the next respond(); returns the bytes from its current offset to its end, or
  // -1 (not a regular file, TLS, an error): then the application's blocks are sent.
  int64_t prepare_file(int fd) final;
  bool has_file() const final { return file_fd_ >= 0 && !file_started_; }  // prepared, not yet the body of a response
  int64_t file_length() const final { return static_cast<int64_t>(file_left_); }
  void drop_file() final;
  void pause_body(bool pause) final;
  void abort_response() final;  // app failed after headers were sent: close so the response is visibly truncated
  Connection* connection() final { return this; }

  bool active() const { return active_; }
  const char* remote_addr() const { return remote_; }
  uint16_t remote_port() const { return remote_port_; }
  bool is_unix() const { return stream_.is_unix(); }
  const TlsTransport* tls() const { return tls_; }
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
  Wait wait_list_ = Wait::kNone;
  void enter_wait(Wait list);
  bool waiting_idle() const { return !active_ && in_len_ == 0 && !parser_.head_started(); }
  // Server's sweep of the busy list: the first timeout this connection has passed, acted on.
  bool timed_out(uint64_t now);
  void time_out();
  uint64_t req_since_ = 0;   // request_timeout counts from here (the request received, or the client caught up)
  uint64_t body_since_ = 0;  // body_timeout counts from here
  uint64_t body_bytes_ = 0;  // body bytes received since body_since_ (body_min_rate)
  uint64_t write_mark_ = 0;  // output pending and not shrinking since (0: none pending)
  size_t write_pend_ = 0;    // the socket's queued bytes when write_mark_ was set
  uint8_t expired_why_ = 0;  // timed_out(): 1 write, 2 body, 3 request, 4 HTTP/2 stall, 5 HTTP/2 stream request_timeout

  friend class Server;
  friend class H2Session;
  friend class H2Stream;
  friend class WsSession;

  // WebSocket (ws_session.h): the application accepts the handshake of the request in flight (`extra`:
  // validated header lines for the 101). The new id (the connection's from now on), or < 0: -1 not a
  // valid handshake in flight (or already answered), -2 the server is stopping, -3 a subprotocol the
  // client did not offer.
  // transient: the app's messages are detached after its message() returns (WsLimits::transient).
  int64_t ws_upgrade(const char* proto, size_t plen, const std::string& extra, bool transient = false);
  WsSession* ws() const { return ws_; }
  size_t ws_buffered() const { return out_.size() + io_->pending(); }
  void ws_shutdown();  // graceful stop: close 1001
  void ws_idle();      // websocket_idle_timeout: close 1001

  // HTTP/2 (h2_session.h): the shutdown notice of a graceful stop; the final GOAWAY (then close once the
  // streams it lets finish are done)
  void h2_drain();
  void h2_goaway();

  // TransportEvents
  void on_transport_data(const char* p, size_t n) override;
  void on_transport_eof() override;
  void on_transport_error() override;
  void on_transport_written() override;
  void on_transport_closed() override;

 private:
  size_t run(const char* data, size_t len);
  void resume_stalled();
  void run_buffered();
  void dispatch(const char* data, size_t avail, size_t* used);
  void finish_request();
  void send_error(Err e, const char* detail);
  void body_failed(Err e);
  void leave_wait();
  WaitList& list_of(Wait list);
  void update_reading();
  void out_append(const char* p, size_t n);
  void flush();
  void schedule_flush();
  void maybe_drain();
  void write_direct(const char* p, size_t n);
  void close_graceful();
  void fail_io();
  void keep_input(const char* p, size_t n);
  void start_file();
  void pump_file();
  bool h2_input(const char* p, size_t n);  // HTTP/2 (h2_session.h): true when these bytes were its business
  void switch_h2(const char* p, size_t n);
  bool h2c_upgrade(const char* data, size_t avail, size_t* used);
  void h2_take_buffered();
  void ws_input(const char* p, size_t n);
  void ws_take_buffered();

  Server* srv_;
  StreamTransport stream_;  // the socket
  Transport* io_;           // what the state machine talks to: &stream_, or tls_ over it
  TlsTransport* tls_ = nullptr;
  RequestParser parser_;
  uint32_t slot_;

  // unconsumed input (partial head, pipelined requests, unread body)
  char* in_ = nullptr;
  uint32_t in_len_ = 0;  // bounded by the head limit plus 64 KiB of pipelined input
  uint32_t in_cap_ = 0;

  std::string out_;         // corked response bytes, handed to io_ by flush()
  uint32_t discarded_ = 0;  // bytes read and dropped while lingering (capped at 1 MiB)

  int file_fd_ = -1;  // the response body is this file (sendfile), sent after out_'s head
  bool file_started_ = false;
  uint64_t file_off_ = 0;
  uint64_t file_left_ = 0;

  RequestFacts facts_;
  ResponsePlan plan_;
  uint64_t resp_body_sent_ = 0;

  char remote_[46] = {0};
  uint16_t remote_port_ = 0;
  uint8_t listener_index_ = 0;
  bool trusted_ = true;
  bool accepted_ = false;  // start() ran: the Server counts this connection
  bool eof_ = false;
  bool active_ = false;      // a request was dispatched and is not finished
  bool head_sent_ = false;   // response head written
  bool resp_done_ = false;   // response complete
  bool body_to_js_ = false;  // request body is streamed to JS
  bool app_paused_ = false;  // JS asked us to stop reading body
  bool want_drain_ = false;
  bool in_run_ = false;
  bool out_stalled_ = false;
  bool run_flushing_ =
      false;  // run()'s own final flush  // run() stopped parsing pipelined requests at the output high-water mark
  bool closing_ = false;  // close once output is flushed
  bool closed_ = false;   // io_->close() called
  bool served_one_ = false;
  bool must_close_after_ = false;
  bool h2_sniff_ = false;      // cleartext prior knowledge: the first bytes may be the HTTP/2 preface
  bool alpn_checked_ = false;  // TLS: ALPN looked at (h2 or HTTP/1)
  H2Session* h2_ = nullptr;    // this connection speaks HTTP/2
  WsSession* ws_ = nullptr;    // this connection speaks WebSocket (after the 101)
  WsHandshake* hs_ = nullptr;  // a valid WebSocket handshake is in the application's hands
};

}  // namespace gts
