// Strict HTTP/1.x request parser: Gunicorn's request grammar, RFC 9110/9112
// framing rules, llhttp for header-section tokenising. Pure C++ (no N-API, no
// libuv) so that it can be unit-tested and fuzzed on its own
// (test/native/fuzz_parser.cc).
//
// Division of labour:
//  * HeadScanner (ours) runs first over the raw bytes of each head, line by line:
//    CRLF discipline (no bare CR, no bare LF), request line grammar, obs-fold,
//    token/CTL checks, Gunicorn's size and count limits. Because it sees every
//    byte before llhttp does, llhttp 8.1's known head bugs (CVE-2023-30589 bare
//    CR, CVE-2024-27982 obs-fold before Content-Length) cannot be reached.
//  * llhttp then tokenises the validated header section (field/value split,
//    Content-Length parsing, Connection tokens). llhttp's method table cannot
//    express Gunicorn's method grammar (any token, e.g. "-BLARGH"), so it is fed a
//    canonical request line carrying only the HTTP version.
//  * Framing decisions (Content-Length vs Transfer-Encoding) follow Gunicorn's
//    rules, checked here over llhttp's callbacks.
//  * Bodies are decoded here: a Content-Length counter and a strict chunked
//    decoder. llhttp 8.1's chunked decoder does not check the CRLF after chunk
//    data and accepts a bare CR inside chunk extensions (both smuggling vectors),
//    so it is not used for bodies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "chunked_decoder.h"
#include "errors.h"
#include "llhttp.h"
#include "proxy_protocol.h"

namespace gts {

enum class HeaderMap : uint8_t { kDrop = 0, kRefuse = 1, kDangerous = 2 };
enum class ProxyMode : uint8_t { kOff = 0, kV1 = 1, kV2 = 2, kAuto = 3 };

// The setting names of each enum's values, in enum order (what the options
// object carries; addon.cc maps them generically through enum_from_name()).
inline bool enum_from_name(const std::string& s, HeaderMap* out) {
  static const char* const kNames[] = {"drop", "refuse", "dangerous"};
  for (uint8_t i = 0; i < 3; i++) {
    if (s == kNames[i]) {
      *out = static_cast<HeaderMap>(i);
      return true;
    }
  }
  return false;
}
inline bool enum_from_name(const std::string& s, ProxyMode* out) {
  static const char* const kNames[] = {"off", "v1", "v2", "auto"};
  for (uint8_t i = 0; i < 4; i++) {
    if (s == kNames[i]) {
      *out = static_cast<ProxyMode>(i);
      return true;
    }
  }
  return false;
}

// Every parser setting: X(C++ type, name). The name is the setting's name in
// the registry (lib/config/settings.ts, marked `native: true`), which holds its
// default and meaning; addon.cc reads each key of this list from the options
// object, with no default of its own. Adding a parser setting: a registry entry,
// a line here, its use in the parser, a test.
//   limit_request_line        bytes of the request line without CRLF; 0 = no Gunicorn limit
//   limit_request_fields      number of header fields
//   limit_request_field_size  bytes of one header line including CRLF
//   limit_request_body        0 = unlimited
//   forwarder_headers         names with '_' a trusted peer may send (compared case-insensitively)
#define GTS_PARSER_SETTINGS(X)                \
  X(uint32_t, limit_request_line)             \
  X(uint32_t, limit_request_fields)           \
  X(uint32_t, limit_request_field_size)       \
  X(uint64_t, limit_request_body)             \
  X(bool, permit_obsolete_folding)            \
  X(bool, strip_header_spaces)                \
  X(bool, permit_unconventional_http_method)  \
  X(bool, casefold_http_method)               \
  X(bool, permit_unconventional_http_version) \
  X(HeaderMap, header_map)                    \
  X(ProxyMode, proxy_protocol)                \
  X(std::vector<std::string>, forwarder_headers)

struct ParserConfig {
#define GTS_PARSER_FIELD(type, name) type name{};
  GTS_PARSER_SETTINGS(GTS_PARSER_FIELD)
#undef GTS_PARSER_FIELD

  // Effective limits after Gunicorn's clamping rules.
  uint32_t request_line_limit() const;
  uint32_t fields_limit() const;
  uint32_t field_size_limit() const;
  size_t max_head_bytes() const;
};

struct Slice {
  const char* p = nullptr;
  uint32_t n = 0;
};

struct HeaderField {
  Slice name;   // as received (after optional strip_header_spaces)
  Slice value;  // leading/trailing SP/HTAB removed
};

enum class BodyKind : uint8_t { kNone = 0, kLength = 1, kChunked = 2 };

struct RequestHead {
  Slice method;
  Slice target;  // RAW_URI
  Slice path;    // path part of the target (not decoded)
  Slice query;   // after '?', before '#'
  uint8_t version_major = 1, version_minor = 1;
  std::vector<HeaderField> headers;  // kept, in wire order (dropped '_' names removed)
  BodyKind body = BodyKind::kNone;
  uint64_t content_length = 0;  // for kLength
  bool keep_alive = false;
  bool must_close = false;  // e.g. gzip before chunked (Gunicorn forces close)
  bool expect_continue = false;
  bool is_head = false;
  bool is_connect = false;
  bool upgrade = false;           // Connection: upgrade + Upgrade header present
  bool websocket = false;         // a valid WebSocket handshake (set by Connection::dispatch, ws_handshake.h)
  bool http2 = false;             // an HTTP/2 stream's head (h2_head.h), never set by this parser
  std::string casefolded_method;  // storage when casefold_http_method rewrites it
};

// Per-thread state shared by all connections' parsers: llhttp and the head
// being finished are only used synchronously inside parse_head(), so one copy
// serves every connection (keeps idle connections small).
struct ParserShared {
  ParserShared();
  llhttp_settings_t settings;
  llhttp_t llhttp;
  RequestHead head;
  std::string scratch;  // normalised header section (obs-fold joined, spaces stripped)
  Slice cur_name, cur_value;
  bool in_value = false;
  bool done = false;
};

// Incremental head parser. The caller keeps the bytes of the current head
// contiguous (it may move them, e.g. from a shared read buffer into a
// per-connection buffer; all state is kept as offsets) and calls parse_head()
// again with the same bytes plus whatever arrived since.
class RequestParser {
 public:
  enum class Status : uint8_t { kNeedMore, kDone, kError };

