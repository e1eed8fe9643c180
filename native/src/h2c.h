// HTTP/2 over cleartext (RFC 9113 §3.3 prior knowledge, RFC 7540 §3.2 Upgrade:
// h2c), the parts that need no nghttp2: matching the client connection preface,
// checking an HTTP/1.1 upgrade request, decoding its HTTP2-Settings. Pure C++
// (unit-tested by test/native/h2_test.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "request_parser.h"

namespace gts {

constexpr char kH2Preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr size_t kH2PrefaceLen = sizeof kH2Preface - 1;  // 24
constexpr size_t kH2cUpgradeBodyLimit = 64 * 1024;       // Gunicorn H2C_UPGRADE_BODY_LIMIT

enum class PrefaceMatch : uint8_t { kNeedMore, kMatch, kMismatch };

// The first bytes of a connection against the 24-byte client preface.
PrefaceMatch preface_match(const char* p, size_t n);

// An HTTP2-Settings value (RFC 7540 §3.2.1: base64url, no padding required) into
// the SETTINGS payload it encodes, checked as a SETTINGS frame would be (length a
// multiple of 6, ENABLE_PUSH 0/1, INITIAL_WINDOW_SIZE <= 2^31-1, MAX_FRAME_SIZE in
// range). False on anything invalid.
bool decode_http2_settings(const char* p, size_t n, std::string* payload);

// Whether an HTTP/1.1 request asks to upgrade to h2c in the way RFC 7540 §3.2
// requires (Gunicorn's upgrade_settings): `Upgrade: h2c`, exactly one
// HTTP2-Settings field, both named in Connection, HTTP/1.1, a body of at most
// kH2cUpgradeBodyLimit (length-delimited). On true, *settings is the field's value.
bool h2c_upgrade_request(const RequestHead& h, Slice* settings);

}  // namespace gts
