// libFuzzer target over the PROXY protocol preambles alone
// (native/src/proxy_protocol.cc). Byte 0 chooses: even = v1 line, odd = v2
// header (bit 1: peer allowed). Invariants:
//  * v1: accepted lines name TCP4/TCP6 with addresses that parse back and
//    ports that read back, or UNKNOWN; an error always has a detail;
//  * v2: the result is within the input; every shorter prefix of an accepted
//    header asks for more bytes (never a different verdict); a refused peer is
//    ForbiddenProxyRequest; accepted TCP4/TCP6 addresses parse back.
// Built and run by scripts/fuzz.sh (FUZZ_TARGET=proxy).
#include <arpa/inet.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "proxy_protocol.h"

#define FUZZ_NAME "fuzz_proxy"
#include "fuzz_check.h"

namespace {

bool parses(int af, const std::string& s) {
  unsigned char tmp[16];
  return inet_pton(af, s.c_str(), tmp) == 1;
}

void check_addresses(const gts::ProxyInfo& p) {
  if (p.proto == "TCP4") {
    CHECK(parses(AF_INET, p.src_addr) && parses(AF_INET, p.dst_addr), "TCP4 address does not parse back");
  } else if (p.proto == "TCP6") {
    CHECK(parses(AF_INET6, p.src_addr) && parses(AF_INET6, p.dst_addr), "TCP6 address does not parse back");
  }
}

void v1(const char* line, size_t n) {
  // The parser hands over lines starting with "PROXY " and without CR or LF.
  std::string l = "PROXY ";
  for (size_t i = 0; i < n; i++) {
    if (line[i] != '\r' && line[i] != '\n') l.push_back(line[i]);
  }
  gts::ProxyInfo info;
  const char* detail = nullptr;
  if (gts::parse_proxy_v1(l.data(), l.size(), &info, &detail)) {
    CHECK(info.present, "accepted but not present");
    CHECK(info.proto == "TCP4" || info.proto == "TCP6" || info.proto == "UNKNOWN", "unexpected protocol");
    check_addresses(info);
    if (info.proto != "UNKNOWN") {
      // "PROXY TCPx SRC DST SRCPORT DSTPORT": the ports are the last two fields' values
      size_t sp2 = l.rfind(' '), sp1 = l.rfind(' ', sp2 - 1);
      CHECK(std::strtoul(l.c_str() + sp1 + 1, nullptr, 10) == info.src_port, "source port does not read back");
      CHECK(std::strtoul(l.c_str() + sp2 + 1, nullptr, 10) == info.dst_port, "destination port does not read back");
    }
  } else {
    CHECK(detail != nullptr && detail[0] != '\0', "an error without a detail");
    CHECK(!info.present, "rejected but filled");
  }
}

void v2(const char* buf, size_t n, bool allowed) {
  gts::ProxyInfo info;
  gts::Err err = gts::Err::kOk;
  const char* detail = nullptr;
  const int r = gts::parse_proxy_v2(buf, n, allowed, &info, &err, &detail);
  CHECK(r >= -2, "unknown result");
  if (r == -1) {
    CHECK(err == gts::Err::kInvalidProxyLine || err == gts::Err::kForbiddenProxyRequest, "unexpected error");
    CHECK(allowed || err == gts::Err::kForbiddenProxyRequest, "a refused peer got past the allow list");
    CHECK(detail != nullptr && detail[0] != '\0', "an error without a detail");
  }
  if (r > 0) {
    CHECK(allowed, "accepted from a refused peer");
    CHECK(static_cast<size_t>(r) <= n && r >= 16, "header length outside the input");
    CHECK(info.present, "accepted but not present");
    check_addresses(info);
    for (size_t k = 0; k < static_cast<size_t>(r); k++) {
      gts::ProxyInfo p;
      gts::Err e = gts::Err::kOk;
      const char* d = nullptr;
      CHECK(gts::parse_proxy_v2(buf, k, allowed, &p, &e, &d) == 0, "a prefix of an accepted header is not 'need more'");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const char* p = reinterpret_cast<const char*>(data + 1);
  if ((data[0] & 1) == 0) {
    v1(p, size - 1);
  } else {
    // the v2 signature is 12 fixed bytes: put it in front so the fuzzer reaches the rest
    static const unsigned char kSig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
    std::string b;
    if (data[0] & 4) b.assign(reinterpret_cast<const char*>(kSig), 12);
    b.append(p, size - 1);
    v2(b.data(), b.size(), (data[0] & 2) != 0);
  }
  return 0;
}
