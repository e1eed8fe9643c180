#include "ws_handshake.h"

#include <openssl/evp.h>

#include <cstring>

#include "ascii.h"

namespace gts {
namespace {

bool name_is(const Slice& s, const char* lit) { return ascii::ieq(s.p, s.n, lit, std::strlen(lit)); }

inline bool is_space(char c) { return c == ' ' || c == '\t'; }

// Whether a comma-separated list holds `token` (case-insensitive), as RFC 9110 §5.6.1 lists go.
bool list_has(const char* p, size_t n, const char* token) {
  size_t tl = std::strlen(token), i = 0;
  while (i < n) {
    while (i < n && (is_space(p[i]) || p[i] == ',')) i++;
    size_t s = i;
    while (i < n && p[i] != ',') i++;
    size_t e = i;
    while (e > s && is_space(p[e - 1])) e--;
    if (ascii::ieq(p + s, e - s, token, tl)) return true;
  }
  return false;
}

bool b64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

}  // namespace

WsHandshakeResult ws_check_handshake(const RequestHead& h, WsHandshake* hs) {
  bool wants = false;
  for (const HeaderField& f : h.headers) {
    if (name_is(f.name, "upgrade") && list_has(f.value.p, f.value.n, "websocket")) wants = true;
  }
  if (!wants) return WsHandshakeResult::kNotWebSocket;
  // Rules 1, 4: GET, HTTP/1.1 or later, no body, Connection: upgrade (h.upgrade has llhttp's token check)
  if (!h.upgrade || !ascii::ieq(h.method.p, h.method.n, "GET", 3) || h.body != BodyKind::kNone || h.version_major < 1 ||
      (h.version_major == 1 && h.version_minor < 1)) {
    return WsHandshakeResult::kBad;
  }
  int keys = 0, versions = 0;
  bool host = false, v13 = false;
  hs->protocols.clear();
  hs->extensions.clear();
  for (const HeaderField& f : h.headers) {
    if (name_is(f.name, "host")) {
      host = true;
    } else if (name_is(f.name, "sec-websocket-key")) {
      keys++;
      if (f.value.n != 24 || f.value.p[22] != '=' || f.value.p[23] != '=') return WsHandshakeResult::kBad;
      for (int i = 0; i < 22; i++) {
        if (!b64_char(f.value.p[i])) return WsHandshakeResult::kBad;
      }
      std::memcpy(hs->key, f.value.p, 24);
    } else if (name_is(f.name, "sec-websocket-version")) {
      versions++;
      v13 = f.value.n == 2 && f.value.p[0] == '1' && f.value.p[1] == '3';
    } else if (name_is(f.name, "sec-websocket-protocol")) {
      if (!hs->protocols.empty()) hs->protocols.push_back(',');
      hs->protocols.append(f.value.p, f.value.n);
    } else if (name_is(f.name, "sec-websocket-extensions")) {
      if (!hs->extensions.empty()) hs->extensions.push_back(',');
      hs->extensions.append(f.value.p, f.value.n);
    }
  }
  if (!host || keys != 1) return WsHandshakeResult::kBad;
  if (versions != 1 || !v13) return WsHandshakeResult::kBadVersion;
  return WsHandshakeResult::kValid;
}

bool ws_accept_key(const char* key, size_t n, char out[29]) {
  static const char kGuid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  char buf[64 + sizeof kGuid];
  if (n > 64) return false;
  std::memcpy(buf, key, n);
  std::memcpy(buf + n, kGuid, sizeof kGuid - 1);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  if (EVP_Digest(buf, n + sizeof kGuid - 1, md, &mdlen, EVP_sha1(), nullptr) != 1 || mdlen != 20) return false;
  return EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out), md, 20) == 28;
}

bool ws_protocol_offered(const std::string& offered, const char* proto, size_t n) {
  size_t i = 0, len = offered.size();
  const char* p = offered.data();
  while (i < len) {
    while (i < len && (is_space(p[i]) || p[i] == ',')) i++;
    size_t s = i;
    while (i < len && p[i] != ',') i++;
    size_t e = i;
    while (e > s && is_space(p[e - 1])) e--;
    if (e - s == n && n > 0 && std::memcmp(p + s, proto, n) == 0) return true;
  }
  return false;
}

void ws_build_101(std::string& out, const WsHandshake& hs, const char* proto, size_t proto_len, const char* extra,
                  size_t extra_len) {
  char accept[29];
  ws_accept_key(hs.key, 24, accept);
  static const char kHead[] =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ";
  out.append(kHead, sizeof kHead - 1);
  out.append(accept, 28);
  out.append("\r\n", 2);
  if (proto_len > 0) {
    out.append("Sec-WebSocket-Protocol: ", 24);
    out.append(proto, proto_len);
    out.append("\r\n", 2);
  }
  out.append(extra, extra_len);
  out.append("\r\n", 2);
}

}  // namespace gts
