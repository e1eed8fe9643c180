#include "reaper.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <string>

namespace gts {

#ifdef __linux__
// Child pids from /proc/self/task/<tid>/children (every thread's). False if the kernel does not provide it.
static bool children_from_tasks(std::vector<int>* out) {
  DIR* tasks = opendir("/proc/self/task");
  if (tasks == nullptr) return false;
  bool any = false;
  while (dirent* t = readdir(tasks)) {
    if (t->d_name[0] < '0' || t->d_name[0] > '9') continue;
    std::string path = std::string("/proc/self/task/") + t->d_name + "/children";
    FILE* f = fopen(path.c_str(), "re");
    if (f == nullptr) continue;
    any = true;
    int pid;
    while (fscanf(f, "%d", &pid) == 1) out->push_back(pid);
    fclose(f);
  }
  closedir(tasks);
  return any;
}

// Fallback: every process whose parent (field 4 of /proc/<pid>/stat) is this one.
static void children_from_scan(std::vector<int>* out) {
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return;
  const int self = getpid();
  char buf[512];
  while (dirent* d = readdir(proc)) {
    if (d->d_name[0] < '0' || d->d_name[0] > '9') continue;
    std::string path = std::string("/proc/") + d->d_name + "/stat";
    FILE* f = fopen(path.c_str(), "re");
    if (f == nullptr) continue;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char* close_paren = strrchr(buf, ')');  // the command name may hold spaces and parentheses
    int ppid = 0;
    char state = 0;
    if (close_paren != nullptr && sscanf(close_paren + 1, " %c %d", &state, &ppid) == 2 && ppid == self) {
      out->push_back(atoi(d->d_name));
    }
  }
  closedir(proc);
}
#endif

int reap_orphans(const std::vector<int>& keep, std::vector<int>* reaped) {
#ifdef __linux__
  std::vector<int> kids;
  if (!children_from_tasks(&kids)) children_from_scan(&kids);
  int n = 0;
  for (int pid : kids) {
    if (pid <= 0 || std::find(keep.begin(), keep.end(), pid) != keep.end()) continue;
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) {  // 0: still running; -1: not ours (any more)
      if (reaped != nullptr) reaped->push_back(pid);
      n++;
    }
  }
  return n;
#else
  (void)keep;
  (void)reaped;
  return 0;
#endif
}

}  // namespace gts
