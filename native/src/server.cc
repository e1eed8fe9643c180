#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/filter.h>
#endif

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "connection.h"
#include "ws_session.h"

namespace gts {
namespace {
constexpr uint64_t kLingerMs = 2000;
// Graceful close: an open connection with nothing received yet may have a
// request on the wire (or in the socket buffer). It gets this long to arrive
// and is then answered with Connection: close; silence means it was idle.
constexpr uint64_t kDrainGraceMs = 1000;
constexpr uint64_t kSweepMs = 250;
constexpr int kAcceptBatch = 128;     // accepts per poll callback (the listener stays readable)
constexpr uint64_t kRetryMinMs = 10;  // accept back-off after EMFILE/ENFILE, doubling
constexpr uint64_t kRetryMaxMs = 1000;
constexpr uint64_t kNoticeEveryMs = 10000;  // one log line per interval while accepting fails
constexpr uint32_t kSlotBits = 20;          // request id = seq << 20 | slot
}  // namespace

// ---- allow lists (forwarded_allow_ips, proxy_allow_ips) ------------------------

bool AllowList::parse(const std::vector<std::string>& items, std::string* bad) {
  any = false;
  nets.clear();
  for (std::string item : items) {
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.erase(0, 1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.pop_back();
    if (item.empty()) continue;
    if (item == "*") {
      any = true;
      continue;
    }
    Cidr c;
    std::string addr = item;
    int prefix = -1;
    size_t slash = item.find('/');
    if (slash != std::string::npos) {
      addr = item.substr(0, slash);
      std::string p = item.substr(slash + 1);
      if (p.empty() || p.size() > 3 || p.find_first_not_of("0123456789") != std::string::npos) {
        if (bad) *bad = item;
        return false;
      }
      prefix = std::atoi(p.c_str());
    }
    if (inet_pton(AF_INET, addr.c_str(), c.addr) == 1) {
      c.af = AF_INET;
      if (prefix < 0) prefix = 32;
      if (prefix > 32) {
        if (bad) *bad = item;
        return false;
      }
    } else if (inet_pton(AF_INET6, addr.c_str(), c.addr) == 1) {
      c.af = AF_INET6;
      if (prefix < 0) prefix = 128;
      if (prefix > 128) {
        if (bad) *bad = item;
        return false;
      }
    } else {
      if (bad) *bad = item;
      return false;
    }
    c.prefix = prefix;
    nets.push_back(c);
  }
  return true;
}

static bool prefix_match(const unsigned char* a, const unsigned char* b, int bits) {
  int bytes = bits / 8, rest = bits % 8;
  if (std::memcmp(a, b, static_cast<size_t>(bytes)) != 0) return false;
  if (rest == 0) return true;
  unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (a[bytes] & mask) == (b[bytes] & mask);
}

bool AllowList::contains(const sockaddr* sa) const {
  if (any) return true;
  const unsigned char* a = nullptr;
  int af = sa->sa_family;
  unsigned char mapped[4];
  if (af == AF_INET) {
    a = reinterpret_cast<const unsigned char*>(&reinterpret_cast<const sockaddr_in*>(sa)->sin_addr);
  } else if (af == AF_INET6) {
    a = reinterpret_cast<const unsigned char*>(&reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr);
    static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(a, kMapped, 12) == 0) {  // ::ffff:a.b.c.d counts as IPv4
      std::memcpy(mapped, a + 12, 4);
      a = mapped;
      af = AF_INET;
    }
  } else {
    return true;  // unix sockets are trusted (Gunicorn)
  }
  for (const Cidr& c : nets) {
    if (c.af == af && prefix_match(a, c.addr, c.prefix)) return true;
  }
  return false;
}

// ---- stopping a shared listener ----------------------------------------------------

#ifdef __linux__
// Drops a packet whose TCP flags have SYN without ACK (a new connection); the
// handshake's last ACK and data for connections already queued still pass. A
// TCP socket filter sees the packet from the TCP header (flags: byte 13).
static sock_filter kDropSyn[] = {
    {BPF_LD | BPF_B | BPF_ABS, 0, 0, 13},    {BPF_ALU | BPF_AND | BPF_K, 0, 0, 0x12},
    {BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0x02}, {BPF_RET | BPF_K, 0, 0, 0},
    {BPF_RET | BPF_K, 0, 0, 0xffffffffu},
};
constexpr unsigned kDropSynLen = sizeof kDropSyn / sizeof kDropSyn[0];

bool listener_stop(int fd, bool stop) {
  int unused = 0;  // the kernel wants an int's worth of option value even here
  if (!stop) return setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &unused, sizeof unused) == 0;
  sock_fprog prog{static_cast<unsigned short>(kDropSynLen), kDropSyn};
  return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) == 0;
}

