// Shared by the libFuzzer target (fuzz_parser.cc, clang + ASan/UBSan) and the
// plain unit driver (parser_test.cc, g++): drives gts::RequestParser the way
// native/src/connection.cc does, over one "connection" that may carry several
// pipelined requests, and aborts on any broken invariant.
//
// Input format of a fuzz case / regression seed:
//   byte 0: ParserConfig variant (see decode_options)
//   byte 1: delivery variant (split mode, PROXY mode, interleaving, EOF)
//   rest:   the bytes the client sends
//
// Invariants checked on every call:
//   * parse_head/parse_body never consume more than they were given;
//     head_length() > 0 and <= the bytes passed to the parse_head that returned kDone;
//   * every Slice of the head points inside that buffer's head bytes or inside the
//     parser's scratch (obs-fold normalisation, casefolded method), and is read
//     whole (ASan sees any stale or out-of-bounds slice: each call gets a fresh
//     heap copy of exactly the unconsumed bytes, as if the caller had moved them);
//   * what reaches the application is well-formed: method a token, target without
//     CTL/SP, header names tokens, values without CTL or outer OWS, framing headers
//     consistent with the chosen body framing;
//   * body pieces handed to the sink lie inside the consumed input; a length body
//     delivers exactly Content-Length bytes unless the stream ended; parse_body
//     always makes progress (no hang);
//   * after an error the parser stays in error: parse_head answers kError and
//     parse_body consumes nothing and delivers nothing;
//   * the outcome does not depend on how the bytes were split, nor on another
//     connection's parser using the per-thread ParserShared in between.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "environ.h"
#include "request_parser.h"

