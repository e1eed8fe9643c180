// The Linux-only system calls the native core uses, each with a POSIX
// fallback (macOS, the BSDs). Building with GTS_FORCE_POSIX=1 in the
// environment (binding.gyp defines GTS_FORCE_POSIX) uses the fallbacks on Linux
// too, so that they are tested here:
//   GTS_FORCE_POSIX=1 npm run build:native && npm test
#pragma once

namespace gts {
namespace platform {

// socket(2) with close-on-exec (and O_NONBLOCK when `nonblock`) set
// atomically where SOCK_CLOEXEC/SOCK_NONBLOCK exist, else with fcntl(2).
// Returns the fd or -1 (errno set).
int socket_cloexec(int domain, int type, bool nonblock);

// An anonymous shared-memory fd, close-on-exec (memfd_create(2); else a
// shm_open(3) object unlinked at once). Returns the fd or -1 (errno set).
int anon_shared_fd(const char* name);

// Flags for send(2)/sendto(2) that keep a closed peer from raising SIGPIPE
// (MSG_NOSIGNAL; 0 where it does not exist: datagram sends never raise it).
int send_nosignal_flags();

}  // namespace platform
}  // namespace gts
