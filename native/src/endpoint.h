// What a request id resolves to (Server::find): the far end of one exchange.
// An HTTP/1 Connection is one (one request at a time); an HTTP/2 connection
// dispatches every stream as its own H2Stream (docs/design/http2.md §2), each
// holding a slot of the Server's table while JS has it. The addon's per-request
// methods (respond, write, pause, ...) call through this interface.
#pragma once

#include <cstddef>
#include <cstdint>

#include "response.h"

namespace gts {

class Connection;

// Result codes of respond()/write()/end(), shared with JS.
enum class WriteResult : int {
  kOk = 0,
  kBackpressure = 1,  // accepted, but stop writing until on_drain
  kStale = 5,         // no such request (finished, aborted or closed)
  kInvalidState = 6,  // e.g. write before respond, respond twice
};

class Endpoint {
 public:
  virtual ~Endpoint() = default;

  uint64_t request_id() const { return req_id_; }
  // The connection the exchange runs on (peer facts, TLS); itself for HTTP/1.
  virtual Connection* connection() = 0;

  // JS -> native (the id already resolved to this endpoint)
  virtual void respond(const AppHead& app, const char* body, size_t blen, bool final, bool want_close,
                       int64_t known_length, WriteResult* wr) = 0;
  virtual WriteResult write(const char* p, size_t n, bool final) = 0;
  virtual WriteResult early_hints(const AppHead& hints) = 0;
  virtual int64_t prepare_file(int fd) = 0;
  virtual bool has_file() const = 0;
  virtual int64_t file_length() const = 0;
  virtual void drop_file() = 0;
  virtual void pause_body(bool pause) = 0;
  virtual void abort_response() = 0;
  // The application took n bytes of the request body (HTTP/2 flow control: the
  // window is reopened by that much). Nothing to do for HTTP/1.
  virtual void consume(size_t n) {}
  // Response trailers (HTTP/2): sent after the body ends. kInvalidState where
  // the protocol has none.
  virtual WriteResult set_trailers(const AppHead& trailers) { return WriteResult::kInvalidState; }

 protected:
  uint64_t req_id_ = 0;
};

}  // namespace gts
