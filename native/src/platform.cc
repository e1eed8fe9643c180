#include "platform.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#if defined(__linux__) && !defined(GTS_FORCE_POSIX)
#define GTS_LINUX 1
#endif

namespace gts {
namespace platform {

int socket_cloexec(int domain, int type, bool nonblock) {
#if defined(GTS_LINUX)
  return socket(domain, type | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
#else
  int fd = socket(domain, type, 0);
  if (fd < 0) return -1;
  int fl = fcntl(fd, F_GETFD);
  bool ok = fl >= 0 && fcntl(fd, F_SETFD, fl | FD_CLOEXEC) == 0;
  if (ok && nonblock) {
    fl = fcntl(fd, F_GETFL);
    ok = fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0;
  }
  if (!ok) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
#endif
}

int anon_shared_fd(const char* name) {
#if defined(GTS_LINUX)
  return memfd_create(name, MFD_CLOEXEC);
#else
  // A unique name, unlinked at once: only the fd (and its inheritors) reach it.
  char path[64];
  for (int attempt = 0; attempt < 16; attempt++) {
    snprintf(path, sizeof path, "/gts-%ld-%d", static_cast<long>(getpid()), attempt);
    int fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
      if (errno == EEXIST) continue;
      return -1;
    }
    shm_unlink(path);
    int fl = fcntl(fd, F_GETFD);
    if (fl >= 0) fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
    (void)name;
    return fd;
  }
  errno = EEXIST;
  return -1;
#endif
}

int send_nosignal_flags() {
#if defined(MSG_NOSIGNAL) && !defined(GTS_FORCE_POSIX)
  return MSG_NOSIGNAL;
#else
  return 0;
#endif
}

}  // namespace platform
}  // namespace gts
