#include "sockets.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "platform.h"

namespace gts {

static int fail_errno(int fd, const char* what, std::string* err) {
  int e = errno;
  if (err) *err = std::string(what) + ": " + strerror(e);
  if (fd >= 0) close(fd);
  return -e;
}

int listen_tcp(const std::string& host, int port, int backlog, bool reuse_port, std::string* err) {
  sockaddr_storage ss{};
  socklen_t len;
  int af;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    af = AF_INET;
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    af = AF_INET6;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof(sockaddr_in6);
  } else {
    if (err) *err = "not a numeric address: " + host;
    return -EINVAL;
  }
  int fd = platform::socket_cloexec(af, SOCK_STREAM, true);
  if (fd < 0) return fail_errno(-1, "socket", err);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
    return fail_errno(fd, "SO_REUSEPORT", err);
  if (af == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) return fail_errno(fd, "bind", err);
  if (listen(fd, backlog) != 0) return fail_errno(fd, "listen", err);
  return fd;
}

int listen_unix(const std::string& path, int backlog, int umask_bits, std::string* err) {
  sockaddr_un sa{};
  if (path.size() >= sizeof(sa.sun_path)) {
    if (err) *err = "unix socket path too long: " + path;
    return -ENAMETOOLONG;
  }
  struct stat st;
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      if (err) *err = "not a socket, refusing to replace: " + path;
      return -EEXIST;
    }
    unlink(path.c_str());
  }
  int fd = platform::socket_cloexec(AF_UNIX, SOCK_STREAM, true);
  if (fd < 0) return fail_errno(-1, "socket", err);
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  mode_t old = umask(static_cast<mode_t>(umask_bits));
  int rc = bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  umask(old);
  if (rc != 0) return fail_errno(fd, "bind", err);
  if (listen(fd, backlog) != 0) return fail_errno(fd, "listen", err);
  return fd;
}

bool sock_name(int fd, std::string* family, std::string* host, int* port) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return false;
  char buf[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
    *family = "inet";
    *host = buf;
    *port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
    *family = "inet6";
    *host = buf;
    *port = ntohs(a->sin6_port);
  } else if (ss.ss_family == AF_UNIX) {
    auto* a = reinterpret_cast<sockaddr_un*>(&ss);
    *family = "unix";
    *host = a->sun_path;
    *port = 0;
  } else {
    return false;
  }
  return true;
}

namespace {
// `path` as a unix address (a leading '@' names the abstract namespace); false when it does not fit
bool unix_address(const std::string& path, sockaddr_un* sa, socklen_t* len) {
  size_t n = path.size();
  *sa = sockaddr_un{};
  if (n == 0 || n >= sizeof(sa->sun_path)) return false;
  sa->sun_family = AF_UNIX;
  memcpy(sa->sun_path, path.data(), n);
  if (path[0] == '@') sa->sun_path[0] = 0;  // abstract namespace
  *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + n);
  return true;
}
}  // namespace

int sd_notify(const std::string& state) {
  const char* path = getenv("NOTIFY_SOCKET");
  if (path == nullptr || path[0] == 0) return 0;
  // non-blocking: a NOTIFY_SOCKET whose reader stopped (its queue holds net.unix.max_dgram_qlen datagrams, 10 by
  // default) must not stop the master's loop; the send then fails with EAGAIN and the caller logs it
  int fd = platform::socket_cloexec(AF_UNIX, SOCK_DGRAM, true);
  if (fd < 0) return -errno;
  long r = unix_dgram_send(fd, path, state.data(), state.size());
  close(fd);
  return r < 0 ? static_cast<int>(r) : 1;
}

int unix_dgram_socket() {
  int fd = platform::socket_cloexec(AF_UNIX, SOCK_DGRAM, true);
  return fd < 0 ? -errno : fd;
}

long unix_dgram_send(int fd, const std::string& path, const char* data, size_t len) {
  sockaddr_un sa;
  socklen_t sa_len;
  if (!unix_address(path, &sa, &sa_len)) return -ENAMETOOLONG;
  ssize_t r;
  do {
    r = sendto(fd, data, len, platform::send_nosignal_flags(), reinterpret_cast<sockaddr*>(&sa), sa_len);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return errno == EWOULDBLOCK ? -EAGAIN : -errno;
  return static_cast<long>(r);
}

int peer_cred(int fd, long* pid, long* uid, long* gid) {
#if defined(SO_PEERCRED)
  struct ucred c {};
  socklen_t n = sizeof(c);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c, &n) != 0) return -errno;
  *pid = c.pid;
  *uid = c.uid;
  *gid = c.gid;
#else
  uid_t u;
  gid_t g;
  if (getpeereid(fd, &u, &g) != 0) return -errno;
  *pid = -1;
  *uid = u;
  *gid = g;
#endif
  return 0;
}

bool set_inheritable(int fd, bool inheritable) {
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0) return false;
  flags = inheritable ? (flags & ~FD_CLOEXEC) : (flags | FD_CLOEXEC);
  return fcntl(fd, F_SETFD, flags) == 0;
}

}  // namespace gts
