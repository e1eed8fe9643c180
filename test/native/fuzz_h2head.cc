// libFuzzer target over the HTTP/2 request head builder and the response fields
// (native/src/h2_head.cc), no nghttp2: the fields are what nghttp2's header
// callback would hand over, in any order and with any bytes (the builder must
// hold whatever comes).
//   byte 0: bits 0-1 header_map (drop, refuse, dangerous, drop), bit 2 the peer
//           is trusted (forwarder_headers SCRIPT_NAME, PATH_INFO), bits 3-4
//           http2_max_header_list_size (none, 256, 4096, 65536), bit 7: the
//           rest is an application's header lines for h2_app_fields();
//   byte 1: limit_request_fields (0: the default clamp), byte 2:
//           limit_request_field_size / 4 (0: the default);
//   then fields: a selector byte (< 0x80: a name from kNames, else a name of
//   the next byte's length) and a value of the next byte's length.
// Checked against a model written here from the builder's contract
// (h2_head.h): the verdict and error, :method / :path / :authority as
// method, target, Host, the path and query split of the target, cookie
// crumbs joined with "; " at the end, header_map and the forwarder headers,
// the field count, field size and header list size limits, content-length;
// once a limit is passed nothing more is kept (memory() stays put); a
// builder reused after reset() (here: after the previous input) and a head
// reused by finish() give the same result as fresh ones; every slice is read
// in full (ASan: no slice outlives its storage).
// h2_app_fields(): every field inside the text, names lower-cased, no
// connection-specific field or content-length, the same fields as a plain
// split of the lines.
// Built and run by scripts/fuzz.sh (FUZZ_TARGET=h2head).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "h2_head.h"

#define FUZZ_NAME "fuzz_h2head"
#include "fuzz_check.h"

namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

const char* const kNames[] = {
    ":method",      ":path",          ":authority",  ":scheme",   ":protocol",       ":status", ":",          "host",
    "cookie",       "content-length", "script_name", "path_info", "x_forwarded_for", "x-a",     "user-agent", "te",
    "content-type", "connection",     "Cookie",      "HOST"};
constexpr size_t kNNames = sizeof kNames / sizeof kNames[0];

std::string str(gts::Slice s) { return std::string(s.p == nullptr ? "" : s.p, s.n); }

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

struct Model {
  bool ok = false;
  gts::Err err = gts::Err::kOk;
  std::string method, target;
  Fields headers;
  int64_t content_length = -1;
};

// The builder's contract, field by field (h2_head.h, docs/design/http2.md §2).
Model model(const Fields& in, const gts::ParserConfig& pc, const gts::H2HeadLimits& lim) {
  Model m;
  uint64_t list = 0;
  uint32_t count = 0;
  bool has_method = false, has_path = false, has_authority = false;
  std::string authority;
  std::vector<std::string> cookies;
  Fields regular;
  auto fail = [&](gts::Err e) {
    if (m.err == gts::Err::kOk) m.err = e;
  };
  for (const auto& [n, v] : in) {
    list += n.size() + v.size() + 32;
    if (lim.max_header_list > 0 && list > lim.max_header_list) fail(gts::Err::kLimitRequestHeaders);
    if (m.err != gts::Err::kOk) continue;
    if (!n.empty() && n[0] == ':') {
      if (n == ":method") has_method = true, m.method = v;
      if (n == ":path") has_path = true, m.target = v;
      if (n == ":authority") has_authority = true, authority = v;
      continue;
    }
    if (++count > pc.fields_limit() || n.size() + v.size() + 4 > pc.field_size_limit()) {
      fail(gts::Err::kLimitRequestHeaders);
      continue;
    }
    if (n.find('_') != std::string::npos) {
      bool forwarder = false;
      for (const auto& f : pc.forwarder_headers) forwarder = forwarder || (lim.trusted && lower(f) == lower(n));
      if (!forwarder && pc.header_map == gts::HeaderMap::kRefuse) {
        fail(gts::Err::kInvalidHeaderName);
        continue;
      }
      if (!forwarder && pc.header_map == gts::HeaderMap::kDrop) continue;
    }
    if (n == "cookie") {
      cookies.push_back(v);
      continue;
    }
    if (n == "host" && has_authority) continue;
    if (n == "content-length" && !v.empty() && v.size() <= 18 &&
        v.find_first_not_of("0123456789") == std::string::npos) {
      m.content_length = static_cast<int64_t>(std::stoull(v));
    }
    regular.emplace_back(n, v);
  }
  if (m.err != gts::Err::kOk) return m;
  if (!has_method || (!has_path && m.method != "CONNECT")) {
    m.err = gts::Err::kInvalidRequestLine;
    return m;
  }
  if (!has_path) m.target.clear();
  m.ok = true;
  if (has_authority) m.headers.emplace_back("host", authority);
  for (const auto& f : regular) m.headers.push_back(f);
  // crumbs joined with "; " (RFC 9113 §8.2.3); empty crumbs are dropped (["", "a"] and ["a", ""] both give
  // "a"), and only empty crumbs give no cookie field
  std::string joined;
  for (const std::string& c : cookies) {
    if (!c.empty()) joined += (joined.empty() ? "" : "; ") + c;
  }
  if (!joined.empty()) m.headers.emplace_back("cookie", joined);
  return m;
}