bool listener_stopping(int fd) {
  sock_filter got[kDropSynLen + 1];
  socklen_t len = kDropSynLen + 1;  // SO_GET_FILTER counts instructions, not bytes
  if (getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, got, &len) != 0 || len != kDropSynLen) return false;
  return std::memcmp(got, kDropSyn, sizeof kDropSyn) == 0;
}
#else
bool listener_stop(int, bool) { return false; }
bool listener_stopping(int) { return false; }
#endif

// ---- wait lists ----------------------------------------------------------------

void WaitList::push(Connection* c) {
  c->prev_ = tail;
  c->next_ = nullptr;
  if (tail) tail->next_ = c;
  else head = c;
  tail = c;
}

void WaitList::remove(Connection* c) {
  if (c->prev_) c->prev_->next_ = c->next_;
  else head = c->next_;
  if (c->next_) c->next_->prev_ = c->prev_;
  else tail = c->prev_;
  c->prev_ = c->next_ = nullptr;
}

// ---- server --------------------------------------------------------------------

Server::Server(uv_loop_t* loop, ServerConfig cfg, Bridge* bridge) : loop_(loop), cfg_(std::move(cfg)), bridge_(bridge) {
  read_buf_.base = static_cast<char*>(std::malloc(kReadBufSize));
  read_buf_.size = kReadBufSize;
  if (cfg_.tls_ctx != nullptr) {
    plain_buf_.base = static_cast<char*>(std::malloc(kReadBufSize));
    plain_buf_.size = kReadBufSize;
  }
  uv_timer_init(loop_, &timer_);
  timer_.data = this;
  uv_timer_start(&timer_, on_timer, kSweepMs, kSweepMs);
  uv_unref(reinterpret_cast<uv_handle_t*>(&timer_));  // listeners and connections keep the loop alive, not the sweep
  uv_timer_init(loop_, &accept_timer_);
  accept_timer_.data = this;
  uv_timer_init(loop_, &retry_timer_);
  retry_timer_.data = this;
  if (cfg_.balance_fd >= 0) balance_.attach(cfg_.balance_fd, cfg_.balance_slot);
  uv_check_init(loop_, &check_);
  check_.data = this;
  uv_idle_init(loop_, &idle_);
  idle_.data = this;
}

void Server::queue_flush(Connection* c) {
  flush_queue_.push_back(c);
  if (!flush_armed_) {
    flush_armed_ = true;
    uv_check_start(&check_, on_check);
    uv_idle_start(&idle_, [](uv_idle_t*) {});
  }
}

void Server::on_check(uv_check_t* h) {
  auto* srv = static_cast<Server*>(h->data);
  srv->bridge_->enter();
  // Flushing may run JS (drain, abort), which may queue more: loop until quiet.
  for (int rounds = 0; !srv->flush_queue_.empty() && rounds < 8; rounds++) {
    std::vector<Connection*> q;
    q.swap(srv->flush_queue_);
    for (Connection* c : q) {
      if (c != nullptr) c->flush_queued();
    }
  }
  if (srv->flush_queue_.empty()) {
    srv->flush_armed_ = false;
    uv_check_stop(&srv->check_);
    uv_idle_stop(&srv->idle_);
  }
  srv->bridge_->leave();
}

