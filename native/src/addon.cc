// N-API glue: the only file that knows about JS. Exposes
//   createServer(options, callbacks, meta) -> NativeServer
//   listenTcp / listenUnix / sockName / setInheritable (plain fds for the arbiter)
//   constants: error codes and names, result codes, meta slots.
//
// The C++ -> JS contract is numbered (see lib/native.ts, which must match):
//   callbacks[0] onRequest(id, blob, inlineBody|undefined)  -- head facts are in `meta`
//   callbacks[1] onBody(id, Buffer)          callbacks[2] onBodyEnd(id, errCode)
//   callbacks[3] onAbort(id)                 callbacks[4] onDrain(id)
//   callbacks[5] onProtocolError(code, remoteAddr, detail)
//   callbacks[6] onClosed()
// `blob` is one latin-1 string holding method, target, decoded path, query,
// remote address, PROXY fields, then environ key/value pairs; meta[] holds the
// end offset of each piece (layout: kMeta* below).
#include <napi.h>
#include <uv.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "balance.h"
#include "connection.h"
#include "errors.h"
#include "server.h"
#include "sockets.h"

namespace gts {
namespace {

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
};

enum CbSlot { kCbRequest, kCbBody, kCbBodyEnd, kCbAbort, kCbDrain, kCbProtocolError, kCbClosed, kCbCount };

enum RespondFlag : uint32_t { kRespFinal = 1, kRespClose = 2, kRespWhole = 4 };

// Validated application heads kept for reuse; JS's head cache uses keys 1..kHeadSlots-1.
constexpr uint32_t kHeadSlots = 16;

inline char up(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c; }
inline int hexv(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Common request headers: their environ keys cross as an index into a table
// JS holds as internalised strings, so building environ hashes no key text.
const char* const kKnownHeaders[] = {"HOST",
                                     "USER-AGENT",
                                     "ACCEPT",
                                     "ACCEPT-ENCODING",
                                     "ACCEPT-LANGUAGE",
                                     "ACCEPT-CHARSET",
                                     "CONNECTION",
                                     "CACHE-CONTROL",
                                     "COOKIE",
                                     "REFERER",
                                     "ORIGIN",
                                     "AUTHORIZATION",
                                     "IF-NONE-MATCH",
                                     "IF-MODIFIED-SINCE",
                                     "UPGRADE-INSECURE-REQUESTS",
                                     "X-FORWARDED-FOR",
                                     "X-FORWARDED-PROTO",
                                     "X-FORWARDED-HOST",
                                     "X-REAL-IP",
                                     "X-REQUEST-ID",
                                     "PRAGMA",
                                     "DNT",
                                     "TE",
                                     "UPGRADE",
                                     "RANGE",
                                     "EXPECT",
                                     "X-REQUESTED-WITH",
                                     "SEC-FETCH-SITE",
                                     "SEC-FETCH-MODE",
                                     "SEC-FETCH-DEST",
                                     "SEC-FETCH-USER",
                                     "SEC-CH-UA",
                                     "SEC-CH-UA-MOBILE",
                                     "SEC-CH-UA-PLATFORM",
                                     "CONTENT-ENCODING",
                                     "TRANSFER-ENCODING",
                                     "VIA",
                                     "FORWARDED",
                                     "CONTENT-TYPE",
                                     "CONTENT-LENGTH"};
constexpr uint32_t kKnownCount = sizeof(kKnownHeaders) / sizeof(kKnownHeaders[0]);
constexpr uint32_t kKnownFlag = 0x80000000u;

// Appends HTTP_ + the header name upper-cased with '-' as '_' (PEP 3333 / CGI).
void append_http_key(std::string& out, const char* name, size_t n) {
  out.append("HTTP_");
  for (size_t i = 0; i < n; i++) out.push_back(name[i] == '-' ? '_' : up(name[i]));
}

// environ key of a known header name: CONTENT_TYPE and CONTENT_LENGTH bare,
// everything else through append_http_key().
std::string env_key(const char* upper_name) {
  if (std::strcmp(upper_name, "CONTENT-TYPE") == 0) return "CONTENT_TYPE";
  if (std::strcmp(upper_name, "CONTENT-LENGTH") == 0) return "CONTENT_LENGTH";
  std::string k;
  append_http_key(k, upper_name, std::strlen(upper_name));
  return k;
}

bool name_eq(const Slice& s, const char* lit) {
  size_t n = std::strlen(lit);
  if (s.n != n) return false;
  for (size_t i = 0; i < n; i++) {
    if (up(s.p[i]) != lit[i]) return false;
  }
  return true;
}

inline uint32_t fnv1a(const char* p, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ static_cast<unsigned char>(p[i])) * 16777619u;
  return h;
}

// A value slot with this bit set: its environ key may repeat an earlier one.
constexpr uint32_t kMaybeRepeat = 0x40000000u;
constexpr size_t kSeenWords = 16;  // 1024-bit filter of environ-key hashes per request

// kKnownHeaders bucketed by name length, each bucket a list of indices; and
// the hash of each one's environ key ("HTTP_" + name with '-' as '_').
struct KnownByLength {
  static constexpr size_t kMax = 26;
  uint8_t idx[kMax][kKnownCount];
  uint8_t count[kMax] = {};
  uint32_t env_hash[kKnownCount];
  KnownByLength() {
    for (uint32_t i = 0; i < kKnownCount; i++) {
      size_t n = std::strlen(kKnownHeaders[i]);
      idx[n][count[n]++] = static_cast<uint8_t>(i);
      std::string key = env_key(kKnownHeaders[i]);
      env_hash[i] = fnv1a(key.data(), key.size());
    }
  }
};
const KnownByLength kKnownByLength;

// Index of a header name in kKnownHeaders, or -1: only names of the same
// length are compared, first byte first.
int known_header(const Slice& s) {
  if (s.n < 2 || s.n >= KnownByLength::kMax) return -1;
  const uint8_t* b = kKnownByLength.idx[s.n];
  const char first = up(s.p[0]);
  for (uint32_t j = 0, m = kKnownByLength.count[s.n]; j < m; j++) {
    const char* k = kKnownHeaders[b[j]];
    if (k[0] != first) continue;
    size_t i = 1;
    while (i < s.n && up(s.p[i]) == k[i]) i++;
    if (i == s.n) return b[j];
  }
  return -1;
}

class JsServer : public Napi::ObjectWrap<JsServer>, public Bridge {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(
        env, "NativeServer",
        {InstanceMethod("addListener", &JsServer::AddListener), InstanceMethod("pause", &JsServer::Pause),
         InstanceMethod("abort", &JsServer::Abort), InstanceMethod("close", &JsServer::Close),
         InstanceMethod("connections", &JsServer::Connections)});
  }

