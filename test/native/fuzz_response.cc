// libFuzzer target over the pure C++ response-head builder (native/src/response.cc):
// arbitrary status and header strings, as the application passes them to
// start_response() (UTF-16 code units), with arbitrary request facts.
// Run with `FUZZ_TARGET=response npm run fuzz -- -max_total_time=N`.
//
// Input: byte 0 request facts, byte 1 status length (code units), byte 2 number
// of headers the caller claims, then code units: each byte is one unit, except
// 0xFE which takes the next two bytes as a unit above U+00FF.
//
// Invariants: on an error nothing is written; on success the head is a status
// line and header lines each ending in CRLF, then an empty line, and no CR, LF or
// NUL appears anywhere else (no response splitting); every header name is a
// token; the framing headers agree with the returned plan.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "response.h"

#define R_CHECK(cond)                                                                              \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      std::fprintf(stderr, "response invariant broken at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                                \
    }                                                                                              \
  } while (0)

namespace {
bool tchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  for (const char* s = "!#$%&'*+-.^_`|~"; *s; s++)
    if (c == static_cast<unsigned char>(*s)) return true;
  return false;
}
bool ieq_prefix(const std::string& line, const char* lit) {
  size_t n = std::char_traits<char>::length(lit);
  if (line.size() < n) return false;
  for (size_t i = 0; i < n; i++) {
    char x = line[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
    if (x != lit[i]) return false;
  }
  return true;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  gts::RequestFacts req;
  req.version_major = 1;
  req.version_minor = (data[0] & 1) ? 1 : 0;
  req.is_head = data[0] & 2;
  req.keep_alive = data[0] & 4;
  const bool want_close = data[0] & 8;
  const int64_t known_length = (data[0] & 16) ? static_cast<int64_t>(data[0] >> 5) * 1000 : -1;
  std::vector<char16_t> units;
  for (size_t i = 3; i < size; i++) {
    if (data[i] == 0xFE && i + 2 < size) {
      units.push_back(static_cast<char16_t>((data[i + 1] << 8) | data[i + 2]));
      i += 2;
    } else {
      units.push_back(static_cast<char16_t>(data[i]));
    }
  }
  size_t slen = data[1] < units.size() ? data[1] : units.size();
  const char16_t* status = units.data();
  const char16_t* hdrs = units.data() + slen;
  size_t hlen = units.size() - slen;
  uint32_t nhdrs = data[2];

  std::string out;
  gts::ResponsePlan plan;
  static const std::string date = "Thu, 01 Jan 2026 00:00:00 GMT";
  gts::HeadError e = gts::build_head(out, req, status, slen, hdrs, hlen, nhdrs, known_length, want_close, date, &plan);
  if (e != gts::HeadError::kOk) {
    R_CHECK(out.empty());
    return 0;
  }
  // Split into lines: every CR is followed by LF, every LF preceded by CR, no NUL.
  R_CHECK(out.size() >= 4 && out.compare(out.size() - 4, 4, "\r\n\r\n") == 0);
  std::vector<std::string> lines;
  size_t s = 0;
  for (size_t i = 0; i < out.size(); i++) {
    unsigned char c = static_cast<unsigned char>(out[i]);
    R_CHECK(c != 0);
    if (c == '\r') {
      R_CHECK(i + 1 < out.size() && out[i + 1] == '\n');
      lines.push_back(out.substr(s, i - s));
      s = i + 2;
      i++;
    } else {
      R_CHECK(c != '\n');
    }
  }
  R_CHECK(lines.size() >= 2 && lines.back().empty());
  lines.pop_back();
  const std::string& sl = lines[0];
  R_CHECK(sl.compare(0, 7, "HTTP/1.") == 0 && sl.size() >= 13 && sl[8] == ' ' && sl[12] == ' ');
  R_CHECK(plan.status == std::atoi(sl.substr(9, 3).c_str()));
  int n_te = 0, n_conn = 0;
  std::string cl;
  for (size_t k = 1; k < lines.size(); k++) {
    const std::string& l = lines[k];
    size_t colon = l.find(':');
    R_CHECK(colon != std::string::npos && colon > 0);
    for (size_t j = 0; j < colon; j++) R_CHECK(tchar(static_cast<unsigned char>(l[j])));
    R_CHECK(l.size() > colon + 1 && l[colon + 1] == ' ');
    if (ieq_prefix(l, "transfer-encoding:")) n_te++;
    if (ieq_prefix(l, "connection:")) n_conn++;
    if (ieq_prefix(l, "content-length:")) {
      std::string v = l.substr(colon + 2);
      R_CHECK(cl.empty() || cl == v);  // duplicates only when identical
      cl = v;
    }
  }
  R_CHECK(n_conn == 1);
  R_CHECK(n_te == (plan.framing == gts::Framing::kChunked ? 1 : 0));
  if (plan.framing == gts::Framing::kChunked) R_CHECK(req.version_minor == 1 && !req.is_head && cl.empty());
  if (plan.framing == gts::Framing::kLength)
    R_CHECK(!cl.empty() &&
            std::to_string(plan.length) ==
                cl.substr(cl.find_first_not_of('0') == std::string::npos ? cl.size() - 1 : cl.find_first_not_of('0')));
  if (plan.framing == gts::Framing::kClose) R_CHECK(!plan.keep_alive);
  if (want_close || !req.keep_alive) R_CHECK(!plan.keep_alive);
  R_CHECK(plan.send_body == (plan.framing != gts::Framing::kNone));
  return 0;
}
