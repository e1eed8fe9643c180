// The WebSocket opening handshake, server side (RFC 6455 §4.2): checking an
// HTTP/1.1 request that asks for `Upgrade: websocket`, the Sec-WebSocket-Accept
// value (SHA-1 and base64 from the OpenSSL that node exports) and the 101
// response. Pure C++ over RequestHead (unit-tested by test/native/ws_test.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "request_parser.h"

namespace gts {

enum class WsHandshakeResult : uint8_t {
  kNotWebSocket,  // no `websocket` token in Upgrade: an ordinary request (h2c, or another protocol)
  kValid,
  kBad,         // asks for a WebSocket but breaks §4.2.1: 400
  kBadVersion,  // Sec-WebSocket-Version is not 13: 426 with Sec-WebSocket-Version: 13
};

// The facts of a valid handshake, kept while the application decides.
struct WsHandshake {
  char key[24];
  std::string protocols;   // Sec-WebSocket-Protocol lines, joined with ','
  std::string extensions;  // Sec-WebSocket-Extensions lines, joined with ',' (ws_negotiate())
};

WsHandshakeResult ws_check_handshake(const RequestHead& h, WsHandshake* hs);

// base64(SHA-1(key + GUID)): 28 characters and a NUL into out.
bool ws_accept_key(const char* key, size_t n, char out[29]);

// Whether `proto` is one of the comma-separated tokens the client offered.
bool ws_protocol_offered(const std::string& offered, const char* proto, size_t n);

// HTTP/1.1 101 with Upgrade, Connection, Sec-WebSocket-Accept, the chosen subprotocol if any, then the
// application's extra header lines (already "Name: value\r\n" each, validated) and the blank line.
void ws_build_101(std::string& out, const WsHandshake& hs, const char* proto, size_t proto_len, const char* extra,
                  size_t extra_len);

}  // namespace gts