  explicit JsServer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<JsServer>(info) {
    Napi::Env env = info.Env();
    env_ = env;
    if (info.Length() < 3 || !info[0].IsObject() || !info[1].IsArray() || !info[2].IsTypedArray()) {
      Napi::TypeError::New(env, "NativeServer(options, callbacks, meta)").ThrowAsJavaScriptException();
      return;
    }
    Napi::Object o = info[0].As<Napi::Object>();
    ServerConfig cfg;
    auto num = [&](const char* k, double dflt) {
      Napi::Value v = o.Get(k);
      return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : dflt;
    };
    auto flag = [&](const char* k) {
      Napi::Value v = o.Get(k);
      return v.IsBoolean() && v.As<Napi::Boolean>().Value();
    };
    auto str = [&](const char* k, const char* dflt) {
      Napi::Value v = o.Get(k);
      return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string(dflt);
    };
    cfg.parser.limit_request_line = static_cast<uint32_t>(num("limit_request_line", 4094));
    cfg.parser.limit_request_fields = static_cast<uint32_t>(num("limit_request_fields", 100));
    cfg.parser.limit_request_field_size = static_cast<uint32_t>(num("limit_request_field_size", 8190));
    cfg.parser.limit_request_body = static_cast<uint64_t>(num("limit_request_body", 0));
    cfg.parser.permit_obsolete_folding = flag("permit_obsolete_folding");
    cfg.parser.strip_header_spaces = flag("strip_header_spaces");
    cfg.parser.permit_unconventional_http_method = flag("permit_unconventional_http_method");
    cfg.parser.casefold_http_method = flag("casefold_http_method");
    cfg.parser.permit_unconventional_http_version = flag("permit_unconventional_http_version");
    std::string hm = str("header_map", "drop");
    cfg.parser.header_map = hm == "refuse"      ? HeaderMap::kRefuse
                            : hm == "dangerous" ? HeaderMap::kDangerous
                                                : HeaderMap::kDrop;
    std::string pp = str("proxy_protocol", "off");
    cfg.parser.proxy_protocol = pp == "v1"     ? ProxyMode::kV1
                                : pp == "v2"   ? ProxyMode::kV2
                                : pp == "auto" ? ProxyMode::kAuto
                                               : ProxyMode::kOff;
    cfg.parser.forwarder_headers.clear();
    std::string fwd = str("forwarder_headers", "SCRIPT_NAME,PATH_INFO");
    for (size_t i = 0; i <= fwd.size();) {
      size_t j = fwd.find(',', i);
      if (j == std::string::npos) j = fwd.size();
      std::string item = fwd.substr(i, j - i);
      while (!item.empty() && item.front() == ' ') item.erase(0, 1);
      while (!item.empty() && item.back() == ' ') item.pop_back();
      for (auto& ch : item) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (!item.empty()) cfg.parser.forwarder_headers.push_back(item);
      i = j + 1;
    }
    cfg.keepalive_ms = static_cast<uint64_t>(num("keepalive", 2) * 1000);
    cfg.header_timeout_ms = static_cast<uint64_t>(num("header_timeout", 60) * 1000);
    cfg.max_connections = static_cast<uint32_t>(num("worker_connections", 0));
    cfg.balance_fd = static_cast<int>(num("balance_fd", -1));
    cfg.balance_slot = static_cast<uint32_t>(num("balance_slot", 0));
    std::string bad;
    if (!cfg.forwarded_allow.parse(str("forwarded_allow_ips", "127.0.0.1,::1"), &bad)) {
      Napi::TypeError::New(env, "invalid forwarded_allow_ips entry: " + bad).ThrowAsJavaScriptException();
      return;
    }
    if (!cfg.proxy_allow.parse(str("proxy_allow_ips", "127.0.0.1,::1"), &bad)) {
      Napi::TypeError::New(env, "invalid proxy_allow_ips entry: " + bad).ThrowAsJavaScriptException();
      return;
    }
    Napi::Array cbs = info[1].As<Napi::Array>();
    for (uint32_t i = 0; i < kCbCount; i++) {
      Napi::Value v = cbs.Get(i);
      if (!v.IsFunction()) {
        Napi::TypeError::New(env, "callbacks must be functions").ThrowAsJavaScriptException();
        return;
      }
      callbacks_[i] = Napi::Persistent(v.As<Napi::Function>());
    }
    Napi::TypedArray ta = info[2].As<Napi::TypedArray>();
    if (ta.TypedArrayType() != napi_uint32_array) {
      Napi::TypeError::New(env, "meta must be a Uint32Array").ThrowAsJavaScriptException();
      return;
    }
    Napi::Uint32Array meta = ta.As<Napi::Uint32Array>();
    meta_ = meta.Data();
    meta_len_ = meta.ElementLength();
    uint32_t need = kMetaHeaders + 2 * cfg.parser.fields_limit() + 2;
    if (meta_len_ < need) {
      Napi::RangeError::New(env, "meta too small: need " + std::to_string(need)).ThrowAsJavaScriptException();
      return;
    }
    meta_ref_ = Napi::Persistent(meta);
    resource_ = Napi::Persistent(Napi::Object::New(env));
    napi_async_init(env, resource_.Value(), Napi::String::New(env, "gunicorn-ts:server"), &async_ctx_);
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    server_ = new Server(loop, std::move(cfg), this);
    Ref();  // alive until on_closed
    // The per-request methods as own properties whose callback data leads to
    // this object: an InstanceMethod unwraps `this` through a private-symbol
    // property lookup on every call (about 400 instructions, bench/callgrind.mjs).
    // The cell is cleared when this object goes, so a kept function stays safe.
    Napi::Object self = info.This().As<Napi::Object>();
    std::shared_ptr<JsServer*> cell = self_cell_;
    self.Set("respond", Napi::Function::New(
                            env,
                            [cell](const Napi::CallbackInfo& ci) -> Napi::Value {
                              return *cell != nullptr
                                         ? (*cell)->Respond(ci)
                                         : Napi::Number::New(ci.Env(), static_cast<int>(WriteResult::kStale));
                            },
                            "respond"));
    self.Set("write", Napi::Function::New(
                          env,
                          [cell](const Napi::CallbackInfo& ci) -> Napi::Value {
                            return *cell != nullptr
                                       ? (*cell)->Write(ci)
                                       : Napi::Number::New(ci.Env(), static_cast<int>(WriteResult::kStale));
                          },
                          "write"));
  }