namespace harness {

#define H_CHECK(cond, what)                                                                                   \
  do {                                                                                                        \
    if (!(cond)) {                                                                                            \
      std::fprintf(stderr, "parser invariant broken at %s:%d: %s (%s)\n", __FILE__, __LINE__, #cond, (what)); \
      std::abort();                                                                                           \
    }                                                                                                         \
  } while (0)

struct Req {
  std::string method, target, path, query;
  int vmaj = 0, vmin = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  int body_kind = 0;
  uint64_t content_length = 0;
  bool keep_alive = false, must_close = false, expect_continue = false, is_head = false, is_connect = false,
       upgrade = false;
  std::string proxy;  // PROXY protocol facts, when present
  std::string body;
  bool body_complete = false;  // ended by its framing (not by EOF or an error)

  bool operator==(const Req& o) const {
    return method == o.method && target == o.target && path == o.path && query == o.query && vmaj == o.vmaj &&
           vmin == o.vmin && headers == o.headers && body_kind == o.body_kind && content_length == o.content_length &&
           keep_alive == o.keep_alive && must_close == o.must_close && expect_continue == o.expect_continue &&
           is_head == o.is_head && is_connect == o.is_connect && upgrade == o.upgrade && proxy == o.proxy &&
           body == o.body && body_complete == o.body_complete;
  }
};

enum class End { kClean, kNeedMore, kError };

struct Outcome {
  std::vector<Req> reqs;
  End end = End::kNeedMore;
  gts::Err err = gts::Err::kOk;
  bool err_in_body = false;
};

enum class Split : uint8_t { kWhole = 0, kBytes = 1, kRandom = 2, kFixed = 3 };

// The parser's configuration at Gunicorn's defaults. ParserConfig has no
// defaults of its own (the server's come from lib/config/settings.ts through
// the addon); this is the tests' input, checked against the registry by
// test/native-parser.test.mjs ("the harness's base config is the registry's").
inline gts::ParserConfig base_config() {
  gts::ParserConfig c;
  c.limit_request_line = 4094;
  c.limit_request_fields = 100;
  c.limit_request_field_size = 8190;
  c.limit_request_body = 0;
  c.header_map = gts::HeaderMap::kDrop;
  c.proxy_protocol = gts::ProxyMode::kOff;
  c.forwarder_headers = {"SCRIPT_NAME", "PATH_INFO"};
  return c;
}

struct Options {
  gts::ParserConfig cfg = base_config();
  bool trusted = true, proxy_allowed = true;
  Split split = Split::kWhole;
  bool interleave = false;    // another connection's parser uses the shared state between calls
  bool eof = true;            // the client half-closes after its bytes
  bool eof_separate = false;  // EOF comes in its own call (as a libuv UV_EOF read does)
  uint32_t seed = 1;
};

inline uint32_t fnv1a(const uint8_t* p, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
  return h ? h : 1;
}

inline Options decode_options(uint8_t b0, uint8_t b1) {
  Options o;
  o.cfg.permit_obsolete_folding = b0 & 0x01;
  o.cfg.strip_header_spaces = b0 & 0x02;
  o.cfg.permit_unconventional_http_method = b0 & 0x04;
  o.cfg.casefold_http_method = b0 & 0x08;
  o.cfg.permit_unconventional_http_version = b0 & 0x10;
  switch ((b0 >> 5) & 3) {
    case 0: o.cfg.header_map = gts::HeaderMap::kDrop; break;
    case 1: o.cfg.header_map = gts::HeaderMap::kRefuse; break;
    case 2: o.cfg.header_map = gts::HeaderMap::kDangerous; break;
    case 3:
      o.cfg.header_map = gts::HeaderMap::kDrop;
      o.trusted = false;
      break;  // forwarder names dropped too
  }
  if (b0 & 0x80) {  // small limits, so that every limit is reachable by short inputs
    o.cfg.limit_request_line = 64;
    o.cfg.limit_request_fields = 6;
    o.cfg.limit_request_field_size = 80;
    o.cfg.limit_request_body = 100;
  }
  o.split = static_cast<Split>(b1 & 3);
  o.cfg.proxy_protocol = static_cast<gts::ProxyMode>((b1 >> 2) & 3);
  o.proxy_allowed = !(b1 & 0x10);
  o.interleave = b1 & 0x20;
  o.eof = !(b1 & 0x40);
  o.eof_separate = b1 & 0x80;
  return o;
}

inline bool in_range(const char* p, size_t n, const char* base, size_t len) {
  if (base == nullptr) return false;
  return p >= base && p <= base + len && n <= static_cast<size_t>(base + len - p);
}

inline bool tchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return c != 0 && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}
inline bool ctl(unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; }
inline bool ieq(const std::string& a, const char* b) {
  if (a.size() != std::strlen(b)) return false;
  for (size_t i = 0; i < a.size(); i++) {
    char x = a[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
    if (x != b[i]) return false;
  }
  return true;
}

// A fixed request that exercises the shared state (llhttp, head, scratch) with
// a different version, folding and a body.
constexpr char kOtherRequest[] =
    "POST /other?x=1 HTTP/1.0\r\nHost: other\r\nX-Fold: a\r\n  b\r\nContent-Length: 3\r\n"
    "Connection: keep-alive\r\n\r\n";

class Connection {
 public:
  explicit Connection(const Options& o) : o_(o), parser_(&o_.cfg, &shared_), other_(&other_cfg_, &shared_) {
    other_cfg_.permit_obsolete_folding = true;
    parser_.reset_connection(o_.trusted, o_.proxy_allowed);
  }

  // Feeds one piece; `eof` says nothing follows it.
  void feed(const uint8_t* p, size_t n, bool eof) {
    if (done_) return;
    pending_.append(reinterpret_cast<const char*>(p), n);
    eof_ = eof_ || eof;
    step();
  }

  const Outcome& outcome() const { return out_; }
  bool done() const { return done_; }

 private:
  // A fresh heap copy of the unconsumed bytes, exactly sized: the caller moving
  // its buffer between calls is allowed, reading past it is not.
  char* fresh() {
    char* b = static_cast<char*>(std::malloc(pending_.size() ? pending_.size() : 1));
    std::memcpy(b, pending_.data(), pending_.size());
    return b;
  }

  void use_shared_elsewhere() {
    if (!o_.interleave) return;
    other_.reset_connection(true, true);
    size_t n = sizeof(kOtherRequest) - 1;
    char* b = static_cast<char*>(std::malloc(n));
    std::memcpy(b, kOtherRequest, n);
    auto st = other_.parse_head(b, n, false);
    H_CHECK(st == gts::RequestParser::Status::kDone, "the fixed interleaved request parses");
    H_CHECK(other_.head().version_minor == 0 && other_.head().content_length == 3, "interleaved head");
    std::free(b);
  }

  void fail(bool in_body) {
    out_.end = End::kError;
    out_.err = in_body ? parser_.body_error() : parser_.error();
    out_.err_in_body = in_body;
    H_CHECK(out_.err != gts::Err::kOk && out_.err < gts::Err::kCount, "an error has a code");
    const auto& info = gts::err_info(out_.err);
    H_CHECK(info.status >= 400 && info.status < 600, "an error maps to a 4xx/5xx");
    // No state after an error: the parser refuses everything that follows.
    char* b = fresh();
    H_CHECK(parser_.parse_head(b, pending_.size(), eof_) == gts::RequestParser::Status::kError,
            "parse_head after an error");
    bool sunk = false;
    size_t k = parser_.parse_body(b, pending_.size(), [&](const char*, size_t) { sunk = true; });
    H_CHECK(k == 0 && !sunk, "parse_body after an error");
    std::free(b);
    done_ = true;
  }

  void check_slice(const gts::Slice& s, const char* buf, size_t hl, std::string* out, const char* what) {
    if (s.n == 0) {
      out->clear();
      return;
    }
    const auto& h = parser_.head();
    bool ok = in_range(s.p, s.n, buf, hl) || in_range(s.p, s.n, shared_.scratch.data(), shared_.scratch.size()) ||
              in_range(s.p, s.n, h.casefolded_method.data(), h.casefolded_method.size());
    H_CHECK(ok, what);
    out->assign(s.p, s.n);  // reads every byte: ASan reports a stale slice here
  }

  void record_head(const char* buf, size_t len) {
    const size_t hl = parser_.head_length();
    H_CHECK(hl > 0 && hl <= len, "head_length() within the bytes given");
    const auto& h = parser_.head();
    Req r;
    check_slice(h.method, buf, hl, &r.method, "method slice");
    check_slice(h.target, buf, hl, &r.target, "target slice");
    check_slice(h.path, buf, hl, &r.path, "path slice");
    check_slice(h.query, buf, hl, &r.query, "query slice");
    H_CHECK(!r.method.empty(), "non-empty method");
    for (unsigned char c : r.method) H_CHECK(tchar(c), "method is a token");
    H_CHECK(!r.target.empty(), "non-empty target");
    for (unsigned char c : r.target) H_CHECK(c > 0x20 && c != 0x7f, "no CTL or SP in the target");
    r.vmaj = h.version_major;
    r.vmin = h.version_minor;
    H_CHECK(o_.cfg.permit_unconventional_http_version || r.vmaj == 1, "HTTP/1.x only");
    int n_cl = 0, n_te = 0;
    std::string cl, te;
    for (const auto& f : h.headers) {
      std::string name, value;
      check_slice(f.name, buf, hl, &name, "header name slice");
      check_slice(f.value, buf, hl, &value, "header value slice");
      H_CHECK(!name.empty(), "non-empty header name");
      for (unsigned char c : name) H_CHECK(tchar(c), "header name is a token");
      for (unsigned char c : value) H_CHECK(!ctl(c), "no CTL in a header value");
      H_CHECK(value.empty() ||
                  (value.front() != ' ' && value.front() != '\t' && value.back() != ' ' && value.back() != '\t'),
              "header value trimmed");
      if (o_.cfg.header_map == gts::HeaderMap::kDrop && !o_.trusted) {
        H_CHECK(name.find('_') == std::string::npos, "'_' names dropped");
      }
      if (ieq(name, "content-length")) n_cl++, cl = value;
      if (ieq(name, "transfer-encoding")) n_te++, te = value;
      r.headers.emplace_back(std::move(name), std::move(value));
    }
    r.body_kind = static_cast<int>(h.body);
    r.content_length = h.content_length;
    // Framing the application sees agrees with the headers (RFC 9112 §6.3).
    if (h.body == gts::BodyKind::kLength) {
      // (Transfer-Encoding: identity is a no-op for Gunicorn and may sit beside it)
      std::string tel;
      for (char c : te) tel.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c));
      H_CHECK(n_cl == 1 && tel.find("chunked") == std::string::npos,
              "a length body has one Content-Length, no chunked");
      size_t z = 0;  // 1*DIGIT: leading zeros are allowed (RFC 9110 §8.6)
      while (z + 1 < cl.size() && cl[z] == '0') z++;
      H_CHECK(cl.substr(z) == std::to_string(h.content_length), "Content-Length value is the length");
      H_CHECK(h.content_length > 0, "a length body is not empty");
      H_CHECK(o_.cfg.limit_request_body == 0 || h.content_length <= o_.cfg.limit_request_body, "body limit");
    }
    if (h.body == gts::BodyKind::kChunked) {
      H_CHECK(n_cl == 0 && n_te >= 1, "chunked has Transfer-Encoding and no Content-Length");
      H_CHECK(!(r.vmaj == 1 && r.vmin == 0), "no chunked in HTTP/1.0");
    }
    if (n_cl > 1) H_CHECK(false, "duplicate Content-Length accepted");
    H_CHECK(parser_.body_kind() == h.body, "per-connection body kind");
    H_CHECK(parser_.body_done() == (h.body == gts::BodyKind::kNone), "body_done after the head");
    if (h.body == gts::BodyKind::kLength) H_CHECK(parser_.body_left() == h.content_length, "body_left");
    check_environ(h);
    r.keep_alive = h.keep_alive;
    r.must_close = h.must_close;
    r.expect_continue = h.expect_continue;
    r.is_head = h.is_head;
    r.is_connect = h.is_connect;
    r.upgrade = h.upgrade;
    if (const gts::ProxyInfo* pi = parser_.proxy()) {
      r.proxy = pi->proto + " " + pi->src_addr + " " + pi->dst_addr + " " + std::to_string(pi->src_port) + " " +
                std::to_string(pi->dst_port);
    }
    out_.reqs.push_back(std::move(r));
  }

