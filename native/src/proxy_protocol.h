// PROXY protocol preambles (HAProxy's proxy-protocol.txt): the v1 text line and
// the v2 binary header a load balancer sends before the first request. Pure
// functions, no state; the request parser decides when they may appear
// (proxy_protocol, proxy_allow_ips, first request only). Fuzzed on their own by
// test/native/fuzz_proxy.cc (FUZZ_TARGET=proxy).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "errors.h"

namespace gts {

struct ProxyInfo {
  bool present = false;
  std::string proto;  // "TCP4" / "TCP6" / "UNKNOWN" (v1); "TCP4" / "TCP6" / "UNSPEC" / "LOCAL" (v2)
  std::string src_addr, dst_addr;
  uint16_t src_port = 0, dst_port = 0;
};

// v1: `line` is the whole line without its CRLF, starting with "PROXY ":
// "PROXY TCP4|TCP6 SRC DST SRCPORT DSTPORT" or "PROXY UNKNOWN ...". True with
// *out filled, or false with *detail (the error is InvalidProxyLine).
bool parse_proxy_v1(const char* line, size_t n, ProxyInfo* out, const char** detail);

// v2, at the start of the stream: -2 no v2 signature (plain HTTP follows),
// 0 need more bytes, -1 error (*err, *detail), else the header's length with
// *out filled. `allowed`: the peer is in proxy_allow_ips (otherwise a complete
// signature is ForbiddenProxyRequest).
int parse_proxy_v2(const char* buf, size_t len, bool allowed, ProxyInfo* out, Err* err, const char** detail);

}  // namespace gts
