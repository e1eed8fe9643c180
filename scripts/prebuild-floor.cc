// Linked into the prebuilt addons only (scripts/prebuild.sh), never into a
// source build. The prebuilds must load wherever Node's own Linux binary does:
// glibc >= 2.28 and a libstdc++ with GLIBCXX_3.4.21 / CXXABI_1.3.9 (what
// `objdump -T` shows Node 20's binary needs). The build machine's toolchain
// (Debian 12: glibc 2.36, GCC 12) binds a few calls to newer symbol versions;
// the linker's --wrap sends those references here instead. scripts/prebuild.sh
// checks the result with objdump and fails above the floor, so a new call that
// needs a wrapper is caught at build time, not on a user's machine.
#include <sys/stat.h>

#include <memory>
#include <new>
#include <typeinfo>

#if defined(__x86_64__)
#define GTS_GLIBC_BASE "GLIBC_2.2.5"
#define GTS_STAT_VER 1  // _STAT_VER_LINUX
#elif defined(__aarch64__)
#define GTS_GLIBC_BASE "GLIBC_2.17"
#define GTS_STAT_VER 0  // _STAT_VER_KERNEL
#else
#error "prebuilds are made for x86_64 and aarch64 only"
#endif

#define GTS_HIDDEN __attribute__((visibility("hidden")))

extern "C" {
// stat64 & co. are real symbols only since glibc 2.33 (GLIBC_2.33); before,
// they were inline wrappers around __xstat64 & co., which glibc still exports
// for old binaries. Pinned to the architecture's first glibc version.
int __xstat64(int ver, const char *path, struct stat64 *buf);
int __lxstat64(int ver, const char *path, struct stat64 *buf);
int __fxstat64(int ver, int fd, struct stat64 *buf);
__asm__(".symver __xstat64,__xstat64@" GTS_GLIBC_BASE);
__asm__(".symver __lxstat64,__lxstat64@" GTS_GLIBC_BASE);
__asm__(".symver __fxstat64,__fxstat64@" GTS_GLIBC_BASE);

// On x86_64 and aarch64 struct stat and struct stat64 are the same layout.
GTS_HIDDEN int __wrap_stat64(const char *p, struct stat64 *b) { return __xstat64(GTS_STAT_VER, p, b); }
GTS_HIDDEN int __wrap_lstat64(const char *p, struct stat64 *b) { return __lxstat64(GTS_STAT_VER, p, b); }
GTS_HIDDEN int __wrap_fstat64(int fd, struct stat64 *b) { return __fxstat64(GTS_STAT_VER, fd, b); }
GTS_HIDDEN int __wrap_stat(const char *p, struct stat *b) {
  return __xstat64(GTS_STAT_VER, p, reinterpret_cast<struct stat64 *>(b));
}
GTS_HIDDEN int __wrap_lstat(const char *p, struct stat *b) {
  return __lxstat64(GTS_STAT_VER, p, reinterpret_cast<struct stat64 *>(b));
}
GTS_HIDDEN int __wrap_fstat(int fd, struct stat *b) {
  return __fxstat64(GTS_STAT_VER, fd, reinterpret_cast<struct stat64 *>(b));
}

// libstdc++'s headers (GCC >= 11 on glibc >= 2.32) read glibc's
// __libc_single_threaded (GLIBC_2.32) to skip atomic reference counts. Zero
// means "may be multi-threaded": always the atomic path, correct everywhere
// (and Node is multi-threaded anyway).
GTS_HIDDEN char __wrap___libc_single_threaded = 0;

// std::_Sp_make_shared_tag::_S_eq (GLIBCXX_3.4.26, GCC 9): named by the
// vtable of make_shared's control block when the addon is built without RTTI,
// and called only by std::get_deleter. The same comparison as libstdc++'s own
// (which is compiled with RTTI); this file is compiled with RTTI too.
GTS_HIDDEN bool __wrap__ZNSt19_Sp_make_shared_tag5_S_eqERKSt9type_info(const std::type_info &ti) noexcept {
  return ti == typeid(std::_Sp_make_shared_tag);
}

// std::__throw_bad_array_new_length (GLIBCXX_3.4.29, GCC 11): named by std::allocator<T>::allocate, which a
// std::vector of a new element type instantiates (the SNI entries), for a size that overflows. The same throw
// as libstdc++'s; std::bad_array_new_length itself is CXXABI_1.3.8.
[[noreturn]] GTS_HIDDEN void __wrap__ZSt28__throw_bad_array_new_lengthv() { throw std::bad_array_new_length(); }
}