  void step() {
    while (!done_) {
      if (active_) {
        Req& r = out_.reqs.back();
        if (!parser_.body_done()) {
          if (!pending_.empty()) {
            char* b = fresh();
            const size_t n = pending_.size();
            std::vector<std::pair<const char*, size_t>> pieces;
            const uint64_t before = parser_.body_received();
            size_t k = parser_.parse_body(b, n, [&](const char* d, size_t dn) { pieces.emplace_back(d, dn); });
            H_CHECK(k <= n, "parse_body consumed more than it was given");
            if (parser_.body_error() != gts::Err::kOk) {
              H_CHECK(k == 0, "an erroring parse_body reports 0");
              // data handed out before the error is what the app would have seen
              for (auto& pc : pieces) r.body.append(pc.first, pc.second);
              std::free(b);
              fail(true);
              return;
            }
            H_CHECK(k > 0 || parser_.body_done(), "parse_body made progress");
            uint64_t got = 0;
            for (auto& pc : pieces) {
              H_CHECK(in_range(pc.first, pc.second, b, k), "body piece inside the consumed bytes");
              r.body.append(pc.first, pc.second);  // reads it
              got += pc.second;
            }
            H_CHECK(parser_.body_received() - before == got, "body_received counts what was delivered");
            std::free(b);
            pending_.erase(0, k);
          }
          if (!parser_.body_done() && eof_ && pending_.empty()) {
            gts::Err e = parser_.body_eof();
            if (e != gts::Err::kOk) {
              fail(true);
              return;
            }
            H_CHECK(parser_.body_done(), "body_eof without error ends the body");
            r.body_complete = false;
            H_CHECK(r.body_kind == static_cast<int>(gts::BodyKind::kLength), "only a length body may end short");
            H_CHECK(r.body.size() < r.content_length, "a short body is short");
          } else if (parser_.body_done()) {
            r.body_complete = true;
          }
          if (!parser_.body_done()) return;  // need more
        } else {
          r.body_complete = true;
        }
        if (r.body_complete && r.body_kind == static_cast<int>(gts::BodyKind::kLength)) {
          H_CHECK(r.body.size() == r.content_length, "a length body delivers exactly Content-Length bytes");
        }
        if (r.body_complete) H_CHECK(parser_.body_received() == r.body.size(), "body_received is the body");
        active_ = false;
        parser_.reset_request();
        continue;
      }
      // between requests
      if (pending_.empty()) {
        if (eof_) {
          out_.end = End::kClean;
          done_ = true;
        }
        return;
      }
      char* b = fresh();
      const size_t n = pending_.size();
      auto st = parser_.parse_head(b, n, eof_);
      if (st == gts::RequestParser::Status::kNeedMore) {
        H_CHECK(!eof_, "no kNeedMore at EOF with bytes pending");
        H_CHECK(parser_.error() == gts::Err::kOk, "kNeedMore without an error");
        std::free(b);
        use_shared_elsewhere();
        out_.end = End::kNeedMore;
        return;
      }
      if (st == gts::RequestParser::Status::kError) {
        std::free(b);
        fail(false);
        return;
      }
      H_CHECK(parser_.error() == gts::Err::kOk, "kDone without an error");
      H_CHECK(parser_.head_started(), "a parsed head was started");
      record_head(b, n);
      const size_t hl = parser_.head_length();
      std::free(b);
      use_shared_elsewhere();
      pending_.erase(0, hl);
      active_ = true;
      out_.end = End::kNeedMore;
    }
  }

