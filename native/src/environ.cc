#include "environ.h"

#include <cstring>

#include "ascii.h"

namespace gts {
namespace {

// Common request headers: their environ keys cross as an index into a table
// JS holds as internalised strings, so building environ hashes no key text.
const char* const kKnownHeaders[] = {"HOST",
                                     "USER-AGENT",
                                     "ACCEPT",
                                     "ACCEPT-ENCODING",
                                     "ACCEPT-LANGUAGE",
                                     "ACCEPT-CHARSET",
                                     "CONNECTION",
                                     "CACHE-CONTROL",
                                     "COOKIE",
                                     "REFERER",
                                     "ORIGIN",
                                     "AUTHORIZATION",
                                     "IF-NONE-MATCH",
                                     "IF-MODIFIED-SINCE",
                                     "UPGRADE-INSECURE-REQUESTS",
                                     "X-FORWARDED-FOR",
                                     "X-FORWARDED-PROTO",
                                     "X-FORWARDED-HOST",
                                     "X-REAL-IP",
                                     "X-REQUEST-ID",
                                     "PRAGMA",
                                     "DNT",
                                     "TE",
                                     "UPGRADE",
                                     "RANGE",
                                     "EXPECT",
                                     "X-REQUESTED-WITH",
                                     "SEC-FETCH-SITE",
                                     "SEC-FETCH-MODE",
                                     "SEC-FETCH-DEST",
                                     "SEC-FETCH-USER",
                                     "SEC-CH-UA",
                                     "SEC-CH-UA-MOBILE",
                                     "SEC-CH-UA-PLATFORM",
                                     "CONTENT-ENCODING",
                                     "TRANSFER-ENCODING",
                                     "VIA",
                                     "FORWARDED",
                                     "CONTENT-TYPE",
                                     "CONTENT-LENGTH"};
constexpr uint32_t kKnownCount = sizeof(kKnownHeaders) / sizeof(kKnownHeaders[0]);

// Appends HTTP_ + the header name upper-cased with '-' as '_' (PEP 3333 / CGI).
void append_http_key(std::string& out, const char* name, size_t n) {
  out.append("HTTP_");
  for (size_t i = 0; i < n; i++) out.push_back(name[i] == '-' ? '_' : ascii::upper(name[i]));
}

// environ key of a known header name: CONTENT_TYPE and CONTENT_LENGTH bare,
// everything else through append_http_key().
std::string env_key(const char* upper_name) {
  if (std::strcmp(upper_name, "CONTENT-TYPE") == 0) return "CONTENT_TYPE";
  if (std::strcmp(upper_name, "CONTENT-LENGTH") == 0) return "CONTENT_LENGTH";
  std::string k;
  append_http_key(k, upper_name, std::strlen(upper_name));
  return k;
}

inline uint32_t fnv1a(const char* p, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ static_cast<unsigned char>(p[i])) * 16777619u;
  return h;
}

constexpr size_t kSeenWords = 16;  // 1024-bit filter of environ-key hashes per request

// kKnownHeaders bucketed by name length, each bucket a list of indices; and
// the hash of each one's environ key ("HTTP_" + name with '-' as '_').
struct KnownByLength {
  static constexpr size_t kMax = 26;
  uint8_t idx[kMax][kKnownCount];
  uint8_t count[kMax] = {};
  uint32_t env_hash[kKnownCount];
  KnownByLength() {
    for (uint32_t i = 0; i < kKnownCount; i++) {
      size_t n = std::strlen(kKnownHeaders[i]);
      idx[n][count[n]++] = static_cast<uint8_t>(i);
      std::string key = env_key(kKnownHeaders[i]);
      env_hash[i] = fnv1a(key.data(), key.size());
    }
  }
};
const KnownByLength kKnownByLength;

// Index of a header name in kKnownHeaders, or -1: only names of the same
// length are compared, first byte first.
int known_header(const Slice& s) {
  if (s.n < 2 || s.n >= KnownByLength::kMax) return -1;
  const uint8_t* b = kKnownByLength.idx[s.n];
  const char first = ascii::upper(s.p[0]);
  for (uint32_t j = 0, m = kKnownByLength.count[s.n]; j < m; j++) {
    const char* k = kKnownHeaders[b[j]];
    if (k[0] != first) continue;
    size_t i = 1;
    while (i < s.n && ascii::upper(s.p[i]) == k[i]) i++;
    if (i == s.n) return b[j];
  }
  return -1;
}

}  // namespace

uint32_t known_header_count() { return kKnownCount; }
std::string known_header_key(uint32_t i) { return i < kKnownCount ? env_key(kKnownHeaders[i]) : std::string(); }

