#include "balance.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "platform.h"

namespace gts {
namespace {
// How many more connections than the least-loaded live worker are tolerated
// before deferring: small enough for 50 +- 10 % with 64 clients, large enough
// that Connection: close traffic rarely defers.
constexpr uint32_t kSlack = 2;

std::atomic<uint32_t>* map_fd(int fd, uint32_t* slots) {
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size < static_cast<off_t>(sizeof(uint32_t))) return nullptr;
  void* p = mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return nullptr;
  *slots = static_cast<uint32_t>(st.st_size / sizeof(uint32_t));
  return static_cast<std::atomic<uint32_t>*>(p);
}
}  // namespace

int Balance::create(uint32_t slots) {
  int fd = platform::anon_shared_fd("gunicorn-ts-balance");
  if (fd < 0) return -errno;
  if (ftruncate(fd, static_cast<off_t>(slots * sizeof(uint32_t))) != 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  uint32_t n = 0;
  std::atomic<uint32_t>* c = map_fd(fd, &n);
  if (c == nullptr) {
    close(fd);
    return -ENOMEM;
  }
  for (uint32_t i = 0; i < n; i++) c[i].store(kBalanceVacant, std::memory_order_relaxed);
  munmap(c, n * sizeof(uint32_t));
  return fd;
}

bool Balance::attach(int fd, uint32_t self) {
  uint32_t n = 0;
  std::atomic<uint32_t>* c = map_fd(fd, &n);
  if (c == nullptr || self >= n) {
    if (c) munmap(c, n * sizeof(uint32_t));
    return false;
  }
  counts_ = c;
  slots_ = n;
  self_ = self;
  publish(0);
  return true;
}

bool Balance::vacate(int fd, uint32_t slot) {
  uint32_t n = 0;
  std::atomic<uint32_t>* c = map_fd(fd, &n);
  if (c == nullptr) return false;
  bool ok = slot < n;
  if (ok) c[slot].store(kBalanceVacant, std::memory_order_relaxed);
  munmap(c, n * sizeof(uint32_t));
  return ok;
}

bool Balance::should_defer(uint32_t mine) const {
  if (counts_ == nullptr) return false;
  uint32_t least = kBalanceVacant;
  for (uint32_t i = 0; i < slots_; i++) {
    if (i == self_) continue;
    uint32_t v = counts_[i].load(std::memory_order_relaxed);
    if (v < least) least = v;
  }
  return least != kBalanceVacant && mine > least + kSlack;
}

Balance::~Balance() {
  if (counts_) {
    leave();
    munmap(counts_, slots_ * sizeof(uint32_t));
  }
}

}  // namespace gts