// Adds every field; once the builder has failed, nothing more may be kept.
void feed(gts::H2HeadBuilder* b, const Fields& in, const gts::H2HeadLimits& lim) {
  for (const auto& [n, v] : in) {
    // exactly sized copies: nghttp2's buffers live only during its callback
    char* np = static_cast<char*>(std::malloc(n.size() + 1));
    char* vp = static_cast<char*>(std::malloc(v.size() + 1));
    std::memcpy(np, n.data(), n.size());
    std::memcpy(vp, v.data(), v.size());
    const bool failed = b->err() != gts::Err::kOk;
    const size_t before = b->memory();
    b->add(np, n.size(), vp, v.size(), lim);
    std::memset(np, 'X', n.size());  // the builder must have copied what it keeps
    std::memset(vp, 'X', v.size());
    std::free(np);
    std::free(vp);
    if (failed) CHECK(b->memory() == before, "a failed builder kept a field");
  }
}

void check_head(const gts::RequestHead& h, const Model& m) {
  CHECK(str(h.method) == m.method, "method");
  CHECK(str(h.target) == m.target, "target");
  const std::string t = str(h.target);
  const size_t cut = t.find_first_of("?#");
  CHECK(str(h.path) == t.substr(0, cut), "path is the target up to '?' or '#'");
  std::string q;
  if (cut != std::string::npos && t[cut] == '?') q = t.substr(cut + 1, t.find('#', cut) - cut - 1);
  CHECK(str(h.query) == q, "query is between '?' and '#'");
  if (h.path.n > 0) CHECK(h.path.p == h.target.p, "path is a slice of the target");
  if (h.query.n > 0) CHECK(h.query.p > h.target.p && h.query.p + h.query.n <= h.target.p + h.target.n, "query slice");
  CHECK(h.version_major == 2 && h.version_minor == 0, "version 2.0");
  CHECK(h.headers.size() == m.headers.size(), "header count");
  for (size_t i = 0; i < h.headers.size(); i++) {
    CHECK(str(h.headers[i].name) == m.headers[i].first, "header name");
    CHECK(str(h.headers[i].value) == m.headers[i].second, "header value");
  }
  CHECK(h.body == (m.content_length >= 0 ? gts::BodyKind::kLength : gts::BodyKind::kNone), "body kind");
  CHECK(h.content_length == static_cast<uint64_t>(m.content_length >= 0 ? m.content_length : 0), "content_length");
  CHECK(h.keep_alive && !h.must_close && !h.expect_continue && !h.upgrade, "HTTP/2 facts");
  CHECK(h.is_head == (m.method == "HEAD") && h.is_connect == (m.method == "CONNECT"), "is_head / is_connect");
}

gts::H2HeadBuilder reused;  // carries the previous input's state into this one's reset()
gts::RequestHead reused_head;