  ~JsServer() override { *self_cell_ = nullptr; }

  // ---- Bridge ------------------------------------------------------------

  // One handle scope per libuv callback: the values created for every JS call
  // it makes live until it returns (bounded by one read's worth of requests).
  // Each call goes through napi_make_callback, whose callback scope lives on
  // the stack and drains microtasks and nextTicks after the outermost call
  // (napi_open_callback_scope would allocate two objects on the heap per batch,
  // and every napi_open_handle_scope allocates one).
  void enter() override {
    napi_handle_scope hs;
    napi_open_handle_scope(env_, &hs);
    scopes_.push_back(hs);
  }
  void leave() override {
    napi_close_handle_scope(env_, scopes_.back());
    scopes_.pop_back();
  }

  void on_request(Connection* c, uint64_t id, const RequestHead& h, const char* body, size_t body_len,
                  bool body_follows) override {
    std::string& b = blob_;
    b.clear();
    uint32_t* m = meta_;
    b.append(h.method.p, h.method.n);
    m[kMetaMethodEnd] = static_cast<uint32_t>(b.size());
    b.append(h.target.p, h.target.n);
    m[kMetaTargetEnd] = static_cast<uint32_t>(b.size());
    // PATH_INFO: percent-decoded to bytes, one latin-1 char per byte (PEP 3333).
    const char* p = h.path.p;
    for (uint32_t i = 0; i < h.path.n; i++) {
      int hi, lo;
      if (p[i] == '%' && i + 2 < h.path.n + 0u + 1 && i + 2 <= h.path.n - 1 && (hi = hexv(p[i + 1])) >= 0 &&
          (lo = hexv(p[i + 2])) >= 0) {
        b.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
      } else {
        b.push_back(p[i]);
      }
    }
    m[kMetaPathEnd] = static_cast<uint32_t>(b.size());
    b.append(h.query.p, h.query.n);
    m[kMetaQueryEnd] = static_cast<uint32_t>(b.size());
    b.append(c->remote_addr());
    m[kMetaRemoteEnd] = static_cast<uint32_t>(b.size());
    if (!c->is_unix()) {
      char digits[8];
      char* d = digits + sizeof digits;
      unsigned port = c->remote_port();
      do {
        *--d = static_cast<char>('0' + port % 10);
        port /= 10;
      } while (port != 0);
      b.append(d, static_cast<size_t>(digits + sizeof digits - d));
    }
    m[kMetaRemotePort] = static_cast<uint32_t>(b.size());  // end of REMOTE_PORT text
    uint32_t flags = h.version_major | (static_cast<uint32_t>(h.version_minor) << 4) |
                     (static_cast<uint32_t>(c->listener_index()) << 24);
    if (h.keep_alive) flags |= kFlagKeepAlive;
    if (body_follows) flags |= kFlagBodyFollows;
    if (h.body == BodyKind::kChunked) flags |= kFlagChunked;
    if (h.expect_continue) flags |= kFlagExpectContinue;
    if (c->trusted()) flags |= kFlagTrusted;
    if (c->is_unix()) flags |= kFlagUnix;
    if (h.is_head) flags |= kFlagHead;
    if (h.upgrade) flags |= kFlagUpgrade;
    if (h.body == BodyKind::kLength) {
      flags |= kFlagHasLength;
      m[kMetaContentLengthLo] = static_cast<uint32_t>(h.content_length & 0xffffffffu);
      m[kMetaContentLengthHi] = static_cast<uint32_t>(h.content_length >> 32);
    }
    const ProxyInfo* px = c->proxy();
    if (px != nullptr) {
      flags |= kFlagProxy;
      b.append(px->proto);
      m[kMetaProxyProtoEnd] = static_cast<uint32_t>(b.size());
      b.append(px->src_addr);
      m[kMetaProxySrcEnd] = static_cast<uint32_t>(b.size());
      b.append(px->dst_addr);
      m[kMetaProxyDstEnd] = static_cast<uint32_t>(b.size());
      m[kMetaProxySrcPort] = px->src_port;
      m[kMetaProxyDstPort] = px->dst_port;
    }
    uint32_t k = kMetaHeaders;
    uint64_t seen[kSeenWords] = {};
    for (const HeaderField& f : h.headers) {
      // environ key: an index into the known names' keys (env_key()), or written into the blob
      int known = known_header(f.name);
      uint32_t key_hash;
      if (known >= 0) {
        m[k++] = kKnownFlag | static_cast<uint32_t>(known);
        key_hash = kKnownByLength.env_hash[known];
      } else {
        const size_t key_start = b.size();
        if (name_eq(f.name, "SCRIPT_NAME")) flags |= kFlagScriptName;
        append_http_key(b, f.name.p, f.name.n);
        m[k++] = static_cast<uint32_t>(b.size());
        key_hash = fnv1a(b.data() + key_start, b.size() - key_start);
      }
      b.append(f.value.p, f.value.n);
      // A set bit in a small filter of environ-key hashes marks a key that may
      // repeat an earlier one in this request: only then does JS look up the
      // earlier value to join (a miss is certain, a hit only possible).
      const uint32_t bit = key_hash & (kSeenWords * 64 - 1);
      const bool maybe_repeat = (seen[bit >> 6] >> (bit & 63)) & 1;
      seen[bit >> 6] |= uint64_t{1} << (bit & 63);
      m[k++] = static_cast<uint32_t>(b.size()) | (maybe_repeat ? kMaybeRepeat : 0);
    }
    m[kMetaCount] = static_cast<uint32_t>(h.headers.size());
    m[kMetaFlags] = flags;

    napi_value args[3];
    napi_create_double(env_, static_cast<double>(id), &args[0]);
    napi_create_string_latin1(env_, b.data(), b.size(), &args[1]);
    if (body != nullptr) {
      void* data;
      napi_create_buffer_copy(env_, body_len, body, &data, &args[2]);
    } else {
      napi_get_undefined(env_, &args[2]);
    }
    call(kCbRequest, 3, args);
  }

