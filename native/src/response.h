// Response head serialisation: validates what the application passed to
// start_response() and writes the status line and header block the way
// Gunicorn does (Server, Date, Connection first, then Transfer-Encoding, then
// the application's headers minus hop-by-hop ones). Pure C++.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string>

namespace gts {

enum class Framing : uint8_t {
  kNone,     // no body may be sent (HEAD, 1xx, 204, 304)
  kLength,   // Content-Length (the application's, or computed by us)
  kChunked,  // Transfer-Encoding: chunked (HTTP/1.1, length unknown)
  kClose,    // body delimited by closing the connection (HTTP/1.0, length unknown)
};

// Result codes of build_head(), shared with JS (lib/native.ts RespondResult).
enum class HeadError : int {
  kOk = 0,
  kBadStatus = 2,         // status is not "NNN reason" with a printable reason
  kBadHeader = 3,         // header name not a token, or CR/LF/CTL/non-latin-1 in a value
  kBadContentLength = 4,  // the application's Content-Length is not 1*DIGIT
};

struct RequestFacts {
  uint8_t version_major = 1, version_minor = 1;
  bool is_head = false;
  bool keep_alive = false;  // the request allows the connection to persist
};

struct ResponsePlan {
  uint64_t length = 0;  // for kLength: bytes of body that will be sent
  int status = 0;
  Framing framing = Framing::kNone;
  bool keep_alive = false;
  bool send_body = false;
};

// Cached IMF-fixdate (RFC 9110 §5.6.7), refreshed when the second changes.
class DateCache {
 public:
  const std::string& get();

 private:
  time_t last_ = 0;
  std::string value_;
};

// The application's part of a response head, validated and narrowed once from
// what it passed to start_response(): the status line text, the header lines
// it keeps ("Name: value\r\n", hop-by-hop fields dropped, values OWS-trimmed)
// and its Content-Length. Independent of the request, so one AppHead can serve
// every response that repeats the same status and headers (JsServer caches them).
struct AppHead {
  int status = 0;           // 0: not valid
  std::string status_text;  // "NNN reason" (a bare "NNN" gets its trailing space)
  std::string lines;
  int64_t app_length = -1;  // the application's Content-Length, -1 if none
};

// Validates `status`/`hdrs` (UTF-16 code units as JS strings hold them;
// anything above U+00FF is rejected, never truncated) into `app`. `hdrs` is a
// sequence of NAME '\0' VALUE '\n' entries, `nhdrs` of them. On an error `app`
// is left invalid (status 0).
HeadError prepare_head(const char16_t* status, size_t slen, const char16_t* hdrs, size_t hlen, uint32_t nhdrs,
                       AppHead* app);

// Appends the head for one request to `out`: status line with the request's
// version, Server, Date, Connection, Transfer-Encoding, the application's lines,
// and Content-Length when `known_length` >= 0 (the whole body is known now) and
// the application gave none. `want_close` forces Connection: close.
void emit_head(std::string& out, const RequestFacts& req, const AppHead& app, int64_t known_length, bool want_close,
               const std::string& date, ResponsePlan* plan);

// prepare_head() then emit_head() (the response fuzz target's entry point).
HeadError build_head(std::string& out, const RequestFacts& req, const char16_t* status, size_t slen,
                     const char16_t* hdrs, size_t hlen, uint32_t nhdrs, int64_t known_length, bool want_close,
                     const std::string& date, ResponsePlan* plan);

// Canned error response, written like Gunicorn's util.write_error: HTTP/1.1,
// Connection: close, Content-Type: text/html, a small HTML page.
void build_error(std::string& out, int status, const char* reason, const char* message);

// Chunk framing helper: "<hex>\r\n"
void append_chunk_header(std::string& out, size_t n);

}  // namespace gts
