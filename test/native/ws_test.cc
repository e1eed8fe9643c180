// Unit tests of the pure C++ WebSocket pieces: the UTF-8 DFA (ws_utf8.h) against
// an independent reference written here from RFC 3629's ranges, the frame parser
// (ws_parser.h) under every split of its input, the unmask against a byte-wise
// reference and the frame header writer, permessage-deflate's negotiation (ws_negotiate()) and its
// inflater/deflater (ws_deflate.h) against zlib used directly. Built and run by test/native-ws.test.mjs;
// prints one "ok"/"not ok" line per check.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "unit.h"
#include "ws_deflate.h"
#include "ws_handshake.h"
#include "ws_parser.h"
#include "ws_utf8.h"

using namespace gts;

// ---- UTF-8 reference: decode by RFC 3629 §4's table ----
// Returns the length of the longest prefix of b[0..n) that is a viable start of a
// well-formed sequence list: n if the whole buffer is valid or a valid prefix; the
// offset of the first byte that cannot belong otherwise. *complete says whether the
// buffer ends on a code point boundary.
static size_t ref_viable(const uint8_t* b, size_t n, bool* complete) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = b[i];
    size_t len;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c <= 0x7F) {
      i++;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c == 0xE0) {
      len = 3, lo = 0xA0;
    } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
      len = 3;
    } else if (c == 0xED) {
      len = 3, hi = 0x9F;
    } else if (c == 0xF0) {
      len = 4, lo = 0x90;
    } else if (c >= 0xF1 && c <= 0xF3) {
      len = 4;
    } else if (c == 0xF4) {
      len = 4, hi = 0x8F;
    } else {
      *complete = false;
      return i;
    }
    for (size_t k = 1; k < len; k++) {
      if (i + k >= n) {
        *complete = false;
        return n;
      }
      uint8_t d = b[i + k];
      uint8_t l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
      if (d < l || d > h) {
        *complete = false;
        return i + k;
      }
    }
    i += len;
  }
  *complete = true;
  return n;
}

// The validator fed byte by byte fails exactly at the first non-viable byte.
static bool utf8_agrees(const uint8_t* b, size_t n) {
  bool complete;
  size_t bad = ref_viable(b, n, &complete);
  Utf8Validator v;
  for (size_t i = 0; i < n; i++) {
    bool ok = v.feed(b + i, 1);
    if (ok != (i < bad)) return false;
  }
  if (bad < n) return !v.feed(b, 0) || v.rejected();
  Utf8Validator w;  // and in one piece
  if (!w.feed(b, n)) return false;
  return v.complete() == complete && w.complete() == complete && utf8_valid(b, n) == complete;
}

static void test_utf8() {
  int bad = 0;
  uint8_t b[8];
  for (int x = 0; x < 256; x++) {
    b[0] = x;
    if (!utf8_agrees(b, 1)) bad++;
  }
  for (int x = 0; x < 65536; x++) {
    b[0] = x >> 8, b[1] = x & 0xff;
    if (!utf8_agrees(b, 2)) bad++;
  }
  CHECK_MSG(bad == 0, "UTF-8: every 1- and 2-byte sequence agrees with the reference (%d differ)", bad);
  bad = 0;
  for (int x = 0xC0 << 16; x < (1 << 24); x++) {
    b[0] = x >> 16, b[1] = (x >> 8) & 0xff, b[2] = x & 0xff;
    if (!utf8_agrees(b, 3)) bad++;
  }
  CHECK_MSG(bad == 0, "UTF-8: every 3-byte sequence with a lead byte C0-FF agrees (%d differ)", bad);
  bad = 0;
  std::mt19937 rng(16);
  for (int t = 0; t < 400000; t++) {
    uint32_t r = rng();
    b[0] = 0xF0 | ((r >> 24) & 0x0f);
    for (int k = 1; k < 4; k++) b[k] = (r >> (8 * (k - 1))) & 0xff;
    if ((t & 3) != 0)
      for (int k = 1; k < 4; k++) b[k] = 0x80 | (b[k] & 0x3f);  // mostly continuation bytes
    if (!utf8_agrees(b, 4)) bad++;
  }
  CHECK_MSG(bad == 0, "UTF-8: 400k sampled 4-byte sequences agree (%d differ)", bad);
  // Autobahn-style vectors split at every offset.
  struct V {
    const char* s;
    bool valid;
  } vs[] = {
      {"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", true},  // κόσμε
      {"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"
       "edited",
       false},
      {"\xf4\x8f\xbf\xbf", true},
      {"\xf4\x90\x80\x80", false},
      {"\xef\xbf\xbe", true},  // non-character: still valid UTF-8
      {"\xc0\xaf", false},     // overlong '/'
      {"\xed\x9f\xbf", true},
      {"\xed\xa0\x80", false},  // surrogate
      {"Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!", true},
      {"0123456789abcdef0123456789abcdef\xe2\x82\xac"
       "0123456789abcdef",
       true},
      {"0123456789abcdef0123456789abcde\xfe", false},
  };
  for (auto& v : vs) {
    size_t n = std::strlen(v.s);
    const uint8_t* p = reinterpret_cast<const uint8_t*>(v.s);
    bool all = true;
    for (size_t cut = 0; cut <= n; cut++) {
      Utf8Validator u;
      bool ok = u.feed(p, cut) && u.feed(p + cut, n - cut) && u.complete();
      if (ok != v.valid) all = false;
    }
    CHECK_MSG(all, "UTF-8 vector of %zu bytes (%s) split at every offset", n, v.valid ? "valid" : "invalid");
  }
  // Fail fast: the first bad byte rejects, whatever follows (Autobahn 6.4.3).
  {
    const uint8_t s[] = {0xce, 0xba, 0xf4, 0x90, 0x80, 0x80, 'a', 'b'};
    Utf8Validator u;
    CHECK(u.feed(s, 3));
    CHECK(!u.feed(s + 3, 1));
    CHECK(!u.feed(s + 4, 4));
  }
}

