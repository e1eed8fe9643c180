// The process's resident set size, or undefined where it cannot be read: libuv reads /proc/self/stat, which
// a chroot or a minimal container may not mount. A heartbeat must never fail for want of a figure.
export function residentSetSize(): number | undefined {
  try {
    return process.memoryUsage.rss();
  } catch {
    return undefined;
  }
}
