#include "transport.h"

#include <errno.h>
#ifdef __linux__
#include <sys/sendfile.h>
#endif

#include <new>

namespace gts {
namespace {

struct WriteReq {
  uv_write_t req;
  StreamTransport* t;
  std::string data;
};

struct ShutdownReq {
  uv_shutdown_t req;
};

}  // namespace

StreamTransport::StreamTransport(uv_loop_t* loop, bool is_unix, TransportEvents* events, const ReadBuffer* rb)
    : is_unix_(is_unix), events_(events), rb_(rb) {
  if (is_unix_) {
    uv_pipe_init(loop, &h_.pipe, 0);
  } else {
    uv_tcp_init(loop, &h_.tcp);
  }
  h_.handle.data = this;
}

int StreamTransport::open(int fd) {
  int r = is_unix_ ? uv_pipe_open(&h_.pipe, fd) : uv_tcp_open(&h_.tcp, fd);
  if (r == 0 && !is_unix_) uv_tcp_nodelay(&h_.tcp, 1);
  return r;
}

bool StreamTransport::peer(sockaddr_storage* ss) const {
  if (is_unix_) return false;
  int len = sizeof *ss;
  return uv_tcp_getpeername(&h_.tcp, reinterpret_cast<sockaddr*>(ss), &len) == 0;
}

// ---- reading ---------------------------------------------------------------

void StreamTransport::set_reading_impl(bool on) {
  if (closed_) return;
  if (on) {
    if (uv_read_start(&h_.stream, on_alloc, on_read) == 0) reading_ = true;
  } else {
    uv_read_stop(&h_.stream);
    reading_ = false;
  }
}

void StreamTransport::on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  auto* t = static_cast<StreamTransport*>(h->data);
  buf->base = t->rb_->base;
  buf->len = t->rb_->size;
}

void StreamTransport::on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* t = static_cast<StreamTransport*>(s->data);
  if (nread == 0 || t->closed_) return;
  if (nread > 0) {
    t->events_->on_transport_data(buf->base, static_cast<size_t>(nread));
  } else if (nread == UV_EOF) {
    t->events_->on_transport_eof();
  } else {
    t->events_->on_transport_error();
  }
}

// ---- writing ---------------------------------------------------------------

Transport::WriteStatus StreamTransport::write(std::string& data) {
  if (closed_) return WriteStatus::kError;
  if (pending_ == 0) {
    // Nothing queued: try the kernel directly (one syscall for a small response).
    uv_buf_t b = uv_buf_init(const_cast<char*>(data.data()), static_cast<unsigned>(data.size()));
    int r = uv_try_write(&h_.stream, &b, 1);
    if (r == static_cast<int>(data.size())) return WriteStatus::kDone;
    if (r < 0 && r != UV_EAGAIN) return WriteStatus::kError;
    if (r > 0) data.erase(0, static_cast<size_t>(r));
  }
  return queue(data);
}

Transport::WriteStatus StreamTransport::write2(std::string& data, const char* tail, size_t tail_len) {
  if (closed_) return WriteStatus::kError;
  if (pending_ == 0) {
    // Nothing queued: one writev(2) of both pieces, straight from the caller's memory.
    uv_buf_t b[2] = {uv_buf_init(const_cast<char*>(data.data()), static_cast<unsigned>(data.size())),
                     uv_buf_init(const_cast<char*>(tail), static_cast<unsigned>(tail_len))};
    int r = uv_try_write(&h_.stream, b, 2);
    size_t total = data.size() + tail_len;
    if (r >= 0 && static_cast<size_t>(r) == total) return WriteStatus::kDone;
    if (r < 0 && r != UV_EAGAIN) return WriteStatus::kError;
    size_t took = r > 0 ? static_cast<size_t>(r) : 0;
    if (took >= data.size()) {
      data.assign(tail + (took - data.size()), total - took);
    } else {
      data.erase(0, took);
      data.append(tail, tail_len);
    }
    return queue(data);
  }
  data.append(tail, tail_len);
  return queue(data);
}

// Queues data (swapped out: the caller's string is left empty) behind what is pending.
Transport::WriteStatus StreamTransport::queue(std::string& data) {
  auto* w = new (std::nothrow) WriteReq();
  if (w == nullptr) return WriteStatus::kError;
  w->t = this;
  w->data.swap(data);
  uv_buf_t b = uv_buf_init(const_cast<char*>(w->data.data()), static_cast<unsigned>(w->data.size()));
  pending_ += w->data.size();
  if (uv_write(&w->req, &h_.stream, &b, 1, on_write) != 0) {
    pending_ -= w->data.size();
    delete w;
    return WriteStatus::kError;
  }
  return WriteStatus::kPending;
}

void StreamTransport::on_write(uv_write_t* req, int status) {
  auto* w = reinterpret_cast<WriteReq*>(req);
  StreamTransport* t = w->t;
  t->pending_ -= w->data.size();
  delete w;
  if (t->closed_) return;
  if (status < 0) {
    t->events_->on_transport_error();
  } else if (t->pending_ == 0) {
    t->events_->on_transport_written();
  }
}

// ---- closing ---------------------------------------------------------------

long StreamTransport::send_file(int file, uint64_t* off, size_t n) {
#ifdef __linux__
  uv_os_fd_t fd;
  if (closed_ || uv_fileno(&h_.handle, &fd) != 0) return -EBADF;
  off_t o = static_cast<off_t>(*off);
  ssize_t r;
  do {
    r = ::sendfile(fd, file, &o, n);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return errno == EWOULDBLOCK ? -EAGAIN : -errno;
  *off = static_cast<uint64_t>(o);
  return r;
#else
  (void)file;
  (void)off;
  (void)n;
  return -ENOSYS;
#endif
}

bool StreamTransport::shutdown() {
  if (closed_) return false;
  auto* sr = new (std::nothrow) ShutdownReq();
  if (sr == nullptr) return false;
  int r =
      uv_shutdown(&sr->req, &h_.stream, [](uv_shutdown_t* req, int) { delete reinterpret_cast<ShutdownReq*>(req); });
  if (r != 0) {
    delete sr;
    return false;
  }
  return true;
}

void StreamTransport::close() {
  if (closed_) return;
  closed_ = true;
  if (reading_) {
    uv_read_stop(&h_.stream);
    reading_ = false;
  }
  uv_close(&h_.handle, on_close);
}

void StreamTransport::on_close(uv_handle_t* h) {
  static_cast<StreamTransport*>(h->data)->events_->on_transport_closed();
}

}  // namespace gts
