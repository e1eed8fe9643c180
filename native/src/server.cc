#include "server.h"

#include <arpa/inet.h>

#include <cstdlib>
#include <cstring>

#include "connection.h"

namespace gts {
namespace {
constexpr uint64_t kLingerMs = 2000;
// Graceful close: an open connection with nothing received yet may have a
// request on the wire (or in the socket buffer). It gets this long to arrive
// and is then answered with Connection: close; silence means it was idle.
constexpr uint64_t kDrainGraceMs = 1000;
constexpr uint64_t kSweepMs = 250;
constexpr uint32_t kSlotBits = 20;  // request id = seq << 20 | slot
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

int Server::add_listener(int fd, bool is_unix, int backlog, std::string* err) {
  auto* l = new Listener();
  l->server = this;
  l->is_unix = is_unix;
  l->index = static_cast<uint8_t>(listeners_.size());
  int r;
  if (is_unix) {
    uv_pipe_init(loop_, &l->h.pipe, 0);
    r = uv_pipe_open(&l->h.pipe, fd);
  } else {
    uv_tcp_init(loop_, &l->h.tcp);
    r = uv_tcp_open(&l->h.tcp, fd);
  }
  l->h.handle.data = l;
  if (r == 0) r = uv_listen(&l->h.stream, backlog, on_connection);
  if (r != 0) {
    if (err) *err = uv_strerror(r);
    uv_close(&l->h.handle, [](uv_handle_t* h) { delete static_cast<Listener*>(h->data); });
    return r;
  }
  listeners_.push_back(l);
  return 0;
}

void Server::on_connection(uv_stream_t* s, int status) {
  auto* l = static_cast<Listener*>(s->data);
  if (status < 0) return;  // e.g. EMFILE: libuv retries
  Server* srv = l->server;
  if (l->closed) return;
  if (srv->draining_) {
    // libuv has already taken this connection off the queue: serve it (with
    // Connection: close) rather than drop it with the listener.
    srv->accept_one(l);
    return;
  }
  if (srv->cfg_.max_connections > 0 && srv->nconns_ >= srv->cfg_.max_connections) {
    // worker_connections reached: leave it in the kernel backlog. libuv stops
    // watching this listener until uv_accept() is called again.
    l->accept_pending = true;
    return;
  }
  if (srv->balance_.active() && srv->balance_.should_defer(static_cast<uint32_t>(srv->nconns_))) {
    // Hold this one (libuv stops polling the listener until uv_accept) so that
    // less-loaded workers take the next connections; accept it in 1 ms.
    l->accept_deferred = true;
    if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&srv->accept_timer_))) {
      uv_timer_start(&srv->accept_timer_, on_accept_timer, 1, 0);
    }
    return;
  }
  srv->accept_one(l);
}

void Server::on_accept_timer(uv_timer_t* t) {
  auto* srv = static_cast<Server*>(t->data);
  srv->bridge_->enter();
  srv->accept_deferred();
  srv->bridge_->leave();
}

void Server::accept_deferred() {
  for (Listener* l : listeners_) {
    if (l->accept_deferred && !l->closed) {
      l->accept_deferred = false;
      accept_one(l);
    }
  }
}

void Server::set_conns(size_t n) {
  nconns_ = n;
  balance_.publish(static_cast<uint32_t>(n));
}

void Server::accept_one(Listener* l) {
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(slots_.size());
    if (slot >= (1u << kSlotBits)) {
      l->accept_pending = true;
      return;
    }
    slots_.push_back(nullptr);
    seq_.push_back(0);
  }
  auto* c = new Connection(this, slot, l->is_unix);
  if (c->accept(&l->h.stream) != 0) {
    free_slots_.push_back(slot);
    c->close_now();  // not counted yet: the connection deletes itself once closed
    return;
  }
  slots_[slot] = c;
  set_conns(nconns_ + 1);
  c->start(l->index);
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
  if (!draining_ && (cfg_.max_connections == 0 || nconns_ < cfg_.max_connections)) {
    for (Listener* l : listeners_) {
      if (l->accept_pending && !l->closed) {
        l->accept_pending = false;
        bridge_->enter();
        accept_one(l);
        bridge_->leave();
        break;
      }
    }
  }
  maybe_finish_close();
}

Connection* Server::find(uint64_t id) const {
  uint32_t slot = static_cast<uint32_t>(id & ((1u << kSlotBits) - 1));
  if (slot >= slots_.size()) return nullptr;
  Connection* c = slots_[slot];
  if (c == nullptr || c->request_id() != id || id == 0) return nullptr;
  return c;
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
  expire(idle_list, cfg_.keepalive_ms > 0 ? cfg_.keepalive_ms : 1);
  // slow or silent clients that have not completed a request head
  expire(head_list, cfg_.header_timeout_ms);
  expire(linger_list, kLingerMs);
  expire(drain_list, kDrainGraceMs);
}

void Server::close(bool graceful) {
  if (closed_) return;
  draining_ = true;
  balance_.leave();  // a stopping worker takes no share of new connections
  uv_timer_stop(&accept_timer_);
  accept_deferred();  // a connection held back for balancing is ours: serve it, do not drop it
  for (Listener* l : listeners_) {
    if (!l->closed) {
      l->closed = true;
      pending_handle_closes_++;
      uv_close(&l->h.handle, [](uv_handle_t* h) {
        auto* li = static_cast<Listener*>(h->data);
        Server* s = li->server;
        s->pending_handle_closes_--;
        delete li;
        s->maybe_finish_close();
      });
    }
  }
  listeners_.clear();
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
  }
  if (!graceful) {
    for (Connection* c : slots_) {
      if (c != nullptr) c->close_now();
    }
  }
  maybe_finish_close();
}

void Server::maybe_finish_close() {
  if (!draining_ || close_reported_ || nconns_ > 0 || pending_handle_closes_ > 0) return;
  close_reported_ = true;
  closed_ = true;
  uv_timer_stop(&timer_);
  uv_check_stop(&check_);
  uv_idle_stop(&idle_);
  bridge_->enter();
  bridge_->on_closed();
  bridge_->leave();
}

}  // namespace gts
