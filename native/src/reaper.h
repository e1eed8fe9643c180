// Reaping orphans as PID 1: a container's first process inherits every orphan of its PID namespace and must
// wait() for them, or they stay zombies. libuv waits only for the children it spawned (by pid), so the
// master reaps the others itself, by pid, never with waitpid(-1) (that would take libuv's exit statuses).
#pragma once
#include <vector>

namespace gts {

// Reaps every exited child of this process whose pid is not in `keep` (the children libuv spawned and will
// wait for itself). Appends the reaped pids to `reaped`. Linux: children from /proc/self/task/*/children,
// else a scan of /proc/*/stat; elsewhere it does nothing. Returns the number reaped.
int reap_orphans(const std::vector<int>& keep, std::vector<int>* reaped);

}  // namespace gts