// ---- parser ----
// a string's bytes, as the parser and the inflater take them
static const uint8_t* u8(const std::string& s) { return reinterpret_cast<const uint8_t*>(s.data()); }

static void mask_bytes(std::string& out, const std::string& payload, const uint8_t m[4]) {
  for (size_t i = 0; i < payload.size(); i++) out += char(uint8_t(payload[i]) ^ m[i & 3]);
}

// A client frame: FIN/RSV bits in `b0hi` (0x80 = FIN), opcode, masked payload.
static std::string frame(uint8_t op, const std::string& payload, bool fin = true, uint8_t rsv = 0, bool masked = true,
                         int force_len7 = -1) {
  std::string f;
  f += char((fin ? 0x80 : 0) | (rsv << 4) | op);
  uint64_t n = payload.size();
  uint8_t mb = masked ? 0x80 : 0;
  int len7 = force_len7 >= 0 ? force_len7 : (n < 126 ? int(n) : n <= 0xffff ? 126 : 127);
  f += char(mb | len7);
  if (len7 == 126) {
    f += char(n >> 8), f += char(n);
  } else if (len7 == 127) {
    for (int k = 7; k >= 0; k--) f += char(n >> (8 * k));
  }
  static uint32_t seed = 1;
  seed = seed * 1103515245 + 12345;
  uint8_t m[4] = {uint8_t(seed >> 24), uint8_t(seed >> 16), uint8_t(seed >> 8), uint8_t(seed | 1)};
  if (masked) {
    f.append(reinterpret_cast<char*>(m), 4);
    mask_bytes(f, payload, m);
  } else {
    f += payload;
  }
  return f;
}

struct RecSink final : WsFrameSink {
  std::string buf;  // pieces land here
  std::string cur;
  std::vector<std::string> events;  // "T:payload", "B:payload", "ping:..", "pong:..", "close:.."
  uint8_t op = 0;
  bool compressed = false;
  size_t pieces = 0;
  bool starts_ok = true;
  bool expect_start = true;
  uint8_t* data_dest(size_t n, uint64_t frame_len, bool msg_start, uint8_t o, bool comp) override {
    if (msg_start != expect_start) starts_ok = false;
    expect_start = false;
    if (msg_start) op = o, compressed = comp, cur.clear();
    buf.assign(n, '\0');
    return reinterpret_cast<uint8_t*>(&buf[0]);
  }
  WsClose on_data(uint8_t* p, size_t n, bool end) override {
    pieces++;
    cur.append(reinterpret_cast<char*>(p), n);
    if (end) {
      events.push_back(std::string(op == kWsText ? "T" : "B") + (compressed ? "z:" : ":") + cur);
      expect_start = true;
    }
    return WsClose::kNone;
  }
  WsClose on_control(uint8_t o, const uint8_t* p, size_t n) override {
    std::string name = o == kWsPing ? "ping:" : o == kWsPong ? "pong:" : "close:";
    events.push_back(name + std::string(reinterpret_cast<const char*>(p ? p : (const uint8_t*)""), n));
    return WsClose::kNone;
  }
};

struct Outcome {
  std::vector<std::string> events;
  WsClose close = WsClose::kNone;
  bool starts_ok = true;
  bool operator==(const Outcome& o) const { return events == o.events && close == o.close && starts_ok == o.starts_ok; }
};

