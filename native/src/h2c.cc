#include "h2c.h"

#include <cstring>

#include "ascii.h"

namespace gts {

PrefaceMatch preface_match(const char* p, size_t n) {
  size_t k = n < kH2PrefaceLen ? n : kH2PrefaceLen;
  if (std::memcmp(p, kH2Preface, k) != 0) return PrefaceMatch::kMismatch;
  return k == kH2PrefaceLen ? PrefaceMatch::kMatch : PrefaceMatch::kNeedMore;
}

namespace {

int b64url(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

// A comma-separated token list (Connection, Upgrade) holds `tok`, case-insensitively.
bool list_has(Slice v, const char* tok) {
  const size_t tn = std::strlen(tok);
  size_t i = 0;
  while (i < v.n) {
    while (i < v.n && (v.p[i] == ',' || ascii::is_ows(v.p[i]))) i++;
    size_t s = i;
    while (i < v.n && v.p[i] != ',') i++;
    size_t e = i;
    while (e > s && ascii::is_ows(v.p[e - 1])) e--;
    if (e > s && ascii::ieq(v.p + s, e - s, tok, tn)) return true;
  }
  return false;
}

bool name_is(const HeaderField& f, const char* lit) { return ascii::ieq(f.name.p, f.name.n, lit, std::strlen(lit)); }

}  // namespace

bool decode_http2_settings(const char* p, size_t n, std::string* payload) {
  payload->clear();
  while (n > 0 && p[n - 1] == '=') n--;  // tolerated, not required
  if (n % 4 == 1) return false;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    int v = b64url(static_cast<unsigned char>(p[i]));
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      payload->push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if (payload->size() % 6 != 0) return false;
  const auto* b = reinterpret_cast<const unsigned char*>(payload->data());
  for (size_t i = 0; i < payload->size(); i += 6) {
    uint16_t id = static_cast<uint16_t>(b[i] << 8 | b[i + 1]);
    uint32_t val = static_cast<uint32_t>(b[i + 2]) << 24 | static_cast<uint32_t>(b[i + 3]) << 16 |
                   static_cast<uint32_t>(b[i + 4]) << 8 | b[i + 5];
    switch (id) {
      case 2:  // ENABLE_PUSH
        if (val > 1) return false;
        break;
      case 4:  // INITIAL_WINDOW_SIZE
        if (val > 0x7fffffffu) return false;
        break;
      case 5:  // MAX_FRAME_SIZE
        if (val < 16384 || val > 16777215) return false;
        break;
      default: break;  // unknown ids are ignored (RFC 9113 §6.5.2)
    }
  }
  return true;
}

bool h2c_upgrade_request(const RequestHead& h, Slice* settings) {
  if (h.version_major != 1 || h.version_minor != 1) return false;
  if (h.body == BodyKind::kChunked) return false;
  if (h.body == BodyKind::kLength && h.content_length > kH2cUpgradeBodyLimit) return false;
  bool upgrade = false, conn_upgrade = false, conn_settings = false;
  int n_settings = 0;
  for (const HeaderField& f : h.headers) {
    if (name_is(f, "upgrade")) {
      if (list_has(f.value, "h2c")) upgrade = true;
    } else if (name_is(f, "connection")) {
      if (list_has(f.value, "upgrade")) conn_upgrade = true;
      if (list_has(f.value, "http2-settings")) conn_settings = true;
    } else if (name_is(f, "http2-settings")) {
      n_settings++;
      *settings = f.value;
    }
  }
  return upgrade && conn_upgrade && conn_settings && n_settings == 1;
}

}  // namespace gts
