// Server: listeners adopted from fds, accepting, the connection slot table,
// timeouts and graceful close. Talks to JS only through the Bridge interface
// (implemented in addon.cc), so this file and connection.cc know libuv and the
// parser but not N-API.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "balance.h"
#include "endpoint.h"
#include "h2_session.h"
#include "request_parser.h"
#include "response.h"
#include "tls.h"
#include "transport.h"

namespace gts {

class Connection;
class Server;
struct WsDeflatePool;

struct Cidr {
  int af = 0;  // AF_INET / AF_INET6
  unsigned char addr[16] = {};
  int prefix = 0;
};

struct AllowList {
  bool any = false;
  std::vector<Cidr> nets;
  // {"127.0.0.1", "::1", "10.0.0.0/8", "*"} -> false on a malformed entry
  bool parse(const std::vector<std::string>& items, std::string* bad);
  bool contains(const sockaddr* sa) const;
};

// Set from the options object by addon.cc (every value comes from the settings
// registry, lib/config/settings.ts; nothing here has a default of its own).
struct ServerConfig {
  ParserConfig parser;
  uint64_t keepalive_ms = 0;           // Gunicorn keepalive (0 = no keep-alive)
  uint64_t header_timeout_ms = 0;      // a request head must arrive within this
  uint64_t body_timeout_ms = 0;        // body_timeout: a request body's first allowance (0 = off)
  uint64_t body_min_rate = 0;          // body_min_rate: bytes per second that extend it by one second
  uint64_t request_timeout_ms = 0;     // request_timeout: the application's time for a response (0 = off)
  uint64_t write_timeout_ms = 0;       // write_timeout: output that makes no progress this long closes (0 = off)
  uint32_t max_connections = 0;        // worker_connections; 0 = unlimited
  size_t inline_body_max = 64 * 1024;  // not a setting: bodies this small and already read go along with the request
  AllowList forwarded_allow;           // forwarded_allow_ips
  AllowList proxy_allow;               // proxy_allow_ips
  int balance_fd = -1;                 // shared accept-balancing page (arbiter), or -1
  uint32_t balance_slot = 0;
#ifndef GTS_NO_HTTP2
  H2Config h2;  // http_protocols, http2_cleartext, http2_*
#endif
  uint64_t ws_max_message = 0;       // websocket_max_message_size
  uint64_t ws_max_backpressure = 0;  // websocket_max_backpressure
  uint64_t ws_ping_ms = 0;           // websocket_ping_interval (0 = no pings)
  uint64_t ws_idle_ms = 0;           // websocket_idle_timeout (0 = off)
  uint8_t ws_compression = 0;        // websocket_compression: WsCompression (0 off, 1 shared, 2 dedicated)
  uint8_t ws_window_bits = 15;       // websocket_compression_window_bits
  SSL_CTX* tls_ctx = nullptr;        // certfile set: every connection is TLS (the Server frees it)
  bool tls_suppress_ragged_eofs = true;
};

// What the native core tells JS. Each call happens inside a JS scope opened by
// the libuv callback (or inside a JS->native call).
class Bridge {
 public:
  virtual ~Bridge() = default;
  virtual void on_request(Connection* c, uint64_t id, const RequestHead& head, const char* body, size_t body_len,
                          bool body_follows) = 0;
  virtual void on_body(uint64_t id, const char* p, size_t n) = 0;
  virtual void on_body_end(uint64_t id, Err err) = 0;
  virtual void on_abort(uint64_t id, Abort why) = 0;
  virtual void on_drain(uint64_t id) = 0;
  virtual void on_protocol_error(Connection* c, Err err, const char* detail) = 0;
  virtual void on_closed() = 0;
  virtual void on_notice(const char* msg) = 0;  // logged as an error (accept failures)
  // WebSocket (ws_session.h): a whole message; everything queued has left after a send() said -1; the
  // connection is done (the peer's close code and reason, the code we failed it with, or 1006).
  // Messages reach JS as views into a slab (docs/design/websocket.md §4): ws_reserve(n) is room for a whole
  // message of n bytes in the current slab, or nullptr (above a quarter of a slab, or no memory). Room is
  // valid until the next ws_reserve() or on_ws_message(); the session unmasks into it, and on_ws_message() of
  // that pointer is then a view without a copy. Any other p is copied (into the slab, or into an
  // ArrayBuffer of its own when large). transient (WsLimits::transient): the room is an ArrayBuffer of its
  // own, whatever n, detached when on_ws_message() has returned from JS.
  virtual uint8_t* ws_reserve(size_t n, bool transient) = 0;
  virtual void on_ws_message(uint64_t id, const uint8_t* p, size_t n, bool binary, bool transient) = 0;
  virtual void on_ws_drain(uint64_t id) = 0;
  virtual void on_ws_close(uint64_t id, int code, const char* reason, size_t n) = 0;
  // RAII scope for libuv callbacks that may call into JS.
  virtual void enter() = 0;
  virtual void leave() = 0;
};

// Intrusive doubly linked list of connections waiting for a request head.
struct WaitList {
  Connection* head = nullptr;
  Connection* tail = nullptr;
  void push(Connection* c);
  void remove(Connection* c);
};

// A listening socket shared with the arbiter and the other workers. We poll it
// and accept(2) ourselves (not uv_listen): libuv answers EMFILE by accepting and
// closing queued connections, and a stopping server must empty the queue first.
struct Listener {
  Server* server = nullptr;
  uv_poll_t poll;
  int fd = -1;
  bool is_unix = false;
  bool polling = false;
  bool accept_pending = false;   // a connection is queued but we are at max_connections
  bool accept_deferred = false;  // letting other workers take the next connections
  bool starved = false;          // accept failed for want of fds or memory: retry later
  bool drain = false;            // whole-server stop: accept what is queued, then close
  uint8_t index = 0;
  bool closed = false;
};

// The whole-server stop (arbiter): new SYNs to a listener are dropped from now
// on (a socket filter; the socket is shared, so only the last owner may), so
// that its workers can empty the accept queue and close it without resets.
// stop=false removes such a filter (a socket inherited from a stopped server).
bool listener_stop(int fd, bool stop);
bool listener_stopping(int fd);

class Server {
 public:
  Server(uv_loop_t* loop, ServerConfig cfg, Bridge* bridge);
  ~Server();