Server::~Server() {
  std::free(read_buf_.base);
  std::free(plain_buf_.base);
  // Connections still holding an SSL keep the context alive (reference counted).
  if (cfg_.tls_ctx != nullptr) SSL_CTX_free(cfg_.tls_ctx);
}

WsDeflatePool* Server::ws_pool() {
  if (!ws_pool_) ws_pool_.reset(new (std::nothrow) WsDeflatePool());
  return ws_pool_.get();
}

int Server::add_listener(int fd, bool is_unix, int backlog, std::string* err) {
  // listen() again sets our backlog; the poll handle makes the fd non-blocking
  // (shared with the other processes, as uv_listen did).
  int r = ::listen(fd, backlog) == 0 ? 0 : uv_translate_sys_error(errno);
  auto* l = new Listener();
  l->server = this;
  l->is_unix = is_unix;
  l->fd = fd;
  l->index = static_cast<uint8_t>(listeners_.size());
  if (r == 0) r = uv_poll_init(loop_, &l->poll, fd);
  if (r != 0) {
    if (err) *err = uv_strerror(r);
    delete l;
    return r;
  }
  l->poll.data = l;
  listeners_.push_back(l);
  set_polling(l, true);
  return 0;
}

void Server::set_polling(Listener* l, bool on) {
  if (l->closed || l->polling == on) return;
  l->polling = on;
  if (on) uv_poll_start(&l->poll, UV_READABLE, on_readable);
  else uv_poll_stop(&l->poll);
}

void Server::on_readable(uv_poll_t* p, int status, int) {
  auto* l = static_cast<Listener*>(p->data);
  if (l->closed) return;
  if (status < 0) {
    l->server->accept_failed(l, -status);  // poll error: back off as for EMFILE, never spin
    return;
  }
  l->server->accept_ready(l, false);
}

// Accepts what is queued, up to worker_connections (the rest waits in the
// kernel backlog) and a batch per callback. `force`: the first one even if
// balancing would hold it back (it already waited its turn).
void Server::accept_ready(Listener* l, bool force) {
  for (int i = 0; i < kAcceptBatch && !l->closed; i++) {
    if (cfg_.max_connections > 0 && nconns_ >= cfg_.max_connections) {
      l->accept_pending = true;  // on_connection_closed() goes on
      set_polling(l, false);
      return;
    }
    if (!draining_ && !(force && i == 0) && balance_.active() &&
        balance_.should_defer(static_cast<uint32_t>(nconns_))) {
      // Let less-loaded workers take the next connections; take one in 1 ms.
      l->accept_deferred = true;
      set_polling(l, false);
      if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&accept_timer_))) {
        uv_timer_start(&accept_timer_, on_accept_timer, 1, 0);
      }
      return;
    }
    if (!accept_one(l)) return;
  }
}

void Server::on_accept_timer(uv_timer_t* t) {
  auto* srv = static_cast<Server*>(t->data);
  srv->accept_deferred();
}

void Server::accept_deferred() {
  for (Listener* l : listeners_) {
    if (l != nullptr && l->accept_deferred && !l->closed) {
      l->accept_deferred = false;
      set_polling(l, true);
      accept_ready(l, true);
    }
  }
}

void Server::set_conns(size_t n) {
  nconns_ = n;
  balance_.publish(static_cast<uint32_t>(n));
}

