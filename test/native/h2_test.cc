// Unit tests of the pure C++ HTTP/2 pieces (no nghttp2): the client preface,
// HTTP2-Settings decoding, the h2c upgrade checks (h2c.h), the request head
// builder and the response fields (h2_head.h). Built and run by
// test/native-h2.test.mjs; prints one "ok"/"not ok" line per check.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "h2_head.h"
#include "h2c.h"
#include "unit.h"

using namespace gts;

static std::string s(Slice x) { return std::string(x.p, x.n); }

static ParserConfig parser_config() {
  ParserConfig pc;
  pc.limit_request_fields = 100;
  pc.limit_request_field_size = 8190;
  pc.header_map = HeaderMap::kDrop;
  pc.forwarder_headers = {"SCRIPT_NAME"};
  return pc;
}

static void add(H2HeadBuilder& b, const char* n, const char* v, const H2HeadLimits& lim) {
  b.add(n, std::strlen(n), v, std::strlen(v), lim);
}

static const HeaderField* find(const RequestHead& h, const char* name) {
  for (const HeaderField& f : h.headers)
    if (s(f.name) == name) return &f;
  return nullptr;
}

static void preface() {
  CHECK(preface_match(kH2Preface, kH2PrefaceLen) == PrefaceMatch::kMatch);
  CHECK(preface_match(kH2Preface, 5) == PrefaceMatch::kNeedMore);
  CHECK(preface_match("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nextra", 29) == PrefaceMatch::kMatch);
  CHECK(preface_match("GET / HTTP/1.1\r\n", 16) == PrefaceMatch::kMismatch);
  CHECK(preface_match("PRX", 3) == PrefaceMatch::kMismatch);
  CHECK(preface_match("", 0) == PrefaceMatch::kNeedMore);
}

static void settings() {
  std::string out;
  // MAX_CONCURRENT_STREAMS=100, INITIAL_WINDOW_SIZE=65535: 00 03 00 00 00 64 00 04 00 00 ff ff
  CHECK(decode_http2_settings("AAMAAABkAAQAAP__", 16, &out));
  CHECK(out.size() == 12);
  CHECK(static_cast<unsigned char>(out[5]) == 100);
  CHECK(decode_http2_settings("", 0, &out) && out.empty());                          // an empty SETTINGS is valid
  CHECK(!decode_http2_settings("AAMAAABk!AQAAP__", 16, &out));                       // not base64url
  CHECK(!decode_http2_settings("AAMAAABkAAQAAP+/", 16, &out));                       // base64, not base64url
  CHECK(!decode_http2_settings("AAMAAA", 6, &out));                                  // 4 bytes: not a multiple of 6
  CHECK(!decode_http2_settings("AAIAAAAC", 8, &out));                                // ENABLE_PUSH = 2
  CHECK(decode_http2_settings("AAUAAEAA", 8, &out) && out.size() == 6);              // ...so this decodes
  CHECK(!decode_http2_settings("AAUAAD__", 8, &out));                                // MAX_FRAME_SIZE 16383
  CHECK(decode_http2_settings("AP8AAAAB", 8, &out) && out.size() == 6);              // unknown id: ignored
  CHECK(!decode_http2_settings("AASAAAAA", 8, &out));                                // INITIAL_WINDOW_SIZE 2^31
  CHECK(decode_http2_settings("AAMAAABkAAQAAP__==", 18, &out) && out.size() == 12);  // padding tolerated
}

static RequestHead upgrade_head(std::vector<std::pair<std::string, std::string>>& hdrs) {
  RequestHead h;
  h.version_major = 1;
  h.version_minor = 1;
  for (auto& kv : hdrs) {
    h.headers.push_back(HeaderField{Slice{kv.first.data(), static_cast<uint32_t>(kv.first.size())},
                                    Slice{kv.second.data(), static_cast<uint32_t>(kv.second.size())}});
  }
  return h;
}

static void upgrade() {
  std::vector<std::pair<std::string, std::string>> ok = {
      {"Host", "x"}, {"Connection", "Upgrade, HTTP2-Settings"}, {"Upgrade", "h2c"}, {"HTTP2-Settings", "AAMAAABk"}};
  RequestHead h = upgrade_head(ok);
  Slice st;
  CHECK(h2c_upgrade_request(h, &st) && s(st) == "AAMAAABk");
  h.version_minor = 0;
  CHECK(!h2c_upgrade_request(h, &st));  // HTTP/1.0
  h.version_minor = 1;
  h.body = BodyKind::kLength;
  h.content_length = kH2cUpgradeBodyLimit + 1;
  CHECK(!h2c_upgrade_request(h, &st));  // body too large
  h.body = BodyKind::kChunked;
  CHECK(!h2c_upgrade_request(h, &st));  // chunked body
  std::vector<std::pair<std::string, std::string>> no_conn = {
      {"Connection", "Upgrade"}, {"Upgrade", "h2c"}, {"HTTP2-Settings", "AAMAAABk"}};
  RequestHead h2 = upgrade_head(no_conn);
  CHECK(!h2c_upgrade_request(h2, &st));  // HTTP2-Settings not named in Connection
  std::vector<std::pair<std::string, std::string>> two = {{"Connection", "upgrade, http2-settings"},
                                                          {"Upgrade", "websocket, h2c"},
                                                          {"HTTP2-Settings", "AAMAAABk"},
                                                          {"HTTP2-Settings", "AAMAAABk"}};
  RequestHead h3 = upgrade_head(two);
  CHECK(!h2c_upgrade_request(h3, &st));  // two HTTP2-Settings fields
  two.pop_back();
  RequestHead h4 = upgrade_head(two);
  CHECK(h2c_upgrade_request(h4, &st));  // h2c in a token list, names in any case
  std::vector<std::pair<std::string, std::string>> ws = {
      {"Connection", "Upgrade, HTTP2-Settings"}, {"Upgrade", "websocket"}, {"HTTP2-Settings", "AAMAAABk"}};
  RequestHead h5 = upgrade_head(ws);
  CHECK(!h2c_upgrade_request(h5, &st));  // not h2c
}

