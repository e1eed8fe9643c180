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

#include "errors.h"
#include "llhttp.h"

namespace gts {

enum class HeaderMap : uint8_t { kDrop = 0, kRefuse = 1, kDangerous = 2 };
enum class ProxyMode : uint8_t { kOff = 0, kV1 = 1, kV2 = 2, kAuto = 3 };

struct ParserConfig {
  uint32_t limit_request_line = 4094;        // bytes of the request line without CRLF; 0 = no Gunicorn limit
  uint32_t limit_request_fields = 100;       // number of header fields
  uint32_t limit_request_field_size = 8190;  // bytes of one header line including CRLF
  uint64_t limit_request_body = 0;           // 0 = unlimited
  bool permit_obsolete_folding = false;
  bool strip_header_spaces = false;
  bool permit_unconventional_http_method = false;
  bool casefold_http_method = false;
  bool permit_unconventional_http_version = false;
  HeaderMap header_map = HeaderMap::kDrop;
  ProxyMode proxy_protocol = ProxyMode::kOff;
  // Names (upper-case, '-' or '_' as sent) with '_' that a trusted peer may send
  // (Gunicorn's forwarder_headers, default SCRIPT_NAME,PATH_INFO).
  std::vector<std::string> forwarder_headers{"SCRIPT_NAME", "PATH_INFO"};

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

struct ProxyInfo {
  bool present = false;
  std::string proto;  // "TCP4" / "TCP6" / "UNKNOWN"
  std::string src_addr, dst_addr;
  uint16_t src_port = 0, dst_port = 0;
};

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
  bool scan_proxy_v1(const char* line, size_t n);
  int scan_proxy_v2(const char* buf, size_t len);  // -1 error, 0 need more, >0 bytes used
  bool finish_head(const char* buf);
  bool apply_framing_rules();
  size_t chunked(const char* p, size_t n, const char** data, size_t* data_len);
  bool trailer_line(const std::string& line);

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

  std::unique_ptr<ProxyInfo> proxy_;
  Err err_ = Err::kOk;
  const char* detail_ = "";

  // body state
  BodyKind body_kind_ = BodyKind::kNone;
  uint64_t body_left_ = 0;
  uint64_t body_received_ = 0;
  bool body_done_ = true;
  uint8_t cstate_ = 0;
  uint32_t chunk_digits_ = 0;
  uint32_t trailer_count_ = 0;
  uint32_t line_bytes_ = 0;
  std::unique_ptr<std::string> trailer_line_;  // allocated only when a chunked body has trailers
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
  size_t used = 0;
  while (used < n && !body_done_) {
    const char* data = nullptr;
    size_t data_len = 0;
    size_t k = chunked(p + used, n - used, &data, &data_len);
    if (err_ != Err::kOk) return 0;
    if (data_len) sink(data, data_len);
    used += k;
  }
  return used;
}

}  // namespace gts
