// Listening-socket helpers: plain fds, so that the arbiter can create them once
// and hand them to worker processes.
#pragma once
#include <stddef.h>

#include <string>

namespace gts {

// Returns a listening fd, or -errno. `host` must be a numeric IPv4/IPv6 address.
int listen_tcp(const std::string& host, int port, int backlog, bool reuse_port, std::string* err);
// Removes a stale socket file first (never a regular file). Returns fd or -errno.
int listen_unix(const std::string& path, int backlog, int umask_bits, std::string* err);
// Address a listening fd is bound to: family ("inet", "inet6", "unix"), host, port.
bool sock_name(int fd, std::string* family, std::string* host, int* port);
// sd_notify(3): sends `state` as one datagram to $NOTIFY_SOCKET (a path, or
// an abstract name starting with '@'). Returns 1 sent, 0 no NOTIFY_SOCKET, -errno.
int sd_notify(const std::string& state);
// A unix datagram socket for StatsD and syslog (non-blocking, close-on-exec): fd or -errno.
int unix_dgram_socket();
// Sends one datagram to `path` (a filesystem path, or an abstract name starting with '@') without
// blocking. Returns the bytes sent or -errno: -EAGAIN when the receiver's queue is full (the caller
// drops and counts), -ECONNREFUSED/-ENOENT when nobody listens, -EPROTOTYPE for a stream socket.
long unix_dgram_send(int fd, const std::string& path, const char* data, size_t len);
// The credentials of a unix socket's peer (SO_PEERCRED; getpeereid where that is missing, pid -1).
// Returns 0 or -errno.
int peer_cred(int fd, long* pid, long* uid, long* gid);
// Clears FD_CLOEXEC so that the fd survives exec (for re-exec / spawned workers).
bool set_inheritable(int fd, bool inheritable);

}  // namespace gts
