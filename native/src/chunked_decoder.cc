#include "chunked_decoder.h"

#include <cstring>

#include "ascii.h"

namespace gts {

size_t ChunkedDecoder::fail(Err e, const char* detail) {
  err_ = e;
  detail_ = detail;
  return 0;
}

size_t ChunkedDecoder::decode(const char* p, size_t n, const ChunkedLimits& lim, const char** data, size_t* data_len) {
  if (err_ != Err::kOk) return 0;
  size_t i = 0;
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(p[i]);
    switch (state_) {
      case State::kSizeStart:
      case State::kSize: {
        int h = ascii::hexval(c);
        if (h >= 0) {
          if (digits_ > 0 || h > 0) {
            // more than 15 significant hex digits overflows 2^60: reject, never wrap
            if (digits_ >= 15) return fail(Err::kInvalidChunkSize, "chunk size overflow");
            chunk_left_ = (chunk_left_ << 4) | static_cast<uint64_t>(h);
            digits_++;
          }
          if (++line_bytes_ > lim.line_bytes) return fail(Err::kInvalidChunkSize, "chunk size line too long");
          state_ = State::kSize;
          i++;
          continue;
        }
        if (state_ == State::kSizeStart) return fail(Err::kInvalidChunkSize, "invalid chunk size");
        if (c == ';') {
          state_ = State::kExt;
          i++;
          continue;
        }
        if (c == ' ' || c == '\t') {
          state_ = State::kSizeWs;
          i++;
          continue;
        }
        if (c == '\r') {
          state_ = State::kSizeLf;
          i++;
          continue;
        }
        return fail(Err::kInvalidChunkSize, "invalid character in chunk size");
      }
      case State::kSizeWs:
        if (c == ' ' || c == '\t') {
          // BWS before ';' (RFC 9112 §7.1.1) counts toward the size line's bound like
          // the digits and the extension do: an endless run of spaces is refused,
          // not consumed for ever (found reviewing fuzz coverage).
          if (++line_bytes_ > lim.line_bytes) return fail(Err::kInvalidChunkSize, "chunk size line too long");
          i++;
          continue;
        }
        if (c == ';') {
          state_ = State::kExt;
          i++;
          continue;
        }
        return fail(Err::kInvalidChunkSize, "whitespace after chunk size");
      case State::kExt:
        // chunk-ext bytes: no CTL except HTAB; the CR must be followed by LF.
        if (c == '\r') {
          state_ = State::kSizeLf;
          i++;
          continue;
        }
        if (ascii::is_ctl(c)) return fail(Err::kInvalidChunkExtension, "control byte in chunk extension");
        if (++line_bytes_ > lim.line_bytes) return fail(Err::kInvalidChunkExtension, "chunk extension too long");
        i++;
        continue;
      case State::kSizeLf:
        if (c != '\n') return fail(Err::kInvalidChunkSize, "bare CR in chunk size line");
        i++;
        line_bytes_ = 0;
        digits_ = 0;
        if (chunk_left_ == 0) {
          state_ = State::kTrailer;
          if (trailer_line_) trailer_line_->clear();
          else trailer_line_.reset(new std::string());
        } else {
          if (lim.body_bytes > 0 && received_ + chunk_left_ > lim.body_bytes) {
            return fail(Err::kRequestBodyTooLarge, "request body larger than limit_request_body");
          }
          state_ = State::kData;
        }
        continue;
      case State::kData: {
        size_t take = n - i < chunk_left_ ? n - i : static_cast<size_t>(chunk_left_);
        *data = p + i;
        *data_len = take;
        chunk_left_ -= take;
        received_ += take;
        i += take;
        if (chunk_left_ == 0) state_ = State::kDataCr;
        return i;  // hand the data out before decoding further
      }
      case State::kDataCr:
        if (c != '\r') return fail(Err::kChunkMissingTerminator, "chunk data not followed by CRLF");
        state_ = State::kDataLf;
        i++;
        continue;
      case State::kDataLf:
        if (c != '\n') return fail(Err::kChunkMissingTerminator, "chunk data not followed by CRLF");
        state_ = State::kSizeStart;
        i++;
        continue;
      case State::kTrailer: {
        const char* lf = static_cast<const char*>(std::memchr(p + i, '\n', n - i));
        size_t take = lf ? static_cast<size_t>(lf - (p + i)) + 1 : n - i;
        trailer_line_->append(p + i, take);
        i += take;
        if (trailer_line_->size() > lim.line_bytes) return fail(Err::kLimitRequestHeaders, "trailer field too large");
        if (!lf) continue;
        if (!trailer_line(*trailer_line_, lim)) return 0;
        trailer_line_->clear();
        if (state_ == State::kDone) return i;
        continue;
      }
      case State::kDone: return i;
    }
  }
  return i;
}

bool ChunkedDecoder::trailer_line(const std::string& line, const ChunkedLimits& lim) {
  size_t n = line.size();
  if (n < 2 || line[n - 2] != '\r') {
    fail(Err::kInvalidHeader, "bare LF in trailer");
    return false;
  }
  n -= 2;
  if (n == 0) {
    state_ = State::kDone;
    return true;
  }
  const char* s = line.data();
  if (std::memchr(s, '\r', n) != nullptr) {
    fail(Err::kInvalidHeader, "bare CR in trailer");
    return false;
  }
  if (ascii::is_ows(s[0])) {
    fail(Err::kObsoleteFolding, "obsolete folding in trailer");
    return false;
  }
  if (++trailer_count_ > lim.trailer_fields) {
    fail(Err::kLimitRequestHeaders, "too many trailer fields");
    return false;
  }
  const char* colon = static_cast<const char*>(std::memchr(s, ':', n));
  if (colon == nullptr || colon == s) {
    fail(Err::kInvalidHeader, "malformed trailer field");
    return false;
  }
  size_t nl = static_cast<size_t>(colon - s);
  for (size_t i = 0; i < nl; i++) {
    if (!ascii::is_tchar(s[i])) {
      fail(Err::kInvalidHeaderName, "trailer name is not a token");
      return false;
    }
  }
  for (size_t i = nl + 1; i < n; i++) {
    if (ascii::is_ctl(static_cast<unsigned char>(s[i]))) {
      fail(Err::kInvalidHeader, "control byte in trailer value");
      return false;
    }
  }
  // RFC 9110 §6.5.1: framing, routing and authentication fields must not be
  // sent as trailers (Gunicorn's list).
  static const char* kForbidden[] = {"host", "content-length", "transfer-encoding", "trailer", "authorization", "te"};
  for (const char* f : kForbidden) {
    if (ascii::ieq_lower(s, nl, f)) {
      fail(Err::kInvalidHeaderName, "forbidden trailer field");
      return false;
    }
  }
  return true;
}

}  // namespace gts