void head(const uint8_t* p, size_t n) {
  gts::ParserConfig pc;
  const uint8_t o = p[0];
  pc.header_map = static_cast<gts::HeaderMap>((o & 3) == 3 ? 0 : o & 3);
  pc.forwarder_headers = {"SCRIPT_NAME", "PATH_INFO"};
  pc.limit_request_fields = p[1];
  pc.limit_request_field_size = static_cast<uint32_t>(p[2]) * 4;
  gts::H2HeadLimits lim;
  lim.parser = &pc;
  lim.trusted = (o & 4) != 0;
  static const uint32_t kLists[] = {0, 256, 4096, 65536};
  lim.max_header_list = kLists[(o >> 3) & 3];
  Fields in;
  size_t i = 3;
  while (i < n) {
    std::string name;
    const uint8_t sel = p[i++];
    if (sel < 0x80) {
      name = kNames[sel % kNNames];
    } else {
      size_t k = i < n ? p[i++] : 0;
      if (k > n - i) k = n - i;
      name.assign(reinterpret_cast<const char*>(p + i), k);
      i += k;
    }
    size_t k = i < n ? p[i++] : 0;
    if (k > n - i) k = n - i;
    in.emplace_back(name, std::string(reinterpret_cast<const char*>(p + i), k));
    i += k;
  }
  const Model m = model(in, pc, lim);

  gts::H2HeadBuilder fresh;
  fresh.reset();
  feed(&fresh, in, lim);
  const int64_t cl = fresh.content_length();
  gts::RequestHead h;
  const bool ok = fresh.finish(&h);
  CHECK(ok == m.ok, "verdict differs from the model");
  CHECK(fresh.err() == m.err, "error differs from the model");
  if (ok) {
    CHECK(cl == m.content_length, "content_length() differs from the model");
    check_head(h, m);
  } else {
    CHECK(fresh.detail() != nullptr && fresh.detail()[0] != '\0', "an error has a detail");
  }

  reused.reset();
  feed(&reused, in, lim);
  CHECK(reused.finish(&reused_head) == ok && reused.err() == m.err, "a reused builder decides differently");
  if (ok) check_head(reused_head, m);
}

void app_fields(const uint8_t* p, size_t n) {
  gts::AppHead app;
  app.status = 200;
  app.lines.assign(reinterpret_cast<const char*>(p), n);
  std::string text = "stale";
  std::vector<gts::H2Field> f(3, gts::H2Field{7, 7, 7, 7});
  gts::h2_app_fields(app, &text, &f);
  // the model: "\r\n"-separated lines, the name before the first ':', the value after it less leading OWS
  Fields want;
  const std::string& l = app.lines;
  for (size_t i = 0; i < l.size();) {
    size_t eol = l.find("\r\n", i);
    if (eol == std::string::npos) eol = l.size();
    const std::string line = l.substr(i, eol - i);
    const size_t colon = line.find(':');
    if (colon != std::string::npos) {
      const std::string name = lower(line.substr(0, colon));
      size_t vs = colon + 1;
      while (vs < line.size() && (line[vs] == ' ' || line[vs] == '\t')) vs++;
      if (name != "connection" && name != "keep-alive" && name != "proxy-connection" && name != "transfer-encoding" &&
          name != "upgrade" && name != "content-length") {
        want.emplace_back(name, line.substr(vs));
      }
    }
    i = eol + 2;
  }
  CHECK(f.size() == want.size(), "h2_app_fields: field count");
  for (size_t i = 0; i < f.size(); i++) {
    CHECK(uint64_t{f[i].no} + f[i].nl <= text.size() && uint64_t{f[i].vo} + f[i].vl <= text.size(),
          "h2_app_fields: a field outside the text");
    CHECK(text.substr(f[i].no, f[i].nl) == want[i].first, "h2_app_fields: name");
    CHECK(text.substr(f[i].vo, f[i].vl) == want[i].second, "h2_app_fields: value");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  if (data[0] & 0x80) {
    app_fields(data + 1, size - 1);
    return 0;
  }
  if (size < 3) return 0;
  head(data, size);
  return 0;
}