  void on_body(uint64_t id, const char* p, size_t n) override {
    napi_value args[2];
    void* data;
    napi_create_double(env_, static_cast<double>(id), &args[0]);
    napi_create_buffer_copy(env_, n, p, &data, &args[1]);
    call(kCbBody, 2, args);
  }

  void on_body_end(uint64_t id, Err err) override { call_id_int(kCbBodyEnd, id, static_cast<int>(err)); }
  void on_abort(uint64_t id) override { call_id_int(kCbAbort, id, -1); }
  void on_drain(uint64_t id) override { call_id_int(kCbDrain, id, -1); }

  void on_protocol_error(Connection* c, Err err, const char* detail) override {
    napi_handle_scope hs;
    napi_open_handle_scope(env_, &hs);
    napi_value args[3];
    napi_create_int32(env_, static_cast<int>(err), &args[0]);
    napi_create_string_latin1(env_, c->remote_addr(), NAPI_AUTO_LENGTH, &args[1]);
    napi_create_string_latin1(env_, detail, NAPI_AUTO_LENGTH, &args[2]);
    call(kCbProtocolError, 3, args);
    napi_close_handle_scope(env_, hs);
  }

  void on_closed() override {
    call(kCbClosed, 0, nullptr);
    Unref();
  }

 private:
  void call(int slot, size_t argc, napi_value* argv) {
    napi_value fn = callbacks_[slot].Value();
    // napi_make_callback needs an object as `this`: the async resource
    napi_status st = napi_make_callback(env_, async_ctx_, resource_.Value(), fn, argc, argv, nullptr);
    if (st == napi_pending_exception) {
      // The JS side catches application errors itself; anything reaching here
      // is a bug in our JS. Report it and keep serving.
      napi_value ex;
      napi_get_and_clear_last_exception(env_, &ex);
      napi_value str;
      if (napi_coerce_to_string(env_, ex, &str) == napi_ok) {
        char buf[512];
        size_t n = 0;
        napi_get_value_string_utf8(env_, str, buf, sizeof buf, &n);
        std::fprintf(stderr, "gunicorn-ts: internal error in callback %d: %s\n", slot, buf);
      }
    } else if (st != napi_ok) {
      std::fprintf(stderr, "gunicorn-ts: internal error: callback %d not called (napi status %d)\n", slot,
                   static_cast<int>(st));
    }
  }
  void call_id_int(int slot, uint64_t id, int v) {
    napi_value args[2];
    napi_create_double(env_, static_cast<double>(id), &args[0]);
    napi_create_int32(env_, v, &args[1]);
    call(slot, 2, args);
  }