  // The environ packer (native/src/environ.cc) over every parsed head: offsets
  // ascend within the blob, the header count and facts match the head, known
  // keys index the known table.
  void check_environ(const gts::RequestHead& h) {
    std::vector<uint32_t> meta(gts::meta_slots(static_cast<uint32_t>(h.headers.size())), 0xdeadbeefu);
    std::string blob;
    gts::PeerFacts peer;
    peer.remote_addr = "192.0.2.1";
    peer.remote_port = 40000;
    peer.trusted = o_.trusted;
    peer.proxy = parser_.proxy();
    gts::pack_environ(h, peer, false, blob, meta.data());
    H_CHECK(meta[gts::kMetaCount] == h.headers.size(), "environ: header count");
    const uint32_t flags = meta[gts::kMetaFlags];
    H_CHECK((flags & 0xf) == h.version_major && ((flags >> 4) & 0xf) == h.version_minor, "environ: version");
    H_CHECK(((flags & gts::kFlagHead) != 0) == h.is_head, "environ: HEAD flag");
    uint32_t prev = 0;
    for (uint32_t s : {gts::kMetaMethodEnd, gts::kMetaTargetEnd, gts::kMetaPathEnd, gts::kMetaQueryEnd,
                       gts::kMetaRemoteEnd, gts::kMetaRemotePort}) {
      H_CHECK(meta[s] >= prev && meta[s] <= blob.size(), "environ: ascending offsets");
      prev = meta[s];
    }
    H_CHECK(meta[gts::kMetaMethodEnd] == h.method.n, "environ: method");
    H_CHECK(meta[gts::kMetaPathEnd] - meta[gts::kMetaTargetEnd] <= h.path.n, "environ: decoded path not longer");
    if (peer.proxy != nullptr) prev = meta[gts::kMetaProxyDstEnd];
    for (size_t i = 0; i < h.headers.size(); i++) {
      const uint32_t key = meta[gts::kMetaHeaders + 2 * i],
                     val = meta[gts::kMetaHeaders + 2 * i + 1] & ~gts::kMaybeRepeat;
      if (key & gts::kKnownFlag) {
        H_CHECK((key & ~gts::kKnownFlag) < gts::known_header_count(), "environ: known key index");
      } else {
        H_CHECK(key >= prev && key <= blob.size(), "environ: key offset");
        prev = key;
      }
      H_CHECK(val >= prev && val <= blob.size() && val - prev == h.headers[i].value.n, "environ: value offset");
      prev = val;
    }
    H_CHECK(prev == blob.size() || h.headers.empty(), "environ: the blob ends with the last value");
  }