bool Server::accept_one(Listener* l) {
  int fd;
  do {
#ifdef __linux__
    fd = ::accept4(l->fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
    fd = ::accept(l->fd, nullptr, nullptr);
    if (fd >= 0) fcntl(fd, F_SETFD, FD_CLOEXEC);
#endif
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    int e = errno;
    if (e == EAGAIN || e == EWOULDBLOCK) {
      // The queue is empty. A stopping server has now answered everything the
      // kernel queued for it: the listener can go without resetting anyone.
      if (l->drain) close_listener(l);
      else set_polling(l, true);
    } else if (e == ECONNABORTED || e == EPROTO) {
      return true;  // that client left before we took it: go on with the next
    } else {
      accept_failed(l, e);
    }
    return false;
  }
  retry_ms_ = 0;
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(slots_.size());
    if (slot >= (1u << kSlotBits)) {
      ::close(fd);
      return false;
    }
    slots_.push_back(nullptr);
    seq_.push_back(0);
  }
  auto* c = new Connection(this, slot, l->is_unix);
  if (c->open(fd) != 0) {
    ::close(fd);
    free_slots_.push_back(slot);
    c->close_now();  // not counted yet: the connection deletes itself once closed
    return true;
  }
  slots_[slot] = c;
  set_conns(nconns_ + 1);
  c->start(l->index);
  return true;
}

// Out of file descriptors (EMFILE, ENFILE) or memory: the queued connections
// stay in the kernel backlog; open connections go on being served; we try again
// after a back-off (no busy loop) and say so once per interval.
void Server::accept_failed(Listener* l, int err) {
  set_polling(l, false);
  l->starved = true;
  accept_errors_++;
  uint64_t now = uv_now(loop_);
  if (accept_notice_at_ == 0 || now - accept_notice_at_ >= kNoticeEveryMs) {
    char msg[256];
    std::snprintf(msg, sizeof msg,
                  "accept() failed: %s (%s); %zu open connections are still served; retrying (%llu failures since the "
                  "last report)",
                  std::strerror(err), uv_err_name(uv_translate_sys_error(err)), nconns_,
                  static_cast<unsigned long long>(accept_errors_));
    accept_notice_at_ = now;
    accept_errors_ = 0;
    bridge_->enter();
    bridge_->on_notice(msg);
    bridge_->leave();
  }
  retry_ms_ = retry_ms_ == 0 ? kRetryMinMs : (retry_ms_ * 2 > kRetryMaxMs ? kRetryMaxMs : retry_ms_ * 2);
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&retry_timer_))) {
    uv_timer_start(&retry_timer_, on_retry_timer, retry_ms_, 0);
  }
}

void Server::on_retry_timer(uv_timer_t* t) {
  auto* srv = static_cast<Server*>(t->data);
  for (Listener* l : srv->listeners_) {
    if (l != nullptr && l->starved && !l->closed) {
      l->starved = false;
      srv->set_polling(l, true);  // readable at once if connections are still queued
    }
  }
}

void Server::close_listener(Listener* l) {
  if (l->closed) return;
  set_polling(l, false);
  l->closed = true;
  pending_handle_closes_++;
  uv_close(reinterpret_cast<uv_handle_t*>(&l->poll), [](uv_handle_t* h) {
    auto* li = static_cast<Listener*>(h->data);
    Server* s = li->server;
    ::close(li->fd);
    s->pending_handle_closes_--;
    for (auto& x : s->listeners_) {
      if (x == li) x = nullptr;
    }
    delete li;
    s->maybe_finish_close();
  });
}

void Server::on_connection_closed(Connection* c) {
  if (c->flush_queued_) {
    for (auto& q : flush_queue_) {
      if (q == c) q = nullptr;
    }
  }
  slots_[c->slot()] = nullptr;
  free_slots_.push_back(c->slot());
  set_conns(nconns_ - 1);
  delete c;
  if (cfg_.max_connections == 0 || nconns_ < cfg_.max_connections) {
    for (Listener* l : listeners_) {
      if (l != nullptr && l->accept_pending && !l->closed) {
        l->accept_pending = false;
        set_polling(l, true);
        accept_ready(l, true);
        break;
      }
    }
  }
  maybe_finish_close();
}

Endpoint* Server::find(uint64_t id) const {
  uint32_t slot = static_cast<uint32_t>(id & ((1u << kSlotBits) - 1));
  if (slot >= slots_.size()) return nullptr;
  Endpoint* c = slots_[slot];
  if (c == nullptr || c->request_id() != id || id == 0) return nullptr;
  return c;
}