  // Adopts a listening fd (TCP or unix). Returns 0 or a libuv error code.
  int add_listener(int fd, bool is_unix, int backlog, std::string* err);
  // Graceful close: stop accepting, close idle connections, let active requests
  // finish with Connection: close. on_closed() fires when nothing is left.
  void close(bool graceful);
  size_t connection_count() const { return nconns_; }
  bool draining() const { return draining_; }

  Endpoint* find(uint64_t id) const;
  // A slot of the request-id table for an HTTP/2 stream JS is given (UINT32_MAX: none free).
  uint32_t take_slot(Endpoint* e);
  void give_slot(uint32_t slot);
  uint64_t next_request_id(uint32_t slot);

  const ServerConfig& cfg() const { return cfg_; }
  Bridge* bridge() const { return bridge_; }
  uv_loop_t* loop() const { return loop_; }
  ParserShared* parser_shared() { return &parser_shared_; }
  DateCache& date() { return date_; }
  uint64_t now_ms() const { return uv_now(loop_); }
  const ReadBuffer* read_buffer() const { return &read_buf_; }
  const ReadBuffer* plain_buffer() const { return &plain_buf_; }  // TLS: decrypted bytes
  std::string* cipher_spare() { return &cipher_spare_; }          // TLS: see TlsTransport
  WsDeflatePool* ws_pool();  // permessage-deflate's per-worker streams and buffers (made on first use)

  WaitList idle_list;    // between requests, waiting keepalive
  WaitList head_list;    // new connection or partial head, waiting header_timeout
  WaitList linger_list;  // closing: our side is shut down, reading until the client closes
  WaitList drain_list;   // graceful close: a last chance to send a request (already in flight)
  WaitList ws_list;      // open WebSockets, the longest silent first (websocket_ping_interval)
  WaitList busy_list;    // a request in flight, or a response still being written (request/body/write timeouts)

  // Corking: responses written outside a read callback (promises, timers,
  // streaming iterators) are flushed once per loop iteration, in the check
  // phase, so every chunk produced in one tick leaves in one write.
  void queue_flush(Connection* c);

  // connection lifecycle
  void on_connection_closed(Connection* c);
  std::string take_buffer();
  void give_buffer(std::string&& s);

  static constexpr size_t kReadBufSize = 64 * 1024;

 private:
  static void on_readable(uv_poll_t* p, int status, int events);
  static void on_timer(uv_timer_t* t);
  void accept_deferred();  // accepts the connections held back by balancing
  static void on_check(uv_check_t* h);
  static void on_accept_timer(uv_timer_t* t);
  static void on_retry_timer(uv_timer_t* t);
  void set_conns(size_t n);
  void accept_ready(Listener* l, bool force);
  bool accept_one(Listener* l);  // false: nothing accepted (queue empty, or an error handled)
  void accept_failed(Listener* l, int err);
  void set_polling(Listener* l, bool on);
  void close_listener(Listener* l);
  void sweep();
  void sweep_busy(uint64_t now);
  void maybe_finish_close();

  uv_loop_t* loop_;
  ServerConfig cfg_;
  Bridge* bridge_;
  ParserShared parser_shared_;
  DateCache date_;
  std::vector<Listener*> listeners_;
  std::vector<Endpoint*> slots_;  // connections and dispatched HTTP/2 streams
  std::vector<uint32_t> free_slots_;
  std::vector<uint32_t> seq_;
  std::vector<std::string> buffer_pool_;
  uv_timer_t timer_;
  uv_check_t check_;
  uv_timer_t accept_timer_;
  uv_timer_t retry_timer_;      // accept after EMFILE/ENFILE/ENOBUFS
  uint64_t retry_ms_ = 0;       // its back-off
  uint64_t accept_errors_ = 0;  // failures since the last notice
  uint64_t accept_notice_at_ = 0;
  std::vector<Connection*> expired_;
  Balance balance_;
  uv_idle_t idle_;  // keeps poll from blocking while a flush is queued
  std::vector<Connection*> flush_queue_;
  bool flush_armed_ = false;
  ReadBuffer read_buf_;
  ReadBuffer plain_buf_;
  std::string cipher_spare_;
  std::unique_ptr<WsDeflatePool> ws_pool_;
  size_t nconns_ = 0;
  bool draining_ = false;
  bool closed_ = false;
  bool close_reported_ = false;
  int pending_handle_closes_ = 0;
  friend class Connection;
};

}  // namespace gts
