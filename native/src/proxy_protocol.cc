#include "proxy_protocol.h"

#include <arpa/inet.h>

#include <cstring>

namespace gts {
namespace {
bool parse_port(const char* s, size_t n, uint16_t* out) {
  if (n == 0 || n > 5) return false;
  uint32_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + static_cast<uint32_t>(s[i] - '0');
  }
  if (v > 65535) return false;
  *out = static_cast<uint16_t>(v);
  return true;
}
bool valid_ip(int af, const std::string& s) {
  unsigned char tmp[16];
  return inet_pton(af, s.c_str(), tmp) == 1;
}
}  // namespace

bool parse_proxy_v1(const char* line, size_t n, ProxyInfo* out, const char** detail) {
  // PROXY protocol v1: "PROXY TCP4|TCP6 SRC DST SRCPORT DSTPORT" or "PROXY UNKNOWN ...".
  if (n > 107) {
    *detail = "PROXY line too long";
    return false;
  }
  std::string parts[7];
  size_t np = 0, i = 0;
  while (i < n && np < 7) {
    size_t j = i;
    while (j < n && line[j] != ' ') j++;
    if (j == i) {
      *detail = "malformed PROXY line";
      return false;
    }
    parts[np++].assign(line + i, j - i);
    i = j + 1;
    if (j == n) break;
  }
  if (i < n || np < 2) {
    *detail = "malformed PROXY line";
    return false;
  }
  if (parts[1] == "UNKNOWN") {
    *out = ProxyInfo();
    out->present = true;
    out->proto = "UNKNOWN";
    return true;
  }
  if (np != 6) {
    *detail = "malformed PROXY line";
    return false;
  }
  int af = 0;
  if (parts[1] == "TCP4") af = AF_INET;
  else if (parts[1] == "TCP6") af = AF_INET6;
  else {
    *detail = "unsupported PROXY protocol";
    return false;
  }
  if (!valid_ip(af, parts[2]) || !valid_ip(af, parts[3])) {
    *detail = "invalid PROXY address";
    return false;
  }
  uint16_t sp, dp;
  if (!parse_port(parts[4].data(), parts[4].size(), &sp) || !parse_port(parts[5].data(), parts[5].size(), &dp)) {
    *detail = "invalid PROXY port";
    return false;
  }
  *out = ProxyInfo();
  out->present = true;
  out->proto = parts[1];
  out->src_addr = parts[2];
  out->dst_addr = parts[3];
  out->src_port = sp;
  out->dst_port = dp;
  return true;
}

int parse_proxy_v2(const char* buf, size_t len, bool allowed, ProxyInfo* out, Err* err, const char** detail) {
  static const unsigned char kSig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
  size_t cmp = len < 12 ? len : 12;
  // The PROXY header is optional in every mode (Gunicorn): no signature, plain HTTP.
  if (std::memcmp(buf, kSig, cmp) != 0) return -2;
  if (len < 16) return 0;
  if (!allowed) {
    *err = Err::kForbiddenProxyRequest;
    *detail = "PROXY header from a peer not in proxy_allow_ips";
    return -1;
  }
  const unsigned char* b = reinterpret_cast<const unsigned char*>(buf);
  unsigned ver = b[12] >> 4, cmd = b[12] & 0x0f, fam = b[13] >> 4, proto = b[13] & 0x0f;
  size_t alen = (static_cast<size_t>(b[14]) << 8) | b[15];
  if (ver != 2 || cmd > 1) {
    *err = Err::kInvalidProxyLine;
    *detail = "bad PROXY v2 version/command";
    return -1;
  }
  if (len < 16 + alen) return 0;
  *out = ProxyInfo();
  out->present = true;
  if (cmd == 0) {  // LOCAL: a health check from the proxy itself; keep the real peer
    out->proto = "LOCAL";
    return static_cast<int>(16 + alen);
  }
  if (proto != 1) {
    *err = Err::kInvalidProxyLine;
    *detail = "PROXY v2: only TCP is supported";
    return -1;
  }
  char tmp[INET6_ADDRSTRLEN];
  if (fam == 1) {  // AF_INET
    if (alen < 12) {
      *err = Err::kInvalidProxyLine;
      *detail = "short PROXY v2 address block";
      return -1;
    }
    out->proto = "TCP4";
    inet_ntop(AF_INET, b + 16, tmp, sizeof tmp);
    out->src_addr = tmp;
    inet_ntop(AF_INET, b + 20, tmp, sizeof tmp);
    out->dst_addr = tmp;
    out->src_port = static_cast<uint16_t>((b[24] << 8) | b[25]);
    out->dst_port = static_cast<uint16_t>((b[26] << 8) | b[27]);
  } else if (fam == 2) {  // AF_INET6
    if (alen < 36) {
      *err = Err::kInvalidProxyLine;
      *detail = "short PROXY v2 address block";
      return -1;
    }
    out->proto = "TCP6";
    inet_ntop(AF_INET6, b + 16, tmp, sizeof tmp);
    out->src_addr = tmp;
    inet_ntop(AF_INET6, b + 32, tmp, sizeof tmp);
    out->dst_addr = tmp;
    out->src_port = static_cast<uint16_t>((b[48] << 8) | b[49]);
    out->dst_port = static_cast<uint16_t>((b[50] << 8) | b[51]);
  } else if (fam == 0) {
    out->proto = "UNSPEC";
  } else {
    *err = Err::kInvalidProxyLine;
    *detail = "PROXY v2: unsupported address family";
    return -1;
  }
  return static_cast<int>(16 + alen);
}

}  // namespace gts