static Outcome run(const std::string& in, const std::vector<size_t>& cuts, WsParserConfig cfg = {}) {
  WsParser parser(cfg);
  RecSink sink;
  Outcome o;
  size_t at = 0;
  std::vector<size_t> c = cuts;
  c.push_back(in.size());
  for (size_t end : c) {
    if (end < at) continue;
    WsClose r = parser.feed(u8(in) + at, end - at, sink);
    at = end;
    if (r != WsClose::kNone && o.close == WsClose::kNone) o.close = r;
  }
  o.events = sink.events;
  o.starts_ok = sink.starts_ok;
  return o;
}

// Same outcome whole, byte by byte and at random cuts.
static bool split_invariant(const std::string& in, const Outcome& want, WsParserConfig cfg = {}) {
  if (!(run(in, {}, cfg) == want)) return false;
  std::vector<size_t> all;
  for (size_t i = 1; i < in.size(); i++) all.push_back(i);
  if (!(run(in, all, cfg) == want)) return false;
  std::mt19937 rng(in.size());
  for (int t = 0; t < 50; t++) {
    std::vector<size_t> cuts;
    size_t at = 0;
    while (at < in.size()) {
      at += 1 + rng() % 23;
      if (at < in.size()) cuts.push_back(at);
    }
    if (!(run(in, cuts, cfg) == want)) return false;
  }
  return true;
}

static Outcome ok(std::vector<std::string> ev) { return Outcome{ev, WsClose::kNone, true}; }
static Outcome failed(std::vector<std::string> ev, WsClose c) { return Outcome{ev, c, true}; }