  Options o_;
  gts::ParserShared shared_;
  gts::ParserConfig other_cfg_ = base_config();
  gts::RequestParser parser_;
  gts::RequestParser other_;
  std::string pending_;
  bool eof_ = false;
  bool active_ = false;
  bool done_ = false;
  Outcome out_;
};

inline Outcome run(const Options& o, const uint8_t* data, size_t n) {
  Connection c(o);
  uint32_t rng = o.seed;
  auto next = [&rng]() {
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
  };
  size_t i = 0;
  const bool eof_last = o.eof && !o.eof_separate;
  if (o.split == Split::kWhole || n == 0) {
    c.feed(data, n, eof_last);
  } else {
    const size_t fixed = 2 + next() % 30;
    while (i < n && !c.done()) {
      size_t k = 1;
      if (o.split == Split::kRandom) k = 1 + next() % 17;
      if (o.split == Split::kFixed) k = fixed;
      if (o.split == Split::kBytes && i >= 512) k = 64;  // keep long inputs cheap (O(n^2) copies)
      if (k > n - i) k = n - i;
      c.feed(data + i, k, eof_last && i + k == n);
      i += k;
    }
  }
  if (o.eof && o.eof_separate) c.feed(data, 0, true);
  return c.outcome();
}

inline std::string describe(const Outcome& o) {
  std::string s = std::to_string(o.reqs.size()) + " request(s), end ";
  s += o.end == End::kClean ? "clean" : o.end == End::kNeedMore ? "need-more" : gts::err_info(o.err).name;
  return s;
}

