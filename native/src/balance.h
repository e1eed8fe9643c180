// Accept balancing across worker processes that share a listening socket.
//
// All workers are woken for a new connection, and libuv accepts every queued
// connection in one burst, so with keep-alive clients one worker can end up
// with most connections for their whole life. The master creates a small
// shared page (memfd) with one counter per worker slot; each worker publishes
// its open-connection count there. A worker that has clearly more connections
// than the least-loaded live worker holds its next accept briefly, and libuv
// stops polling the listener meanwhile, so the others take the new ones.
#pragma once

#include <atomic>
#include <cstdint>

namespace gts {

constexpr uint32_t kBalanceVacant = 0xffffffffu;

class Balance {
 public:
  // Creates the shared page (master). Returns an fd or -errno.
  static int create(uint32_t slots);
  // Maps an fd created by create(); false on error.
  bool attach(int fd, uint32_t self);
  // Marks a slot as having no live worker (master, when a worker exits).
  static bool vacate(int fd, uint32_t slot);
  bool active() const { return counts_ != nullptr; }
  void publish(uint32_t nconns) {
    if (counts_) counts_[self_].store(nconns, std::memory_order_relaxed);
  }
  void leave() {
    if (counts_) counts_[self_].store(kBalanceVacant, std::memory_order_relaxed);
  }
  // True when this worker should let the others accept for a moment.
  bool should_defer(uint32_t mine) const;
  ~Balance();

 private:
  std::atomic<uint32_t>* counts_ = nullptr;
  uint32_t slots_ = 0;
  uint32_t self_ = 0;
};

}  // namespace gts
