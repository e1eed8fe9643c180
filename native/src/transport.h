// The byte stream under one HTTP connection. Connection (the HTTP/1 state
// machine) reads, writes, half-closes and closes only through Transport, and
// hears back only through TransportEvents; it never touches a libuv stream.
//
//   Connection --Transport-->  StreamTransport (TCP or unix socket, libuv)
//   Connection <--TransportEvents--  StreamTransport
//
// StreamTransport is the plain implementation. A TLS transport (next) sits
// between the two: it implements Transport for Connection and TransportEvents
// for a StreamTransport it owns, so the HTTP state machine does not change:
//  * reads: ciphertext arrives in its on_transport_data(); it feeds the TLS
//    engine and calls the Connection's on_transport_data() with plaintext only
//    (handshake records produce no data and may produce bytes to send);
//  * writes: write() receives the corked plaintext of one flush (everything the
//    state machine produced in one read callback or one loop iteration) and
//    encrypts it into as few records as possible, then writes the ciphertext
//    below; pending() counts what it has not yet seen completed;
//  * handshake: before it completes, write() keeps plaintext and read delivers
//    nothing; a failed handshake is on_transport_error();
//  * shutdown(): close_notify, then the stream's shutdown; a close_notify
//    received is on_transport_eof() (a FIN without one: on_transport_eof() too,
//    as Gunicorn's suppress_ragged_eofs default);
//  * close(): immediate, like the stream's.
// Events are delivered from libuv callbacks; Connection opens its JS scope in
// each handler, so a transport never knows about N-API either.
#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace gts {

// What a transport tells its owner. Each call may close the transport (the
// owner may call close() from inside it); a transport checks before going on.
class TransportEvents {
 public:
  // Bytes for the HTTP layer (plaintext), valid only during the call.
  virtual void on_transport_data(const char* p, size_t n) = 0;
  // The peer has finished sending (TCP FIN; TLS close_notify).
  virtual void on_transport_eof() = 0;
  // Reading or writing failed: the stream is unusable (the owner closes it).
  virtual void on_transport_error() = 0;
  // Every write handed over has completed (pending() is 0 again).
  virtual void on_transport_written() = 0;
  // close() has finished: no more events, the owner may free itself.
  virtual void on_transport_closed() = 0;

 protected:
  ~TransportEvents() = default;
};

// One read buffer shared by every connection of a Server (reads are consumed or
// copied before the callback returns).
struct ReadBuffer {
  char* base = nullptr;
  size_t size = 0;
};

class Transport {
 public:
  enum class WriteStatus : uint8_t {
    kDone,     // everything is with the kernel; `data` was left as it was (the caller reuses its buffer)
    kPending,  // some or all of it is queued (pending() > 0); `data` is now empty, its buffer taken
    kError,    // the stream failed; nothing was queued
  };

  virtual ~Transport() = default;
  // Start or stop delivering on_transport_data()/on_transport_eof().
  void set_reading(bool on) {
    if (on != reading_) set_reading_impl(on);
  }
  bool reading() const { return reading_; }
  // Hands over the corked bytes of one flush (see WriteStatus).
  virtual WriteStatus write(std::string& data) = 0;
  // write(data + tail) without copying tail when the kernel takes it all (kDone: data left as it was, tail
  // sent); only what the kernel did not take is copied and queued. Transports that must copy anyway (TLS
  // encrypts) append tail and write().
  virtual WriteStatus write2(std::string& data, const char* tail, size_t tail_len) {
    data.append(tail, tail_len);
    return write(data);
  }
  // Bytes handed over by write() whose completion has not been reported yet.
  // (State every transport keeps, read on every request: not virtual.)
  size_t pending() const { return pending_; }
  // Half-close our side once pending writes are out; reading goes on. False: failed.
  virtual bool shutdown() = 0;
  // Close now (pending writes are cancelled); on_transport_closed() follows.
  virtual void close() = 0;
  // The peer's address; false for unix sockets or on error.
  virtual bool peer(sockaddr_storage* ss) const = 0;

 protected:
  // Called only when the state changes; sets reading_ on success.
  virtual void set_reading_impl(bool on) = 0;

  size_t pending_ = 0;  // see pending()
  bool reading_ = false;
  bool closed_ = false;  // close() was called
};

// TCP or unix-domain stream through libuv.
class StreamTransport final : public Transport {
 public:
  StreamTransport(uv_loop_t* loop, bool is_unix, TransportEvents* events, const ReadBuffer* rb);
  StreamTransport(const StreamTransport&) = delete;
  StreamTransport& operator=(const StreamTransport&) = delete;

  // Adopts an accepted socket; sets TCP_NODELAY. Returns 0 or a libuv error (the fd is then not ours).
  int open(int fd);
  bool is_unix() const { return is_unix_; }
  // sendfile(2): up to n bytes of `file` from *off straight into the socket (call
  // only with nothing pending). Bytes sent (*off advanced), 0 if the file ended,
  // -EAGAIN when the socket is full, -ENOSYS without sendfile, or -errno.
  long send_file(int file, uint64_t* off, size_t n);
  // Bytes libuv still has to hand to the kernel (shrinks as a slow client reads; write_timeout).
  size_t queued() const { return h_.stream.write_queue_size; }
  // A transport layered on top (TLS) takes this stream's events.
  void set_events(TransportEvents* events) { events_ = events; }

  WriteStatus write(std::string& data) override;
  WriteStatus write2(std::string& data, const char* tail, size_t tail_len) override;
  bool shutdown() override;
  void close() override;
  bool peer(sockaddr_storage* ss) const override;

 private:
  void set_reading_impl(bool on) override;
  WriteStatus queue(std::string& data);
  static void on_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);
  static void on_close(uv_handle_t* h);

  bool is_unix_;  // first: it fits in the base's tail padding
  union {
    uv_tcp_t tcp;
    uv_pipe_t pipe;
    uv_stream_t stream;
    uv_handle_t handle;
  } h_;
  TransportEvents* events_;
  const ReadBuffer* rb_;
};

}  // namespace gts
