// Incremental UTF-8 validation for WebSocket text messages and close reasons
// (RFC 6455 §5.6, §8.1): a DFA over RFC 3629 §4's table of well-formed byte
// sequences, fed piece by piece as payload bytes arrive, failing at the first
// byte that no valid sequence can continue (Autobahn 6.4.x). Pure C++, header-only
// (unit-tested by test/native/ws_test.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace gts {

namespace utf8_dfa {

// Byte classes: 0 00-7F, 1 80-8F, 2 90-9F, 3 A0-BF, 4 C0-C1 and F5-FF (never valid),
// 5 C2-DF, 6 E0, 7 E1-EC and EE-EF, 8 ED, 9 F0, 10 F1-F3, 11 F4.
constexpr int kClasses = 12;
// States: what the next bytes must be.
enum State : uint8_t { kAccept, kReject, kNeed1, kNeed2, kNeed3, kAfterE0, kAfterED, kAfterF0, kAfterF4, kStates };

struct Tables {
  uint8_t cls[256];
  uint8_t next[kStates][kClasses];
};

constexpr Tables make_tables() {
  Tables t{};
  for (int b = 0; b < 256; b++) {
    uint8_t c = 4;
    if (b <= 0x7F) c = 0;
    else if (b <= 0x8F) c = 1;
    else if (b <= 0x9F) c = 2;
    else if (b <= 0xBF) c = 3;
    else if (b <= 0xC1) c = 4;
    else if (b <= 0xDF) c = 5;
    else if (b == 0xE0) c = 6;
    else if (b == 0xED) c = 8;
    else if (b <= 0xEF) c = 7;
    else if (b == 0xF0) c = 9;
    else if (b <= 0xF3) c = 10;
    else if (b == 0xF4) c = 11;
    t.cls[b] = c;
  }
  for (int s = 0; s < kStates; s++)
    for (int c = 0; c < kClasses; c++) t.next[s][c] = kReject;
  // A lead byte (or ASCII) after a complete sequence.
  t.next[kAccept][0] = kAccept;
  t.next[kAccept][5] = kNeed1;
  t.next[kAccept][6] = kAfterE0;
  t.next[kAccept][7] = kNeed2;
  t.next[kAccept][8] = kAfterED;
  t.next[kAccept][9] = kAfterF0;
  t.next[kAccept][10] = kNeed3;
  t.next[kAccept][11] = kAfterF4;
  // Continuation bytes 80-BF.
  for (int c = 1; c <= 3; c++) {
    t.next[kNeed1][c] = kAccept;
    t.next[kNeed2][c] = kNeed1;
    t.next[kNeed3][c] = kNeed2;
  }
  t.next[kAfterE0][3] = kNeed1;  // E0 A0-BF: no overlong 3-byte forms
  t.next[kAfterED][1] = kNeed1;  // ED 80-9F: no UTF-16 surrogates
  t.next[kAfterED][2] = kNeed1;
  t.next[kAfterF0][2] = kNeed2;  // F0 90-BF: no overlong 4-byte forms
  t.next[kAfterF0][3] = kNeed2;
  t.next[kAfterF4][1] = kNeed2;  // F4 80-8F: nothing above U+10FFFF
  return t;
}

inline constexpr Tables kTables = make_tables();

}  // namespace utf8_dfa

class Utf8Validator {
 public:
  // Feeds the next piece; false as soon as a byte makes the text invalid (and from then on).
  bool feed(const uint8_t* p, size_t n) {
    uint8_t s = state_;
    if (s == utf8_dfa::kReject) return false;
    const uint8_t* end = p + n;
    while (p < end) {
      if (s == utf8_dfa::kAccept) {
        // ASCII runs, 16 then 8 bytes at a time.
        while (end - p >= 16) {
          uint64_t a, b;
          std::memcpy(&a, p, 8);
          std::memcpy(&b, p + 8, 8);
          if ((a | b) & 0x8080808080808080ULL) break;
          p += 16;
        }
        while (end - p >= 8) {
          uint64_t a;
          std::memcpy(&a, p, 8);
          if (a & 0x8080808080808080ULL) break;
          p += 8;
        }
        while (p < end && *p < 0x80) p++;
        if (p == end) break;
      }
      s = utf8_dfa::kTables.next[s][utf8_dfa::kTables.cls[*p++]];
      if (s == utf8_dfa::kReject) {
        state_ = s;
        return false;
      }
    }
    state_ = s;
    return true;
  }
  // At the end of a message: every sequence complete.
  bool complete() const { return state_ == utf8_dfa::kAccept; }
  bool rejected() const { return state_ == utf8_dfa::kReject; }
  void reset() { state_ = utf8_dfa::kAccept; }

 private:
  uint8_t state_ = utf8_dfa::kAccept;
};

// A whole buffer (a close reason).
inline bool utf8_valid(const uint8_t* p, size_t n) {
  Utf8Validator v;
  return v.feed(p, n) && v.complete();
}

}  // namespace gts