  Connection* lookup(const Napi::CallbackInfo& info) {
    if (server_ == nullptr || info.Length() < 1) return nullptr;
    double d;
    if (napi_get_value_double(env_, info[0], &d) != napi_ok) return nullptr;
    return server_->find(static_cast<uint64_t>(d));
  }

  // Reads a JS string as UTF-16 into buf; returns false if it is not a string.
  bool utf16(napi_value v, std::u16string* buf, size_t* len) {
    size_t n = 0;
    if (buf->size() < 256) buf->resize(256);
    if (napi_get_value_string_utf16(env_, v, &(*buf)[0], buf->size(), &n) != napi_ok) return false;
    if (n + 1 >= buf->size()) {
      napi_get_value_string_utf16(env_, v, nullptr, 0, &n);
      buf->resize(n + 1);
      napi_get_value_string_utf16(env_, v, &(*buf)[0], buf->size(), &n);
    }
    *len = n;
    return true;
  }

  // Body argument: string (sent as UTF-8), Buffer/Uint8Array, or undefined/null.
  bool body_bytes(napi_value v, const char** p, size_t* n) {
    napi_valuetype t;
    napi_typeof(env_, v, &t);
    if (t == napi_undefined || t == napi_null) {
      *p = nullptr;
      *n = 0;
      return true;
    }
    if (t == napi_string) {
      // One copy for the common small body; measure and copy again only if it
      // filled the scratch buffer (it may have been cut at a character boundary).
      size_t len = 0;
      if (body_.size() < 16384) body_.resize(16384);
      napi_get_value_string_utf8(env_, v, &body_[0], body_.size(), &len);
      if (len + 4 >= body_.size()) {
        napi_get_value_string_utf8(env_, v, nullptr, 0, &len);
        body_.resize(len + 1);
        napi_get_value_string_utf8(env_, v, &body_[0], body_.size(), &len);
      }
      *p = body_.data();
      *n = len;
      return true;
    }
    bool is_ta = false;
    napi_is_typedarray(env_, v, &is_ta);
    if (is_ta) {
      napi_typedarray_type tt;
      size_t len;
      void* data;
      napi_value ab;
      size_t off;
      napi_get_typedarray_info(env_, v, &tt, &len, &data, &ab, &off);
      if (tt != napi_uint8_array) return false;
      *p = static_cast<const char*>(data);
      *n = len;
      return true;
    }
    return false;
  }