uint32_t Server::take_slot(Endpoint* e) {
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(slots_.size());
    if (slot >= (1u << kSlotBits)) return UINT32_MAX;
    slots_.push_back(nullptr);
    seq_.push_back(0);
  }
  slots_[slot] = e;
  return slot;
}

void Server::give_slot(uint32_t slot) {
  if (slot >= slots_.size()) return;
  slots_[slot] = nullptr;
  free_slots_.push_back(slot);
}

uint64_t Server::next_request_id(uint32_t slot) {
  uint32_t s = ++seq_[slot];
  if (s == 0) s = seq_[slot] = 1;
  return (static_cast<uint64_t>(s) << kSlotBits) | slot;
}

std::string Server::take_buffer() {
  if (buffer_pool_.empty()) {
    std::string s;
    s.reserve(1024);
    return s;
  }
  std::string s = std::move(buffer_pool_.back());
  buffer_pool_.pop_back();
  return s;
}

void Server::give_buffer(std::string&& s) {
  if (s.capacity() > 64 * 1024 || buffer_pool_.size() >= 64) return;  // let big or surplus buffers go
  s.clear();
  buffer_pool_.push_back(std::move(s));
}

void Server::on_timer(uv_timer_t* t) {
  auto* srv = static_cast<Server*>(t->data);
  srv->bridge_->enter();
  srv->sweep();
  srv->bridge_->leave();
}

void Server::sweep() {
  uint64_t now = uv_now(loop_);
  // Every waiting connection has nothing in flight: close it outright.
  auto expire = [&](WaitList& list, uint64_t limit) {
    while (list.head != nullptr && now - list.head->wait_since_ >= limit) {
      Connection* c = list.head;
      list.remove(c);
      c->wait_list_ = Wait::kNone;
      c->close_now();
    }
  };
  // keep-alive idle connections: Gunicorn closes them after `keepalive` seconds
  // (one whose last response is still leaving waits for it on the busy list, under write_timeout)
  uint64_t keepalive = cfg_.keepalive_ms > 0 ? cfg_.keepalive_ms : 1;
  while (idle_list.head != nullptr && now - idle_list.head->wait_since_ >= keepalive) {
    Connection* c = idle_list.head;
    if (cfg_.write_timeout_ms > 0 && c->io_->pending() > 0) {
      c->enter_wait(Wait::kBusy);
      continue;
    }
    idle_list.remove(c);
    c->wait_list_ = Wait::kNone;
#ifndef GTS_NO_HTTP2
    if (c->h2_ != nullptr) {  // HTTP/2 idle timeout: GOAWAY(NO_ERROR), then close
      c->h2_goaway();
      continue;
    }
#endif
    c->close_now();
  }
  // slow or silent clients that have not completed a request head
  expire(head_list, cfg_.header_timeout_ms);
  expire(linger_list, kLingerMs);
#ifndef GTS_NO_HTTP2
  // HTTP/2 connections at the end of the drain grace: the final GOAWAY; their open streams finish
  for (Connection* c = drain_list.head; c != nullptr;) {
    Connection* next = c->next_;
    if (c->h2_ != nullptr && now - c->wait_since_ >= kDrainGraceMs) c->h2_goaway();
    c = next;
  }
#endif
  expire(drain_list, kDrainGraceMs);
  // WebSockets silent for a ping interval get a ping; still silent one interval later, they are gone
  while (cfg_.ws_ping_ms > 0 && ws_list.head != nullptr && now - ws_list.head->wait_since_ >= cfg_.ws_ping_ms) {
    Connection* c = ws_list.head;
    if (c->ws_->ping_outstanding()) {
      ws_list.remove(c);
      c->wait_list_ = Wait::kNone;
      c->close_now();  // the app hears close(1006)
    } else if (cfg_.ws_idle_ms > 0 && now - c->ws_->last_message_ms() >= cfg_.ws_idle_ms) {
      c->ws_idle();  // websocket_idle_timeout: close 1001 (off the ws_list, onto the linger list)
    } else {
      c->ws_->ping();
      c->enter_wait(Wait::kWs);
    }
  }
  if (busy_list.head != nullptr) sweep_busy(now);
}

