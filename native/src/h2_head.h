// An HTTP/2 request head from the decoded field list of a HEADERS block, and a
// response head as HTTP/2 fields (docs/design/http2.md §2). Pure C++, no
// nghttp2 (which has already checked RFC 9113 §8's pseudo-header and field
// rules when it calls us): unit-tested by test/native/h2_test.cc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "errors.h"
#include "request_parser.h"
#include "response.h"

namespace gts {

// The limits one head is held to: the HTTP/1 parser's (limit_request_fields,
// limit_request_field_size, header_map, forwarder_headers) plus the HTTP/2
// header list size (RFC 9113 §6.5.2: name + value + 32 per field; 0: none).
struct H2HeadLimits {
  const ParserConfig* parser = nullptr;
  uint32_t max_header_list = 0;
  bool trusted = false;  // the peer is in forwarded_allow_ips
};

// Collects one stream's fields (copied: nghttp2's buffers live only during its
// callback) and builds the RequestHead JS sees. Once a limit is passed the rest
// of the fields are only counted (the HPACK state stays in sync) and finish()
// fails with the error to answer (431 for the limits, 400 for a refused name).
class H2HeadBuilder {
 public:
  void reset();
  void add(const char* name, size_t nlen, const char* value, size_t vlen, const H2HeadLimits& lim);
  // The head, valid while this builder is unchanged; false with err() set.
  bool finish(RequestHead* out);
  Err err() const { return err_; }
  const char* detail() const { return detail_; }
  // The request has a body of this length (content-length), or -1.
  int64_t content_length() const { return content_length_; }
  size_t memory() const { return arena_.capacity() + fields_.capacity() * sizeof(Field); }

 private:
  struct Field {
    uint32_t no, nl, vo, vl;
  };
  void fail(Err e, const char* detail) {
    if (err_ == Err::kOk) {
      err_ = e;
      detail_ = detail;
    }
  }
  Slice at(uint32_t o, uint32_t n) const { return Slice{arena_.data() + o, n}; }
  uint32_t put(const char* p, size_t n) {
    uint32_t o = static_cast<uint32_t>(arena_.size());
    arena_.append(p, n);
    return o;
  }

  std::string arena_;
  std::vector<Field> fields_;
  Field method_{}, path_{}, authority_{};
  bool has_method_ = false, has_path_ = false, has_authority_ = false;
  std::string cookies_;  // RFC 9113 §8.2.3: crumbs joined with "; "
  uint64_t list_size_ = 0;
  uint32_t nfields_ = 0;
  int64_t content_length_ = -1;
  Err err_ = Err::kOk;
  const char* detail_ = "";
};

// One response field as HTTP/2 sends it (lower-case name).
struct H2Field {
  uint32_t no, nl, vo, vl;  // offsets into the owner's text
};

// The application's header lines ("Name: value\r\n", AppHead::lines) as HTTP/2
// fields: names lower-cased into `text`, connection-specific fields (RFC 9113
// §8.2.2: connection, keep-alive, proxy-connection, transfer-encoding, upgrade)
// and any content-length left out (the caller adds its own).
void h2_app_fields(const AppHead& app, std::string* text, std::vector<H2Field>* fields);

}  // namespace gts