  // respond(id, status, headerBlock, nHeaders, body, flags | headKey << 8) -> result code
  // With status/headerBlock strings, they are validated (prepare_head) into the
  // head slot `headKey` (0: the uncached scratch slot). With status undefined,
  // slot `headKey` is reused as JS last filled it (lib/http/head-cache.ts).
  Napi::Value Respond(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Connection* c = lookup(info);
    if (c == nullptr) return Napi::Number::New(env, static_cast<int>(WriteResult::kStale));
    // flags: RespondFlag bits, head slot in bits 8.. (six arguments: node-addon-api
    // allocates the argument array on the heap above six)
    const uint32_t fl = info[5].As<Napi::Number>().Uint32Value();
    uint32_t key = fl >> 8;
    if (key >= kHeadSlots) key = 0;
    AppHead& app = heads_[key];
    if (info[1].IsString()) {
      size_t slen = 0, hlen = 0;
      app.status = 0;
      if (!utf16(info[1], &status_, &slen) || !utf16(info[2], &hdrs_, &hlen)) {
        return Napi::Number::New(env, static_cast<int>(HeadError::kBadHeader));
      }
      uint32_t nh = info[3].As<Napi::Number>().Uint32Value();
      HeadError e = prepare_head(status_.data(), slen, hdrs_.data(), hlen, nh, &app);
      if (e != HeadError::kOk) return Napi::Number::New(env, static_cast<int>(e));
    } else if (app.status == 0) {
      return Napi::Number::New(env, static_cast<int>(HeadError::kBadStatus));  // a slot JS never filled
    }
    const char* bp;
    size_t bn;
    if (!body_bytes(info[4], &bp, &bn)) {
      Napi::TypeError::New(env, "response body must be a string or Uint8Array").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    int64_t known = (fl & kRespWhole) ? static_cast<int64_t>(bn) : -1;
    WriteResult wr = WriteResult::kOk;
    c->respond(app, bp, bn, (fl & kRespFinal) != 0, (fl & kRespClose) != 0, known, &wr);
    return Napi::Number::New(env, static_cast<int>(wr));
  }

  // write(id, chunk, final) -> result code
  Napi::Value Write(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Connection* c = lookup(info);
    if (c == nullptr) return Napi::Number::New(env, static_cast<int>(WriteResult::kStale));
    const char* bp;
    size_t bn;
    if (!body_bytes(info[1], &bp, &bn)) {
      Napi::TypeError::New(env, "response body must be a string or Uint8Array").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    bool final = info.Length() > 2 && info[2].ToBoolean().Value();
    return Napi::Number::New(env, static_cast<int>(c->write(bp, bn, final)));
  }

  Napi::Value Pause(const Napi::CallbackInfo& info) {
    Connection* c = lookup(info);
    if (c != nullptr) c->pause_body(info[1].ToBoolean().Value());
    return info.Env().Undefined();
  }

  Napi::Value Abort(const Napi::CallbackInfo& info) {
    Connection* c = lookup(info);
    if (c != nullptr) c->abort_response();
    return info.Env().Undefined();
  }

  Napi::Value AddListener(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int fd = info[0].As<Napi::Number>().Int32Value();
    bool is_unix = info[1].ToBoolean().Value();
    int backlog = info.Length() > 2 ? info[2].As<Napi::Number>().Int32Value() : 2048;
    std::string err;
    int r = server_->add_listener(fd, is_unix, backlog, &err);
    if (r != 0) {
      Napi::Error::New(env, "cannot listen on fd " + std::to_string(fd) + ": " + err).ThrowAsJavaScriptException();
    }
    return env.Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    bool graceful = info.Length() < 1 || info[0].ToBoolean().Value();
    if (server_ != nullptr) server_->close(graceful);
    return info.Env().Undefined();
  }

  Napi::Value Connections(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), server_ ? static_cast<double>(server_->connection_count()) : 0);
  }

