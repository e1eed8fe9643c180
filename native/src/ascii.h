// ASCII character classes and case helpers shared by the parser, the response
// writer and the environ packer. Templates over the character type: the
// response side validates UTF-16 code units (char16_t) as JS strings hold them,
// and nothing above 0x7f is ever a letter, digit or token character here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace gts {
namespace ascii {

// RFC 9110 §5.6.2 tchar.
struct TcharTable {
  bool t[256] = {};
  constexpr TcharTable() {
    for (int c = '0'; c <= '9'; c++) t[c] = true;
    for (int c = 'a'; c <= 'z'; c++) t[c] = true;
    for (int c = 'A'; c <= 'Z'; c++) t[c] = true;
    const char* specials = "!#$%&'*+-.^_`|~";
    for (const char* s = specials; *s; s++) t[static_cast<unsigned char>(*s)] = true;
  }
};
inline constexpr TcharTable kTchar{};

template <typename C>
inline bool is_tchar(C c) {
  const auto u = static_cast<std::make_unsigned_t<C>>(c);
  return u < 0x80 && kTchar.t[u];
}

// RFC 9110 §5.5: field-value bytes are VCHAR, obs-text, SP and HTAB; every
// other control byte (NUL, bare CR/LF, BEL, DEL, ...) is a CTL here.
inline bool is_ctl(unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; }
inline bool is_ows(char c) { return c == ' ' || c == '\t'; }

// Value of a hex digit, or -1.
template <typename C>
inline int hexval(C ch) {
  const auto c = static_cast<std::make_unsigned_t<C>>(ch);
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

template <typename C>
inline C upper(C c) {
  return (c >= 'a' && c <= 'z') ? static_cast<C>(c - 32) : c;
}
template <typename C>
inline C lower(C c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<C>(c + 32) : c;
}

// p[0..n) equals the literal `lit` ignoring ASCII case; `lit` is written in
// lower case (ieq_lower) or upper case (ieq_upper).
template <typename C>
inline bool ieq_lower(const C* p, size_t n, const char* lit) {
  if (n != std::strlen(lit)) return false;
  for (size_t i = 0; i < n; i++) {
    if (lower(p[i]) != static_cast<C>(static_cast<unsigned char>(lit[i]))) return false;
  }
  return true;
}
template <typename C>
inline bool ieq_upper(const C* p, size_t n, const char* lit) {
  if (n != std::strlen(lit)) return false;
  for (size_t i = 0; i < n; i++) {
    if (upper(p[i]) != static_cast<C>(static_cast<unsigned char>(lit[i]))) return false;
  }
  return true;
}
// Two byte strings equal ignoring ASCII case.
inline bool ieq(const char* a, size_t n, const char* b, size_t m) {
  if (n != m) return false;
  for (size_t i = 0; i < n; i++) {
    if (upper(a[i]) != upper(b[i])) return false;
  }
  return true;
}

}  // namespace ascii
}  // namespace gts
