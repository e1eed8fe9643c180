// Server: listeners adopted from fds, accepting, the connection slot table,
// timeouts and graceful close. Talks to JS only through the Bridge interface
// (implemented in addon.cc), so this file and connection.cc know libuv and the
// parser but not N-API.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>
#include <vector>

#include "balance.h"
#include "request_parser.h"
#include "response.h"
#include "tls.h"
#include "transport.h"

namespace gts {

class Connection;
class Server;

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
  uint32_t max_connections = 0;        // worker_connections; 0 = unlimited
  size_t inline_body_max = 64 * 1024;  // not a setting: bodies this small and already read go along with the request
  AllowList forwarded_allow;           // forwarded_allow_ips
  AllowList proxy_allow;               // proxy_allow_ips
  int balance_fd = -1;                 // shared accept-balancing page (arbiter), or -1
  uint32_t balance_slot = 0;
  SSL_CTX* tls_ctx = nullptr;  // certfile set: every connection is TLS (the Server frees it)
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
  virtual void on_abort(uint64_t id) = 0;
  virtual void on_drain(uint64_t id) = 0;
  virtual void on_protocol_error(Connection* c, Err err, const char* detail) = 0;
  virtual void on_closed() = 0;
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

struct Listener {
  Server* server = nullptr;
  union {
    uv_tcp_t tcp;
    uv_pipe_t pipe;
    uv_stream_t stream;
    uv_handle_t handle;
  } h;
  bool is_unix = false;
  bool accept_pending = false;   // a connection is queued but we are at max_connections
  bool accept_deferred = false;  // holding an accepted connection while other workers catch up
  uint8_t index = 0;
  bool closed = false;
};

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

  Connection* find(uint64_t id) const;
  uint64_t next_request_id(uint32_t slot);

  const ServerConfig& cfg() const { return cfg_; }
  Bridge* bridge() const { return bridge_; }
  uv_loop_t* loop() const { return loop_; }
  ParserShared* parser_shared() { return &parser_shared_; }
  DateCache& date() { return date_; }
  uint64_t now_ms() const { return uv_now(loop_); }
  const ReadBuffer* read_buffer() const { return &read_buf_; }
  const ReadBuffer* plain_buffer() const { return &plain_buf_; }  // TLS: decrypted bytes

  WaitList idle_list;    // between requests, waiting keepalive
  WaitList head_list;    // new connection or partial head, waiting header_timeout
  WaitList linger_list;  // closing: our side is shut down, reading until the client closes
  WaitList drain_list;   // graceful close: a last chance to send a request (already in flight)

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
  static void on_connection(uv_stream_t* server, int status);
  static void on_timer(uv_timer_t* t);
  void accept_deferred();  // accepts the connections held back by balancing
  static void on_check(uv_check_t* h);
  static void on_accept_timer(uv_timer_t* t);
  void set_conns(size_t n);
  void accept_one(Listener* l);
  void sweep();
  void maybe_finish_close();

  uv_loop_t* loop_;
  ServerConfig cfg_;
  Bridge* bridge_;
  ParserShared parser_shared_;
  DateCache date_;
  std::vector<Listener*> listeners_;
  std::vector<Connection*> slots_;
  std::vector<uint32_t> free_slots_;
  std::vector<uint32_t> seq_;
  std::vector<std::string> buffer_pool_;
  uv_timer_t timer_;
  uv_check_t check_;
  uv_timer_t accept_timer_;
  Balance balance_;
  uv_idle_t idle_;  // keeps poll from blocking while a flush is queued
  std::vector<Connection*> flush_queue_;
  bool flush_armed_ = false;
  ReadBuffer read_buf_;
  ReadBuffer plain_buf_;
  size_t nconns_ = 0;
  bool draining_ = false;
  bool closed_ = false;
  bool close_reported_ = false;
  int pending_handle_closes_ = 0;
  friend class Connection;
};

}  // namespace gts
