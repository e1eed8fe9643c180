// Strict decoder of the chunked transfer coding (RFC 9112 §7.1), a small
// object with its own state (like picohttpparser's phr_chunked_decoder), fed
// any split of the body bytes. Pure C++; fuzzed on its own
// (test/native/fuzz_chunked.cc, FUZZ_TARGET=chunked) and inside the request
// parser (test/native/fuzz_parser.cc).
//   chunk-size [ BWS ";" ext ] CRLF data CRLF ... "0" [ext] CRLF trailers CRLF
// Whitespace after the size is allowed only before an extension (Gunicorn);
// leading whitespace, signs, '_' and a bare CR/LF in the size line are rejected;
// the CRLF after chunk data is required; trailers are checked like header lines
// and framing/routing/authentication fields are refused there.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "errors.h"

namespace gts {

struct ChunkedLimits {
  uint32_t line_bytes;      // one chunk-size line or trailer line (field_size_limit)
  uint32_t trailer_fields;  // number of trailer fields (fields_limit)
  uint64_t body_bytes;      // decoded body bytes, 0 = unlimited (limit_request_body)
};

class ChunkedDecoder {
 public:
  ChunkedDecoder() = default;
  ChunkedDecoder(const ChunkedDecoder&) = delete;
  ChunkedDecoder& operator=(const ChunkedDecoder&) = delete;

  void reset() {
    chunk_left_ = received_ = 0;
    digits_ = line_bytes_ = trailer_count_ = 0;
    state_ = State::kSizeStart;
    err_ = Err::kOk;
    detail_ = "";
    if (trailer_line_) trailer_line_.reset();
  }
  // Decodes from p[0..n) and returns the bytes consumed. A piece of body data
  // ends the call: it is returned through *data/*data_len (pointing into p).
  // On a framing error returns 0 with error() set; done() turns true after the
  // last trailer's CRLF (bytes after it are not consumed).
  size_t decode(const char* p, size_t n, const ChunkedLimits& lim, const char** data, size_t* data_len);
  bool done() const { return state_ == State::kDone; }
  Err error() const { return err_; }
  const char* detail() const { return detail_; }
  // What a stream that ends before done() means (no byte beyond the trailers'
  // start: a missing terminator; anywhere else: an incomplete request).
  Err eof_error() const { return state_ == State::kTrailer ? Err::kChunkMissingTerminator : Err::kIncompleteRequest; }

 private:
  enum class State : uint8_t { kSizeStart, kSize, kSizeWs, kExt, kSizeLf, kData, kDataCr, kDataLf, kTrailer, kDone };
  size_t fail(Err e, const char* detail);
  bool trailer_line(const std::string& line, const ChunkedLimits& lim);

  uint64_t chunk_left_ = 0;  // size being read, then data bytes left of the current chunk
  uint64_t received_ = 0;    // decoded body bytes so far (for body_bytes)
  uint32_t digits_ = 0;      // significant hex digits of the size
  uint32_t line_bytes_ = 0;  // bytes of the current size line
  uint32_t trailer_count_ = 0;
  State state_ = State::kSizeStart;
  Err err_ = Err::kOk;
  const char* detail_ = "";
  std::unique_ptr<std::string> trailer_line_;  // allocated only when a body has trailers
};

}  // namespace gts
