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
  kBadStatus = 2,          // status is not "NNN reason" with a printable reason
  kBadHeader = 3,          // header name not a token, or CR/LF/CTL/non-latin-1 in a value
  kBadContentLength = 4,   // the application's Content-Length is not 1*DIGIT
};

struct RequestFacts {
  uint8_t version_major = 1, version_minor = 1;
  bool is_head = false;
  bool keep_alive = false;  // the request allows the connection to persist
};

struct ResponsePlan {
  uint64_t length = 0;   // for kLength: bytes of body that will be sent
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

// Builds the response head into `out`. `status`/`hdrs` are UTF-16 code units as
// JS strings hold them (anything above U+00FF is rejected, never truncated).
// `hdrs` is a sequence of NAME '\0' VALUE '\n' entries, `nhdrs` of them.
// `known_length` >= 0 when the whole body is known now (the server then sets
// Content-Length if the application did not). `want_close` forces Connection: close.
HeadError build_head(std::string& out, const RequestFacts& req, const char16_t* status, size_t slen,
                     const char16_t* hdrs, size_t hlen, uint32_t nhdrs, int64_t known_length, bool want_close,
                     const std::string& date, ResponsePlan* plan);

// Canned error response, written like Gunicorn's util.write_error: HTTP/1.1,
// Connection: close, Content-Type: text/html, a small HTML page.
void build_error(std::string& out, int status, const char* reason, const char* message);

// Chunk framing helper: "<hex>\r\n"
void append_chunk_header(std::string& out, size_t n);

}  // namespace gts