// Connections with a request in flight or output leaving: no order to exploit
// (each has its own allowance), so the sweep looks at each, every kSweepMs. Only
// the busy ones, not the idle: a few against the thousands of keep-alives.
void Server::sweep_busy(uint64_t now) {
  if (cfg_.request_timeout_ms == 0 && cfg_.body_timeout_ms == 0 && cfg_.write_timeout_ms == 0) return;
  expired_.clear();
  for (Connection* c = busy_list.head; c != nullptr; c = c->next_) {
    if (c->timed_out(now)) expired_.push_back(c);
  }
  // Acting may call JS and close connections (freed only in a later loop phase).
  for (Connection* c : expired_) c->time_out();
}

void Server::close(bool graceful) {
  if (closed_) return;
  draining_ = true;
  balance_.leave();  // a stopping worker takes no share of new connections
  uv_timer_stop(&accept_timer_);
  accept_deferred();  // a connection held back for balancing is ours: serve it, do not drop it
  // Closing our fd of a listener the other processes still hold loses nothing:
  // they take what is queued. On the whole-server stop (the arbiter has stopped
  // new connections at the socket, listener_stop()) the last fds go, and with
  // them the queue: first accept and answer everything queued (Connection:
  // close), as worker_connections allows; the listener closes when it is empty.
  for (Listener* l : listeners_) {
    if (l == nullptr || l->closed) continue;
    if (graceful && listener_stopping(l->fd)) {
      l->drain = true;
      if (!l->accept_pending && !l->starved) {
        set_polling(l, true);
        accept_ready(l, false);
      }
    } else {
      close_listener(l);
    }
  }
  // Idle keep-alive connections and fresh ones without a byte yet: closing
  // them at once resets a request that is already on its way (the classic
  // reload race). Give them a short grace; whatever arrives is served with
  // Connection: close. Partial heads keep their header_timeout.
  if (graceful) {
    while (idle_list.head) idle_list.head->enter_wait(Wait::kDrain);
    for (Connection* c = head_list.head; c != nullptr;) {
      Connection* next = c->next_;
      if (c->waiting_idle()) c->enter_wait(Wait::kDrain);
      c = next;
    }
#ifndef GTS_NO_HTTP2
    // HTTP/2: GOAWAY(2^31-1) now, the real GOAWAY (the last stream we took) when the drain grace ends
    std::vector<Connection*> h2;
    for (Endpoint* e : slots_) {
      Connection* c = e != nullptr ? e->connection() : nullptr;
      if (c != nullptr && c == e && c->h2_ != nullptr) h2.push_back(c);
    }
    for (Connection* c : h2) c->h2_drain();
#endif
    // WebSockets: close 1001 now; the peers' replies (or the linger time) end them
    std::vector<Connection*> ws;
    for (Endpoint* e : slots_) {
      Connection* c = e != nullptr ? e->connection() : nullptr;
      if (c != nullptr && c == e && c->ws() != nullptr) ws.push_back(c);
    }
    for (Connection* c : ws) c->ws_shutdown();
  }
  if (!graceful) {
    std::vector<Connection*> conns;
    for (Endpoint* e : slots_) {
      Connection* c = e != nullptr ? e->connection() : nullptr;
      if (c != nullptr && c == e) conns.push_back(c);  // a stream's slot is not its connection's
    }
    for (Connection* c : conns) c->close_now();
  }
  maybe_finish_close();
}

void Server::maybe_finish_close() {
  if (!draining_ || close_reported_ || nconns_ > 0 || pending_handle_closes_ > 0) return;
  close_reported_ = true;
  closed_ = true;
  uv_timer_stop(&timer_);
  uv_timer_stop(&retry_timer_);
  uv_check_stop(&check_);
  uv_idle_stop(&idle_);
  bridge_->enter();
  bridge_->on_closed();
  bridge_->leave();
}

}  // namespace gts