static void head() {
  ParserConfig pc = parser_config();
  H2HeadLimits lim;
  lim.parser = &pc;
  lim.max_header_list = 65536;
  H2HeadBuilder b;
  RequestHead h;
  b.reset();
  add(b, ":method", "GET", lim);
  add(b, ":scheme", "https", lim);
  add(b, ":authority", "example.com:8443", lim);
  add(b, ":path", "/a%20b/c?x=1&y=2#frag", lim);
  add(b, "host", "other.example", lim);
  add(b, "cookie", "a=1", lim);
  add(b, "user-agent", "t", lim);
  add(b, "cookie", "b=2", lim);
  add(b, "cookie", "", lim);  // an empty crumb adds nothing
  add(b, "x_forwarded", "dropped", lim);
  CHECK(b.finish(&h));
  CHECK(s(h.method) == "GET");
  CHECK(s(h.target) == "/a%20b/c?x=1&y=2#frag");
  CHECK(s(h.path) == "/a%20b/c");
  CHECK(s(h.query) == "x=1&y=2");
  CHECK(h.version_major == 2 && h.version_minor == 0);
  CHECK(find(h, "host") != nullptr && s(find(h, "host")->value) == "example.com:8443");  // :authority wins
  int hosts = 0;
  for (const HeaderField& f : h.headers) hosts += s(f.name) == "host";
  CHECK(hosts == 1);
  CHECK(find(h, "cookie") != nullptr && s(find(h, "cookie")->value) == "a=1; b=2");  // RFC 9113 §8.2.3
  CHECK(find(h, "x_forwarded") == nullptr);                                          // header_map drop
  CHECK(h.keep_alive && !h.is_head && h.body == BodyKind::kNone);

  // HEAD, content-length, a trusted forwarder header
  b.reset();
  lim.trusted = true;
  add(b, ":method", "HEAD", lim);
  add(b, ":path", "/", lim);
  add(b, "content-length", "12", lim);
  add(b, "script_name", "/app", lim);
  CHECK(b.finish(&h));
  CHECK(h.is_head);
  CHECK(h.body == BodyKind::kLength && h.content_length == 12);
  CHECK(find(h, "script_name") != nullptr);
  CHECK(find(h, "host") == nullptr);
  lim.trusted = false;

  // header_map refuse: 400
  pc.header_map = HeaderMap::kRefuse;
  b.reset();
  add(b, ":method", "GET", lim);
  add(b, ":path", "/", lim);
  add(b, "x_y", "1", lim);
  CHECK(!b.finish(&h) && b.err() == Err::kInvalidHeaderName);
  pc.header_map = HeaderMap::kDrop;

  // HPACK bomb: the header list size counts name + value + 32 per field; the rest is only counted
  b.reset();
  lim.max_header_list = 4096;
  add(b, ":method", "GET", lim);
  add(b, ":path", "/", lim);
  std::string big(1000, 'v');
  for (int i = 0; i < 4000; i++) add(b, "x-bomb", big.c_str(), lim);
  CHECK(!b.finish(&h) && b.err() == Err::kLimitRequestHeaders);
  CHECK(b.memory() < 16384);  // not 4 MB: fields past the limit are not kept
  lim.max_header_list = 0;    // not advertised: the parser limits still apply
  b.reset();
  add(b, ":method", "GET", lim);
  add(b, ":path", "/", lim);
  for (int i = 0; i < 101; i++) add(b, "x-many", "1", lim);
  CHECK(!b.finish(&h) && b.err() == Err::kLimitRequestHeaders);  // limit_request_fields
  b.reset();
  add(b, ":method", "GET", lim);
  add(b, ":path", "/", lim);
  std::string huge(9000, 'v');
  add(b, "x-huge", huge.c_str(), lim);
  CHECK(!b.finish(&h) && b.err() == Err::kLimitRequestHeaders);  // limit_request_field_size
  b.reset();
  add(b, ":method", "GET", lim);
  CHECK(!b.finish(&h));  // no :path
  b.reset();
  add(b, ":method", "CONNECT", lim);
  add(b, ":authority", "example.com:443", lim);
  CHECK(b.finish(&h) && h.is_connect);
}

static void response() {
  AppHead app;
  app.status = 200;
  app.lines =
      "Content-Type: text/plain\r\nConnection: keep-alive\r\nX-Thing:  v \r\nTransfer-Encoding: chunked\r\n"
      "Content-Length: 5\r\nUpgrade: h2c\r\nKeep-Alive: 5\r\nProxy-Connection: x\r\nSet-Cookie: a=1\r\n";
  std::string text;
  std::vector<H2Field> f;
  h2_app_fields(app, &text, &f);
  auto name = [&](size_t i) { return text.substr(f[i].no, f[i].nl); };
  auto value = [&](size_t i) { return text.substr(f[i].vo, f[i].vl); };
  CHECK(f.size() == 3);
  CHECK(name(0) == "content-type" && value(0) == "text/plain");
  CHECK(name(1) == "x-thing" && value(1) == "v ");
  CHECK(name(2) == "set-cookie" && value(2) == "a=1");
}

int main() {
  preface();
  settings();
  upgrade();
  head();
  response();
  std::printf("%d checks, %d failed\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