  napi_env env_ = nullptr;
  Server* server_ = nullptr;
  Napi::FunctionReference callbacks_[kCbCount];
  Napi::Reference<Napi::Uint32Array> meta_ref_;
  Napi::ObjectReference resource_;
  napi_async_context async_ctx_ = nullptr;
  std::vector<napi_handle_scope> scopes_;
  uint32_t* meta_ = nullptr;
  size_t meta_len_ = 0;
  std::string blob_;
  std::string body_;
  std::u16string status_, hdrs_;
  std::vector<AppHead> heads_ = std::vector<AppHead>(kHeadSlots);
  std::shared_ptr<JsServer*> self_cell_ = std::make_shared<JsServer*>(this);
};

// ---- socket helpers ------------------------------------------------------------

// Returns the fd, or throws an Error with errno/code (EADDRINUSE, ...) for -errno.
Napi::Value fd_or_throw(Napi::Env env, int fd, const std::string& err) {
  if (fd >= 0) return Napi::Number::New(env, fd);
  Napi::Error e = Napi::Error::New(env, err);
  e.Set("errno", Napi::Number::New(env, -fd));
  e.Set("code", Napi::String::New(env, uv_err_name(fd)));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ListenTcp(const Napi::CallbackInfo& info) {
  std::string host = info[0].As<Napi::String>().Utf8Value();
  int port = info[1].As<Napi::Number>().Int32Value();
  int backlog = info[2].As<Napi::Number>().Int32Value();
  bool reuse = info.Length() > 3 && info[3].ToBoolean().Value();
  std::string err;
  int fd = listen_tcp(host, port, backlog, reuse, &err);
  return fd_or_throw(info.Env(), fd, err);
}

Napi::Value ListenUnix(const Napi::CallbackInfo& info) {
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int backlog = info[1].As<Napi::Number>().Int32Value();
  int um = info.Length() > 2 ? info[2].As<Napi::Number>().Int32Value() : 0;
  std::string err;
  int fd = listen_unix(path, backlog, um, &err);
  return fd_or_throw(info.Env(), fd, err);
}

Napi::Value SockName(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string family, host;
  int port = 0;
  if (!sock_name(info[0].As<Napi::Number>().Int32Value(), &family, &host, &port)) return env.Null();
  Napi::Object o = Napi::Object::New(env);
  o.Set("family", family);
  o.Set("host", host);
  o.Set("port", port);
  return o;
}

Napi::Value SetInheritable(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(),
                            set_inheritable(info[0].As<Napi::Number>().Int32Value(), info[1].ToBoolean().Value()));
}

