// The request's environ, packed for JS without N-API: one latin-1 blob holding
// method, target, decoded path, query, remote address and port, PROXY fields,
// then environ key/value pairs; meta[] holds the end offset of each piece and
// the head's facts (layout: MetaSlot and Flag below, mirrored by lib/native.ts
// M and F). Common header names cross as an index into known_header_keys(),
// which JS holds as internalised strings. Pure C++ (fuzzed with the parser:
// test/native/fuzz_parser.cc packs every head it parses).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "request_parser.h"

namespace gts {

enum MetaSlot : uint32_t {
  kMetaCount = 0,
  kMetaFlags = 1,
  kMetaMethodEnd = 2,
  kMetaTargetEnd = 3,
  kMetaPathEnd = 4,
  kMetaQueryEnd = 5,
  kMetaRemoteEnd = 6,
  kMetaRemotePort = 7,
  kMetaProxyProtoEnd = 8,
  kMetaProxySrcEnd = 9,
  kMetaProxyDstEnd = 10,
  kMetaProxySrcPort = 11,
  kMetaProxyDstPort = 12,
  kMetaContentLengthLo = 13,
  kMetaContentLengthHi = 14,
  kMetaHeaders = 16,  // then (key_end, value_end) pairs
};

enum Flag : uint32_t {
  kFlagKeepAlive = 1u << 8,
  kFlagBodyFollows = 1u << 9,
  kFlagChunked = 1u << 10,
  kFlagExpectContinue = 1u << 11,
  kFlagTrusted = 1u << 12,
  kFlagUnix = 1u << 13,
  kFlagProxy = 1u << 14,
  kFlagHead = 1u << 15,
  kFlagUpgrade = 1u << 16,
  kFlagScriptName = 1u << 17,
  kFlagHasLength = 1u << 18,
  kFlagHttp2 = 1u << 19,      // an HTTP/2 stream (h2_session.cc)
  kFlagWebSocket = 1u << 20,  // a valid WebSocket handshake: the application may upgrade
};

// A key slot with this bit set holds an index into known_header_keys() instead of an end offset.
constexpr uint32_t kKnownFlag = 0x80000000u;
// A value slot with this bit set: its environ key may repeat an earlier one of the request.
constexpr uint32_t kMaybeRepeat = 0x40000000u;

// meta[] slots needed for heads of at most `fields` header fields.
inline uint32_t meta_slots(uint32_t fields) { return kMetaHeaders + 2 * fields + 2; }

// What environ needs to know about the connection.
struct PeerFacts {
  const char* remote_addr = "";  // numeric address, "" for unix sockets
  uint16_t remote_port = 0;
  bool is_unix = false;
  bool trusted = false;  // in forwarded_allow_ips
  uint8_t listener_index = 0;
  const ProxyInfo* proxy = nullptr;
};

// Fills `blob` and `meta` (meta_slots(head.headers.size()) slots at least).
void pack_environ(const RequestHead& h, const PeerFacts& peer, bool body_follows, std::string& blob, uint32_t* meta);

// environ keys of the known header names, in index order (HTTP_HOST, ...,
// CONTENT_TYPE, CONTENT_LENGTH).
uint32_t known_header_count();
std::string known_header_key(uint32_t i);

}  // namespace gts