static void test_parser() {
  std::string big(70000, 'x');
  for (size_t i = 0; i < big.size(); i++) big[i] = char('a' + i % 26);
  std::string s126(126, 'y'), s125(125, 'p'), s65535(65535, 'q');
  CHECK(split_invariant(frame(kWsText, "Hello"), ok({"T:Hello"})));
  CHECK(split_invariant(frame(kWsText, ""), ok({"T:"})));
  CHECK(split_invariant(frame(kWsBinary, s126) + frame(kWsBinary, s65535), ok({"B:" + s126, "B:" + s65535})));
  CHECK(split_invariant(frame(kWsBinary, big), ok({"B:" + big})));
  // Fragmented, with control frames in between (Autobahn 5.6, 5.19).
  CHECK(split_invariant(frame(kWsText, "frag", false) + frame(kWsPing, "p1") + frame(kWsCont, "ment", false) +
                            frame(kWsPong, "") + frame(kWsCont, "ed", true),
                        ok({"ping:p1", "pong:", "T:fragmented"})));
  // 6.1.2: three empty fragments.
  CHECK(split_invariant(frame(kWsText, "", false) + frame(kWsCont, "", false) + frame(kWsCont, ""), ok({"T:"})));
  CHECK(split_invariant(frame(kWsPing, s125) + frame(kWsClose, std::string("\x03\xe8ok", 4)),
                        ok({"ping:" + s125, "close:" + std::string("\x03\xe8ok", 4)})));
  // Ten pings (2.10).
  {
    std::string in;
    std::vector<std::string> ev;
    for (int k = 0; k < 10; k++)
      in += frame(kWsPing, "ping" + std::to_string(k)), ev.push_back("ping:ping" + std::to_string(k));
    CHECK(split_invariant(in, ok(ev)));
  }
  // Protocol errors: the events before the bad frame, then 1002, nothing after.
  std::string hello = frame(kWsText, "Hello");
  auto fails_after_hello = [&](const std::string& bad) {
    return split_invariant(hello + bad + frame(kWsPing, "after"), failed({"T:Hello"}, WsClose::kProtocol));
  };
  CHECK(fails_after_hello(frame(kWsText, "x", true, 0, false)));  // unmasked
  CHECK(fails_after_hello(frame(kWsText, "x", true, 1)));         // RSV3
  CHECK(fails_after_hello(frame(kWsText, "x", true, 4)));         // RSV1
  CHECK(fails_after_hello(frame(kWsText, "x", true, 2)));         // RSV2
  for (uint8_t op : {3, 4, 5, 6, 7, 11, 12, 13, 14, 15})
    CHECK_MSG(fails_after_hello(frame(op, "x")), "opcode %d -> 1002", op);
  CHECK(split_invariant(frame(kWsPing, s126), failed({}, WsClose::kProtocol)));                              // 2.5
  CHECK(split_invariant(frame(kWsPing, "a", false), failed({}, WsClose::kProtocol)));                        // 5.1
  CHECK(split_invariant(frame(kWsClose, "", true, 4), failed({}, WsClose::kProtocol)));                      // 3.7
  CHECK(split_invariant(frame(kWsCont, "x") + hello, failed({}, WsClose::kProtocol)));                       // 5.9
  CHECK(split_invariant(frame(kWsCont, "x", false) + hello, failed({}, WsClose::kProtocol)));                // 5.12
  CHECK(split_invariant(frame(kWsText, "a", false) + frame(kWsText, "b"), failed({}, WsClose::kProtocol)));  // 5.18
  CHECK(split_invariant(frame(kWsText, "a", false) + frame(kWsCont, "b") + frame(kWsCont, "c") + hello,
                        failed({"T:ab"}, WsClose::kProtocol)));  // 5.15
  {
    std::string f = frame(kWsBinary, "abc");
    std::string lie;
    lie += char(0x82), lie += char(0x80 | 127);
    lie += char(0x80);
    for (int k = 0; k < 7; k++) lie += char(0);
    lie += std::string(4, '\x11');
    CHECK(split_invariant(lie + "zzzz", failed({}, WsClose::kProtocol)));  // 64-bit length, top bit set
  }
  // Non-minimal length encodings are accepted.
  CHECK(split_invariant(frame(kWsText, "abc", true, 0, true, 126), ok({"T:abc"})));
  // Deflate: RSV1 allowed on the first frame of a data message only.
  {
    WsParserConfig d;
    d.deflate = true;
    CHECK(split_invariant(frame(kWsText, "zz", false, 4) + frame(kWsCont, "y"), ok({"Tz:zzy"}), d));
    CHECK(
        split_invariant(frame(kWsText, "zz", false) + frame(kWsCont, "y", true, 4), failed({}, WsClose::kProtocol), d));
    CHECK(split_invariant(frame(kWsPing, "", true, 4), failed({}, WsClose::kProtocol), d));
  }
  // Size limit, inclusive, checked on the frame header before any payload.
  {
    WsParserConfig c;
    c.max_message = 100;
    std::string h100(100, 'h'), h101(101, 'h');
    CHECK(split_invariant(frame(kWsBinary, h100), ok({"B:" + h100}), c));
    CHECK(split_invariant(frame(kWsBinary, h101), failed({}, WsClose::kTooBig), c));
    CHECK(split_invariant(frame(kWsText, std::string(60, 'a'), false) + frame(kWsCont, std::string(41, 'b')),
                          failed({}, WsClose::kTooBig), c));
    CHECK(split_invariant(frame(kWsText, std::string(60, 'a'), false) + frame(kWsCont, std::string(40, 'b')),
                          ok({"T:" + std::string(60, 'a') + std::string(40, 'b')}), c));
    // Only the header of a 4 MiB frame: 1009 already, with no payload delivered.
    std::string hdr;
    hdr += char(0x82), hdr += char(0x80 | 127);
    uint64_t n = 4u << 20;
    for (int k = 7; k >= 0; k--) hdr += char(n >> (8 * k));
    hdr += "mask";
    WsParser p(c);
    RecSink s;
    CHECK(p.feed(u8(hdr), hdr.size(), s) == WsClose::kTooBig);
    CHECK(s.pieces == 0);
    CHECK(p.failed());
  }
  // Payload pieces are delivered as they arrive (what 6.4.3's fail-fast needs).
  {
    std::string f = frame(kWsText, "abcdefgh");
    WsParser p({});
    RecSink s;
    p.feed(u8(f), f.size() - 3, s);
    CHECK(s.pieces == 1 && s.cur == "abcde" && s.events.empty());
    p.feed(u8(f) + f.size() - 3, 3, s);
    CHECK(s.pieces == 2 && s.events.size() == 1 && s.events[0] == "T:abcdefgh");
    CHECK(!p.in_message());
  }
  // A sink's close code fails the parser and stops it.
  {
    struct Refuse final : WsFrameSink {
      uint8_t b[64];
      int calls = 0;
      uint8_t* data_dest(size_t, uint64_t, bool, uint8_t, bool) override { return b; }
      WsClose on_data(uint8_t*, size_t, bool) override { return calls++ ? WsClose::kNone : WsClose::kInvalidData; }
      WsClose on_control(uint8_t, const uint8_t*, size_t) override { return WsClose::kNone; }
    } r;
    std::string in = frame(kWsText, "a") + frame(kWsText, "b");
    WsParser p({});
    CHECK(p.feed(u8(in), in.size(), r) == WsClose::kInvalidData);
    CHECK(r.calls == 1);
    CHECK(p.feed(u8(in), in.size(), r) == WsClose::kNone && r.calls == 1);
  }
}