// The same bytes split differently (and with the shared state used by another
// connection in between) must give the same requests and the same verdict.
inline void check_same(const Outcome& a, const Outcome& b, const char* what) {
  bool same = a.reqs.size() == b.reqs.size() && a.end == b.end && a.err == b.err;
  for (size_t i = 0; same && i < a.reqs.size(); i++) same = a.reqs[i] == b.reqs[i];
  if (!same) {
    std::fprintf(stderr, "split dependence (%s): reference %s, split %s\n", what, describe(a).c_str(),
                 describe(b).c_str());
    for (size_t i = 0; i < a.reqs.size() && i < b.reqs.size(); i++) {
      if (!(a.reqs[i] == b.reqs[i])) std::fprintf(stderr, "  request %zu differs\n", i);
    }
    H_CHECK(false, "outcome independent of how the bytes were split");
  }
}

// One fuzz case: the reference (whole input, no interleaving) and the variant
// the input asks for.
inline void fuzz_one(const uint8_t* data, size_t size) {
  if (size < 2) return;
  Options o = decode_options(data[0], data[1]);
  o.seed = fnv1a(data, size);
  Options ref = o;
  ref.split = Split::kWhole;
  ref.interleave = false;
  ref.eof_separate = false;
  Outcome a = run(ref, data + 2, size - 2);
  if (o.split == Split::kWhole && !o.interleave && !o.eof_separate) return;
  Outcome b = run(o, data + 2, size - 2);
  check_same(a, b, "fuzz variant");
}

}  // namespace harness