  RequestParser(const ParserConfig* cfg, ParserShared* shared);
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  // New connection: the PROXY preamble is accepted only before the first request.
  void reset_connection(bool peer_trusted, bool proxy_allowed);
  // Next request on the same connection.
  void reset_request();

  // Parses the head. On kDone, head() is valid (slices point into buf or into
  // this parser's scratch memory) until the next call that mutates the parser or
  // buf, and head_length() bytes of buf belong to the head. `eof` says no more
  // bytes will come.
  Status parse_head(const char* buf, size_t len, bool eof);
  size_t head_length() const { return head_len_; }
  // True when parse_head has seen at least one byte of a request (not just idle).
  bool head_started() const { return pos_ > 0; }
  const RequestHead& head() const { return sh_->head; }
  RequestHead& mutable_head() { return sh_->head; }
  // PROXY protocol data received on this connection, or nullptr.
  const ProxyInfo* proxy() const { return proxy_.get(); }
  Err error() const { return err_; }
  const char* error_detail() const { return detail_; }

  // Body decoding. Calls sink(data, len) for every piece of body data and
  // returns the number of input bytes consumed; body_done() turns true when the
  // message ends. On error returns 0 with body_error() set.
  template <typename Sink>
  size_t parse_body(const char* p, size_t n, Sink&& sink);
  bool body_done() const { return body_done_; }
  Err body_error() const { return err_; }
  uint64_t body_received() const { return body_received_; }
  // Per-connection body framing of the current request (the shared head() is
  // only valid right after parse_head()).
  BodyKind body_kind() const { return body_kind_; }
  uint64_t body_left() const { return body_left_; }
  // The stream ended: returns the error to report if the body was incomplete.
  Err body_eof();

 private:
  Status fail(Err e, const char* detail);
  bool scan_request_line(const char* line, size_t n);
  bool parse_target();
  bool scan_header_line(const char* line, size_t n, bool* normalize);
  bool finish_head(const char* buf);
  bool apply_framing_rules();
  ChunkedLimits chunked_limits() const {
    return ChunkedLimits{cfg_->field_size_limit(), cfg_->fields_limit(), cfg_->limit_request_body};
  }

  // Every field below is per connection: kept small (an idle connection
  // should cost well under 1 KB in all).
  const ParserConfig* cfg_;
  ParserShared* sh_;

  // head scanning state (offsets into the caller's buffer; a head is bounded
  // by max_head_bytes(), far below 4 GiB)
  uint32_t pos_ = 0;         // next byte to look at
  uint32_t line_start_ = 0;  // start of the current line
  uint32_t reqline_start_ = 0;
  uint32_t headers_start_ = 0;
  uint32_t head_len_ = 0;
  uint32_t nfields_ = 0;
  uint32_t field_bytes_ = 0;  // bytes of the current field including folded lines
  uint8_t phase_ = 0;         // 0 preamble/request line, 1 headers
  bool need_normalize_ = false;
  bool first_request_ = true;
  bool trusted_ = true;
  bool proxy_allowed_ = true;
  // request line, as offsets (slices are built in finish_head)
  uint32_t m_off_ = 0, m_len_ = 0, t_off_ = 0, t_len_ = 0;
  uint8_t ver_major_ = 1, ver_minor_ = 1;
  Err err_ = Err::kOk;
  // body state (the small fields beside the version bytes: no padding)
  BodyKind body_kind_ = BodyKind::kNone;
  bool body_done_ = true;

  std::unique_ptr<ProxyInfo> proxy_;
  const char* detail_ = "";
  uint64_t body_left_ = 0;
  uint64_t body_received_ = 0;
  ChunkedDecoder chunked_;
};

// ---- inline body decoding -------------------------------------------------

template <typename Sink>
size_t RequestParser::parse_body(const char* p, size_t n, Sink&& sink) {
  if (body_done_ || err_ != Err::kOk) return 0;
  if (body_kind_ == BodyKind::kLength) {
    size_t take = n < body_left_ ? n : static_cast<size_t>(body_left_);
    if (take) sink(p, take);
    body_left_ -= take;
    body_received_ += take;
    if (body_left_ == 0) body_done_ = true;
    return take;
  }
  // chunked
  const ChunkedLimits lim = chunked_limits();
  size_t used = 0;
  while (used < n && !body_done_) {
    const char* data = nullptr;
    size_t data_len = 0;
    size_t k = chunked_.decode(p + used, n - used, lim, &data, &data_len);
    if (chunked_.error() != Err::kOk) {
      fail(chunked_.error(), chunked_.detail());
      return 0;
    }
    if (data_len) sink(data, data_len);
    body_received_ += data_len;
    used += k;
    if (chunked_.done()) body_done_ = true;
  }
  return used;
}

}  // namespace gts