static void test_unmask_and_header() {
  std::mt19937 rng(6455);
  uint8_t src[80], dst[80], ref[80];
  bool all = true;
  for (size_t n = 0; n <= 64; n++)
    for (unsigned off = 0; off < 4; off++)
      for (size_t a = 0; a < 8; a++) {
        uint8_t m[4] = {uint8_t(rng()), uint8_t(rng()), uint8_t(rng()), uint8_t(rng())};
        for (size_t i = 0; i < n; i++) src[a + i] = uint8_t(rng());
        for (size_t i = 0; i < n; i++) ref[i] = src[a + i] ^ m[(off + i) & 3];
        ws_unmask(dst + (7 - a), src + a, n, m, off);
        if (std::memcmp(dst + (7 - a), ref, n) != 0) all = false;
        // in place
        std::memcpy(dst, src + a, n);
        ws_unmask(dst, dst, n, m, off);
        if (std::memcmp(dst, ref, n) != 0) all = false;
      }
  CHECK_MSG(all, "ws_unmask matches the byte-wise reference for every length <= 64, mask offset and alignment");
  uint8_t h[kWsMaxHeader];
  CHECK(ws_frame_header(h, kWsText, 0) == 2 && h[0] == 0x81 && h[1] == 0);
  CHECK(ws_frame_header(h, kWsBinary, 125) == 2 && h[0] == 0x82 && h[1] == 125);
  CHECK(ws_frame_header(h, kWsBinary, 126) == 4 && h[1] == 126 && h[2] == 0 && h[3] == 126);
  CHECK(ws_frame_header(h, kWsBinary, 65535) == 4 && h[2] == 0xff && h[3] == 0xff);
  CHECK(ws_frame_header(h, kWsBinary, 65536) == 10 && h[1] == 127 && h[7] == 1 && h[8] == 0 && h[9] == 0);
  CHECK(ws_frame_header(h, kWsText, 5, true, false) == 2 && h[0] == 0x41);
  CHECK(ws_frame_header(h, kWsClose, 2) == 2 && h[0] == 0x88);
}

