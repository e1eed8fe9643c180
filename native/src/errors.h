// Protocol errors of the native core: one stable number per failure, mirrored by
// lib/http/errors.ts (GTS_ERR_* names). The numbers cross into JS; never reuse one.
#pragma once
#include <cstdint>

namespace gts {

enum class Err : uint8_t {
  kOk = 0,
  kInvalidRequestLine = 1,         // Gunicorn InvalidRequestLine
  kInvalidRequestMethod = 2,       // InvalidRequestMethod
  kInvalidHttpVersion = 3,         // InvalidHTTPVersion
  kInvalidHeader = 4,              // InvalidHeader (bad value, bad framing header, duplicate singleton)
  kInvalidHeaderName = 5,          // InvalidHeaderName
  kObsoleteFolding = 6,            // ObsoleteFolding
  kLimitRequestLine = 7,           // LimitRequestLine (Gunicorn answers 400, not 414)
  kLimitRequestHeaders = 8,        // LimitRequestHeaders (431)
  kUnsupportedTransferCoding = 9,  // UnsupportedTransferCoding (501)
  kInvalidChunkSize = 10,          // InvalidChunkSize
  kChunkMissingTerminator = 11,    // ChunkMissingTerminator
  kInvalidChunkExtension = 12,     // InvalidChunkExtension
  kIncompleteRequest = 13,         // NoMoreData: the client ended the stream inside a message
  kInvalidProxyLine = 14,          // InvalidProxyLine
  kForbiddenProxyRequest = 15,     // ForbiddenProxyRequest (403)
  kExpectationFailed = 16,         // ExpectationFailed (417)
  kRequestBodyTooLarge = 17,       // limit_request_body exceeded (413)
  kInvalidSchemeHeaders = 18,      // raised by the JS environ builder, listed here for the status table
  kBodyTimeout = 19,               // body_timeout / body_min_rate: the client sends its body too slowly (408)
  kRequestTimeout = 20,            // request_timeout, when JS did not answer it itself (503)
  kBadWebSocketHandshake = 21,     // Upgrade: websocket that breaks RFC 6455 §4.2.1 (400)
  kWebSocketVersion = 22,          // Sec-WebSocket-Version other than 13 (426, with Sec-WebSocket-Version: 13)
  kInvalidH2CPreface = 23,         // InvalidH2CPreface: no HTTP/2 preface on a prior-knowledge port (400)
  kCount
};

// Why a request ends before its response did (Bridge::on_abort; lib/native.ts ABORT).
enum class Abort : int {
  kGone = -1,          // the client disconnected, or the connection failed
  kTimeout = 1,        // request_timeout: JS answers 503 if it can (nothing sent yet)
  kTimeoutClosed = 2,  // request_timeout after the head was sent: the connection is closed
};

struct ErrInfo {
  const char* name;    // stable code, "GTS_ERR_..."
  uint16_t status;     // HTTP status sent to the client
  const char* reason;  // reason phrase of that status
};

// Indexed by Err. Statuses follow Gunicorn's handle_error; where Gunicorn closes
// without an answer (truncated message, bad chunk framing) we answer 400.
inline const ErrInfo& err_info(Err e) {
  static const ErrInfo kTable[] = {
      {"GTS_OK", 200, "OK"},
      {"GTS_ERR_INVALID_REQUEST_LINE", 400, "Bad Request"},
      {"GTS_ERR_INVALID_REQUEST_METHOD", 400, "Bad Request"},
      {"GTS_ERR_INVALID_HTTP_VERSION", 400, "Bad Request"},
      {"GTS_ERR_INVALID_HEADER", 400, "Bad Request"},
      {"GTS_ERR_INVALID_HEADER_NAME", 400, "Bad Request"},
      {"GTS_ERR_OBSOLETE_FOLDING", 400, "Bad Request"},
      {"GTS_ERR_LIMIT_REQUEST_LINE", 400, "Bad Request"},
      {"GTS_ERR_LIMIT_REQUEST_HEADERS", 431, "Request Header Fields Too Large"},
      {"GTS_ERR_UNSUPPORTED_TRANSFER_CODING", 501, "Not Implemented"},
      {"GTS_ERR_INVALID_CHUNK_SIZE", 400, "Bad Request"},
      {"GTS_ERR_CHUNK_MISSING_TERMINATOR", 400, "Bad Request"},
      {"GTS_ERR_INVALID_CHUNK_EXTENSION", 400, "Bad Request"},
      {"GTS_ERR_INCOMPLETE_REQUEST", 400, "Bad Request"},
      {"GTS_ERR_INVALID_PROXY_LINE", 400, "Bad Request"},
      {"GTS_ERR_FORBIDDEN_PROXY_REQUEST", 403, "Forbidden"},
      {"GTS_ERR_EXPECTATION_FAILED", 417, "Expectation Failed"},
      {"GTS_ERR_REQUEST_BODY_TOO_LARGE", 413, "Request Entity Too Large"},
      {"GTS_ERR_INVALID_SCHEME_HEADERS", 400, "Bad Request"},
      {"GTS_ERR_BODY_TIMEOUT", 408, "Request Timeout"},
      {"GTS_ERR_REQUEST_TIMEOUT", 503, "Service Unavailable"},
      {"GTS_ERR_BAD_WEBSOCKET_HANDSHAKE", 400, "Bad Request"},
      {"GTS_ERR_WEBSOCKET_VERSION", 426, "Upgrade Required"},
      {"GTS_ERR_INVALID_H2C_PREFACE", 400, "Bad Request"},
  };
  static_assert(sizeof(kTable) / sizeof(kTable[0]) == static_cast<size_t>(Err::kCount),
                "error table out of step with Err");
  return kTable[static_cast<size_t>(e)];
}

}  // namespace gts