// sdNotify("READY=1\nSTATUS=...") -> 1 sent, 0 no $NOTIFY_SOCKET; throws on a send error
Napi::Value SdNotify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int r = sd_notify(info[0].As<Napi::String>().Utf8Value());
  if (r < 0) return fd_or_throw(env, r, std::string("sd_notify: ") + uv_strerror(r));
  return Napi::Number::New(env, r);
}

// balanceCreate(slots) -> fd of the shared accept-balancing page (master)
Napi::Value BalanceCreate(const Napi::CallbackInfo& info) {
  int fd = Balance::create(info[0].As<Napi::Number>().Uint32Value());
  return fd_or_throw(info.Env(), fd, std::string("balance: ") + (fd < 0 ? uv_strerror(fd) : ""));
}

// balanceVacate(fd, slot): no live worker in this slot any more (master)
Napi::Value BalanceVacate(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(
      info.Env(), Balance::vacate(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Uint32Value()));
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  uv_fs_t req;
  uv_fs_close(nullptr, &req, info[0].As<Napi::Number>().Int32Value(), nullptr);
  uv_fs_req_cleanup(&req);
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeServer", JsServer::Init(env));
  exports.Set("listenTcp", Napi::Function::New(env, ListenTcp));
  exports.Set("listenUnix", Napi::Function::New(env, ListenUnix));
  exports.Set("sockName", Napi::Function::New(env, SockName));
  exports.Set("setInheritable", Napi::Function::New(env, SetInheritable));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd));
  exports.Set("sdNotify", Napi::Function::New(env, SdNotify));
  exports.Set("balanceCreate", Napi::Function::New(env, BalanceCreate));
  exports.Set("balanceVacate", Napi::Function::New(env, BalanceVacate));
  Napi::Array errors = Napi::Array::New(env);
  for (uint32_t i = 0; i < static_cast<uint32_t>(Err::kCount); i++) {
    const ErrInfo& e = err_info(static_cast<Err>(i));
    Napi::Object o = Napi::Object::New(env);
    o.Set("code", e.name);
    o.Set("status", e.status);
    o.Set("reason", e.reason);
    errors.Set(i, o);
  }
  exports.Set("errors", errors);
  Napi::Array keys = Napi::Array::New(env);
  for (uint32_t i = 0; i < kKnownCount; i++) keys.Set(i, env_key(kKnownHeaders[i]));
  exports.Set("headerKeys", keys);
  exports.Set("headSlots", Napi::Number::New(env, kHeadSlots));
  exports.Set("llhttpVersion", std::to_string(LLHTTP_VERSION_MAJOR) + "." + std::to_string(LLHTTP_VERSION_MINOR) + "." +
                                   std::to_string(LLHTTP_VERSION_PATCH));
  return exports;
}

}  // namespace
}  // namespace gts

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return gts::Init(env, exports); }
NODE_API_MODULE(gunicorn_native, InitModule)