void pack_environ(const RequestHead& h, const PeerFacts& peer, bool body_follows, std::string& blob, uint32_t* meta) {
  std::string& b = blob;
  b.clear();
  uint32_t* m = meta;
  b.append(h.method.p, h.method.n);
  m[kMetaMethodEnd] = static_cast<uint32_t>(b.size());
  b.append(h.target.p, h.target.n);
  m[kMetaTargetEnd] = static_cast<uint32_t>(b.size());
  // PATH_INFO: percent-decoded to bytes, one latin-1 char per byte (PEP 3333).
  const char* p = h.path.p;
  for (uint32_t i = 0; i < h.path.n; i++) {
    int hi, lo;
    if (p[i] == '%' && i + 2 < h.path.n && (hi = ascii::hexval(p[i + 1])) >= 0 && (lo = ascii::hexval(p[i + 2])) >= 0) {
      b.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      b.push_back(p[i]);
    }
  }
  m[kMetaPathEnd] = static_cast<uint32_t>(b.size());
  b.append(h.query.p, h.query.n);
  m[kMetaQueryEnd] = static_cast<uint32_t>(b.size());
  b.append(peer.remote_addr);
  m[kMetaRemoteEnd] = static_cast<uint32_t>(b.size());
  if (!peer.is_unix) {
    char digits[8];
    char* d = digits + sizeof digits;
    unsigned port = peer.remote_port;
    do {
      *--d = static_cast<char>('0' + port % 10);
      port /= 10;
    } while (port != 0);
    b.append(d, static_cast<size_t>(digits + sizeof digits - d));
  }
  m[kMetaRemotePort] = static_cast<uint32_t>(b.size());  // end of REMOTE_PORT text
  uint32_t flags = h.version_major | (static_cast<uint32_t>(h.version_minor) << 4) |
                   (static_cast<uint32_t>(peer.listener_index) << 24);
  if (h.keep_alive) flags |= kFlagKeepAlive;
  if (body_follows) flags |= kFlagBodyFollows;
  if (h.body == BodyKind::kChunked) flags |= kFlagChunked;
  if (h.expect_continue) flags |= kFlagExpectContinue;
  if (peer.trusted) flags |= kFlagTrusted;
  if (peer.is_unix) flags |= kFlagUnix;
  if (h.is_head) flags |= kFlagHead;
  if (h.upgrade) flags |= kFlagUpgrade;
  if (h.http2) flags |= kFlagHttp2;
  if (h.websocket) flags |= kFlagWebSocket;
  if (h.body == BodyKind::kLength) {
    flags |= kFlagHasLength;
    m[kMetaContentLengthLo] = static_cast<uint32_t>(h.content_length & 0xffffffffu);
    m[kMetaContentLengthHi] = static_cast<uint32_t>(h.content_length >> 32);
  }
  const ProxyInfo* px = peer.proxy;
  if (px != nullptr) {
    flags |= kFlagProxy;
    b.append(px->proto);
    m[kMetaProxyProtoEnd] = static_cast<uint32_t>(b.size());
    b.append(px->src_addr);
    m[kMetaProxySrcEnd] = static_cast<uint32_t>(b.size());
    b.append(px->dst_addr);
    m[kMetaProxyDstEnd] = static_cast<uint32_t>(b.size());
    m[kMetaProxySrcPort] = px->src_port;
    m[kMetaProxyDstPort] = px->dst_port;
  }
  uint32_t k = kMetaHeaders;
  uint64_t seen[kSeenWords] = {};
  for (const HeaderField& f : h.headers) {
    // environ key: an index into the known names' keys (env_key()), or written into the blob
    int known = known_header(f.name);
    uint32_t key_hash;
    if (known >= 0) {
      m[k++] = kKnownFlag | static_cast<uint32_t>(known);
      key_hash = kKnownByLength.env_hash[known];
    } else {
      const size_t key_start = b.size();
      if (ascii::ieq_upper(f.name.p, f.name.n, "SCRIPT_NAME")) flags |= kFlagScriptName;
      append_http_key(b, f.name.p, f.name.n);
      m[k++] = static_cast<uint32_t>(b.size());
      key_hash = fnv1a(b.data() + key_start, b.size() - key_start);
    }
    b.append(f.value.p, f.value.n);
    // A set bit in a small filter of environ-key hashes marks a key that may
    // repeat an earlier one in this request: only then does JS look up the
    // earlier value to join (a miss is certain, a hit only possible).
    const uint32_t bit = key_hash & (kSeenWords * 64 - 1);
    const bool maybe_repeat = (seen[bit >> 6] >> (bit & 63)) & 1;
    seen[bit >> 6] |= uint64_t{1} << (bit & 63);
    m[k++] = static_cast<uint32_t>(b.size()) | (maybe_repeat ? kMaybeRepeat : 0);
  }
  m[kMetaCount] = static_cast<uint32_t>(h.headers.size());
  m[kMetaFlags] = flags;
}

}  // namespace gts