static void test_handshake() {
  char acc[29];
  CHECK(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, acc) && std::string(acc) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  std::vector<std::pair<std::string, std::string>> base = {{"Host", "a"},
                                                           {"Upgrade", "websocket"},
                                                           {"Connection", "keep-alive, Upgrade"},
                                                           {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
                                                           {"Sec-WebSocket-Version", "13"},
                                                           {"Sec-WebSocket-Protocol", "chat, superchat"}};
  auto check = [&](std::vector<std::pair<std::string, std::string>> hs, const char* method = "GET", bool upgrade = true,
                   BodyKind body = BodyKind::kNone, int minor = 1) {
    RequestHead h;
    h.method = Slice{method, static_cast<uint32_t>(std::strlen(method))};
    h.version_minor = static_cast<uint8_t>(minor);
    h.upgrade = upgrade;
    h.body = body;
    for (auto& f : hs) {
      h.headers.push_back(HeaderField{Slice{f.first.data(), static_cast<uint32_t>(f.first.size())},
                                      Slice{f.second.data(), static_cast<uint32_t>(f.second.size())}});
    }
    WsHandshake w;
    WsHandshakeResult r = ws_check_handshake(h, &w);
    if (r == WsHandshakeResult::kValid && std::memcmp(w.key, "dGhlIHNhbXBsZSBub25jZQ==", 24) != 0) {
      return WsHandshakeResult::kBad;
    }
    return r;
  };
  auto without = [&](const char* name) {
    auto v = base;
    for (size_t i = 0; i < v.size(); i++)
      if (v[i].first == name) v.erase(v.begin() + i);
    return v;
  };
  auto with = [&](const char* name, const char* value) {
    auto v = without(name);
    v.push_back({name, value});
    return v;
  };
  CHECK(check(base) == WsHandshakeResult::kValid);
  CHECK(check(with("Upgrade", "h2c")) == WsHandshakeResult::kNotWebSocket);
  CHECK(check(with("Upgrade", "foo, WebSocket")) == WsHandshakeResult::kValid);
  CHECK(check(base, "POST") == WsHandshakeResult::kBad);
  CHECK(check(base, "GET", false) == WsHandshakeResult::kBad);  // no Connection: upgrade token
  CHECK(check(base, "GET", true, BodyKind::kLength) == WsHandshakeResult::kBad);
  CHECK(check(base, "GET", true, BodyKind::kNone, 0) == WsHandshakeResult::kBad);  // HTTP/1.0
  CHECK(check(without("Host")) == WsHandshakeResult::kBad);
  CHECK(check(without("Sec-WebSocket-Key")) == WsHandshakeResult::kBad);
  CHECK(check(with("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=")) == WsHandshakeResult::kBad);
  CHECK(check(with("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZ!==")) == WsHandshakeResult::kBad);
  {
    auto v = base;
    v.push_back({"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="});
    CHECK(check(v) == WsHandshakeResult::kBad);  // two keys
  }
  CHECK(check(with("Sec-WebSocket-Version", "8")) == WsHandshakeResult::kBadVersion);
  CHECK(check(without("Sec-WebSocket-Version")) == WsHandshakeResult::kBadVersion);
  CHECK(ws_protocol_offered("chat, superchat", "superchat", 9));
  CHECK(ws_protocol_offered("chat, superchat", "chat", 4));
  CHECK(!ws_protocol_offered("chat, superchat", "cha", 3));
  CHECK(!ws_protocol_offered("", "chat", 4));
  WsHandshake w;
  std::memcpy(w.key, "dGhlIHNhbXBsZSBub25jZQ==", 24);
  std::string out;
  const char extra[] = "X-A: b\r\n";
  ws_build_101(out, w, "chat", 4, extra, sizeof extra - 1);
  CHECK(out ==
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\nX-A: b\r\n\r\n");
}

// ---- permessage-deflate (ws_deflate.h) ----

static std::string neg(const char* offer, WsCompression mode = WsCompression::kDedicated, int bits = 15) {
  WsDeflateParams p;
  if (!ws_negotiate(offer, std::strlen(offer), mode, bits, &p)) return "-";
  char tail[64];
  std::snprintf(tail, sizeof tail, " [d%d i%d s%d c%d]", p.deflate_bits, p.inflate_bits,
                p.server_no_context_takeover ? 1 : 0, p.client_no_context_takeover ? 1 : 0);
  return p.response + tail;
}

static void test_negotiate() {
  struct Case {
    const char* offer;
    WsCompression mode;
    int bits;
    const char* want;
  } cases[] = {
      {"permessage-deflate", WsCompression::kOff, 15, "-"},
      {"permessage-deflate", WsCompression::kDedicated, 15, "permessage-deflate [d15 i15 s0 c0]"},
      {"PerMessage-Deflate", WsCompression::kDedicated, 15, "permessage-deflate [d15 i15 s0 c0]"},
      {"permessage-deflate", WsCompression::kShared, 15,
       "permessage-deflate; server_no_context_takeover; client_no_context_takeover [d15 i15 s1 c1]"},
      {"permessage-deflate; client_max_window_bits", WsCompression::kDedicated, 15,
       "permessage-deflate [d15 i15 s0 c0]"},
      {"permessage-deflate; client_max_window_bits", WsCompression::kDedicated, 10,
       "permessage-deflate; server_max_window_bits=10; client_max_window_bits=10 [d10 i10 s0 c0]"},
      {"permessage-deflate; client_max_window_bits=8", WsCompression::kDedicated, 15,
       "permessage-deflate [d15 i9 s0 c0]"},
      {"permessage-deflate; client_max_window_bits=12", WsCompression::kDedicated, 15,
       "permessage-deflate [d15 i12 s0 c0]"},
      {"permessage-deflate; client_max_window_bits=12", WsCompression::kShared, 15,
       "permessage-deflate; server_no_context_takeover; client_no_context_takeover [d15 i15 s1 c1]"},
      {"permessage-deflate; server_max_window_bits=9", WsCompression::kDedicated, 15,
       "permessage-deflate; server_max_window_bits=9 [d9 i15 s0 c0]"},
      {"permessage-deflate; server_max_window_bits=15", WsCompression::kDedicated, 15,
       "permessage-deflate; server_max_window_bits=15 [d15 i15 s0 c0]"},
      {"permessage-deflate; server_max_window_bits=15", WsCompression::kDedicated, 11,
       "permessage-deflate; server_max_window_bits=11 [d11 i15 s0 c0]"},
      {"permessage-deflate;server_max_window_bits=\"10\"", WsCompression::kDedicated, 15,
       "permessage-deflate; server_max_window_bits=10 [d10 i15 s0 c0]"},
      {"permessage-deflate ; server_no_context_takeover ;client_no_context_takeover", WsCompression::kDedicated, 15,
       "permessage-deflate; server_no_context_takeover; client_no_context_takeover [d15 i15 s1 c1]"},
      // skipped offers, then the next one
      {"permessage-deflate; server_max_window_bits=8, permessage-deflate", WsCompression::kDedicated, 15,
       "permessage-deflate [d15 i15 s0 c0]"},
      {"permessage-deflate; server_max_window_bits=8", WsCompression::kDedicated, 15, "-"},
      {"permessage-deflate; foo, permessage-deflate; server_no_context_takeover", WsCompression::kDedicated, 15,
       "permessage-deflate; server_no_context_takeover [d15 i15 s1 c0]"},
      {"permessage-deflate; foo=\"a,b\", permessage-deflate", WsCompression::kDedicated, 15,
       "permessage-deflate [d15 i15 s0 c0]"},
      {"x-webkit-deflate-frame, permessage-deflate; client_max_window_bits=9", WsCompression::kDedicated, 15,
       "permessage-deflate [d15 i9 s0 c0]"},
      {"permessage-deflate; server_no_context_takeover; server_no_context_takeover", WsCompression::kDedicated, 15,
       "-"},
      {"permessage-deflate; client_max_window_bits; client_max_window_bits=10", WsCompression::kDedicated, 15, "-"},
      {"permessage-deflate; server_no_context_takeover=1", WsCompression::kDedicated, 15, "-"},
      {"permessage-deflate; server_max_window_bits", WsCompression::kDedicated, 15, "-"},
      {"permessage-deflate; server_max_window_bits=", WsCompression::kDedicated, 15, "-"},
      {"permessage-deflate; server_max_window_bits=16", WsCompression::kDedicated, 15, "-"},
      {"permessage-deflate; server_max_window_bits=7", WsCompression::kDedicated, 15, "-"},
      {"permessage-deflate; server_max_window_bits=010", WsCompression::kDedicated, 15, "-"},
      {"permessage-deflate; server_max_window_bits=+9", WsCompression::kDedicated, 15, "-"},
      {"permessage-deflate; client_max_window_bits=\"9", WsCompression::kDedicated, 15, "-"},
      {"permessage-deflate;", WsCompression::kDedicated, 15, "-"},
      {"permessage-deflate x", WsCompression::kDedicated, 15, "-"},
      {", ,permessage-deflate", WsCompression::kDedicated, 15, "permessage-deflate [d15 i15 s0 c0]"},
      {"", WsCompression::kDedicated, 15, "-"},
      // Autobahn 13.7.x: three offers, the first fits
      {"permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover; "
       "server_max_window_bits=9, permessage-deflate; client_no_context_takeover; client_max_window_bits; "
       "server_no_context_takeover, permessage-deflate; client_no_context_takeover; client_max_window_bits",
       WsCompression::kDedicated, 15,
       "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9 "
       "[d9 i15 s1 c1]"},
  };
  for (const Case& c : cases) {
    std::string got = neg(c.offer, c.mode, c.bits);
    CHECK_MSG(got == c.want, "negotiate \"%s\" (mode %d, bits %d) -> \"%s\" (want \"%s\")", c.offer,
              static_cast<int>(c.mode), c.bits, got.c_str(), c.want);
  }
}

// raw deflate with a sync flush, by zlib directly (the client side), tail removed
static std::string zdeflate(z_stream& z, const std::string& in) {
  std::string out(in.size() * 2 + 1024, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(&out[0]);
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_SYNC_FLUSH);
  size_t produced = out.size() - z.avail_out;  // 0 for an empty message after a flush (Z_BUF_ERROR)
  out.resize(produced >= 4 ? produced - 4 : 0);
  return out;
}

static std::string zinflate_all(z_stream& z, const std::string& in) {
  std::string src = in + std::string("\x00\x00\xff\xff", 4), out(1 << 20, '\0');
  z.next_in = reinterpret_cast<Bytef*>(&src[0]);
  z.avail_in = static_cast<uInt>(src.size());
  z.next_out = reinterpret_cast<Bytef*>(&out[0]);
  z.avail_out = static_cast<uInt>(out.size());
  inflate(&z, Z_SYNC_FLUSH);
  out.resize(out.size() - z.avail_out);
  return out;
}

// Each message compressed by `compress(m, c)` and read back by `decompress(c, back)` (both called for every
// message, in order: the streams keep their context) is the message again, and neither reported a failure.
template <typename Compress, typename Decompress>
static bool round_trips(const std::vector<std::string>& msgs, Compress compress, Decompress decompress) {
  bool all = true;
  for (const std::string& m : msgs) {
    std::string c, back;
    bool ok = compress(m, c);
    ok = decompress(c, back) && ok;
    if (!ok || back != m) all = false;
  }
  return all;
}

static void test_deflate_streams() {
  std::mt19937 rng(7);
  // messages: text with repeats (context takeover helps), random bytes, an empty one
  std::vector<std::string> msgs;
  for (int i = 0; i < 6; i++) {
    std::string m;
    for (int k = 0; k < 500 + i * 3000; k++) m += "abcdefghij"[rng() % (i + 2)];
    msgs.push_back(m);
  }
  std::string rnd(40000, '\0');
  for (char& ch : rnd) ch = static_cast<char>(rng());
  msgs.push_back(rnd);
  msgs.push_back("");
  // client -> server: zlib deflates with context takeover, WsInflater inflates under every split
  for (int bits : {9, 12, 15}) {
    z_stream cz{};
    deflateInit2(&cz, 6, Z_DEFLATED, -bits, 8, Z_DEFAULT_STRATEGY);
    WsInflater inf(bits);
    bool all = round_trips(
        msgs,
        [&](const std::string& m, std::string& c) {
          c = zdeflate(cz, m);
          return true;
        },
        [&](const std::string& c, std::string& out) {
          bool ok = true;
          size_t step = 1 + rng() % 700;
          for (size_t off = 0; off < c.size() || off == 0; off += step) {
            size_t k = std::min(step, c.size() - off);
            bool end = off + k >= c.size();
            if (inf.inflate(u8(c) + off, k, end, out, 1 << 20) != WsInflater::kOk) ok = false;
            if (end) break;
          }
          return ok;
        });
    CHECK_MSG(all, "WsInflater(%d) inflates zlib's context-takeover messages under random splits", bits);
    deflateEnd(&cz);
  }
  // server -> client: WsDeflater, with and without reset, read back by zlib
  for (bool reset : {false, true}) {
    WsDeflater def(10);
    z_stream iz{};
    inflateInit2(&iz, -15);
    bool tail_dropped = true;
    bool all = round_trips(
        msgs,
        [&](const std::string& m, std::string& c) {
          bool ok = def.deflate(m.data(), m.size(), c);
          if (c.size() >= 4 && c.compare(c.size() - 4, 4, std::string("\x00\x00\xff\xff", 4)) == 0)
            tail_dropped = false;
          if (reset) def.reset();
          return ok;
        },
        [&](const std::string& c, std::string& back) {
          back = zinflate_all(iz, c);
          if (reset) inflateReset(&iz);
          return true;
        });
    CHECK_MSG(all, "WsDeflater round trip through zlib (%s)", reset ? "reset after each message" : "context takeover");
    CHECK_MSG(tail_dropped || reset, "the 00 00 ff ff tail is dropped");
    inflateEnd(&iz);
  }
  // a bomb: 8 MiB of zeros inflates only to the limit plus one step
  {
    z_stream cz{};
    deflateInit2(&cz, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    std::string c = zdeflate(cz, std::string(8 << 20, '\0'));
    deflateEnd(&cz);
    WsInflater inf(15);
    std::string out;
    WsInflater::Result r = inf.inflate(u8(c), c.size(), true, out, 100000);
    CHECK_MSG(r == WsInflater::kTooBig && out.size() <= 100000 + WsInflater::kStep,
              "a %zu-byte bomb stops at %zu bytes (limit 100000)", c.size(), out.size());
  }
  // bad data
  {
    WsInflater inf(15);
    std::string out;
    const uint8_t bad[] = {0xff, 0xff, 0xff};
    CHECK(inf.inflate(bad, sizeof bad, true, out, 1 << 20) == WsInflater::kBad);
    WsInflater inf2(15);
    const uint8_t empty0[] = {0x00};
    out.clear();
    CHECK(inf2.inflate(empty0, 1, true, out, 1 << 20) == WsInflater::kOk && out.empty());
    CHECK(inf2.inflate(nullptr, 0, true, out, 1 << 20) == WsInflater::kOk && out.empty());
    // a final block (BFINAL = 1) then the tail: still fine
    std::string fin = std::string("\x03\x00", 2);  // an empty fixed-Huffman final block
    CHECK(inf2.inflate(u8(fin), fin.size(), true, out, 1 << 20) == WsInflater::kOk && out.empty());
  }
  // the shared pool: a deflater per window size, made once
  {
    WsDeflatePool pool;
    WsDeflater* a = pool.deflater(9);
    CHECK(a != nullptr && pool.deflater(9) == a && pool.deflater(15) != a && pool.deflater(8) == a);
    CHECK(pool.shared_inflater() != nullptr && pool.shared_inflater() == pool.shared_inflater());
  }
}

int main() {
  test_handshake();
  test_utf8();
  test_parser();
  test_unmask_and_header();
  test_negotiate();
  test_deflate_streams();
  std::printf("1..%d\n", checks);
  if (failures) std::fprintf(stderr, "%d of %d checks failed\n", failures, checks);
  return failures ? 1 : 0;
}
