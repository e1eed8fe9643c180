// N-API glue: the only file that knows about JS (the boundary only: options,
// callbacks, argument conversion; environ packing is environ.cc). Exposes
//   createServer(options, callbacks, meta) -> NativeServer
//   listenTcp / listenUnix / sockName / setInheritable (plain fds for the arbiter)
//   constants: error codes and names, result codes, meta slots.
//
// The C++ -> JS contract is numbered (see lib/native.ts, which must match):
//   callbacks[0] onRequest(id, blob, inlineBody|undefined)  -- head facts are in `meta`
//   callbacks[1] onBody(id, Buffer)          callbacks[2] onBodyEnd(id, errCode)
//   callbacks[3] onAbort(id)                 callbacks[4] onDrain(id)
//   callbacks[5] onProtocolError(code, remoteAddr, detail)
//   callbacks[6] onClosed()                  callbacks[7] onNotice(message)
//   callbacks[8] onWsMessage(id, slab: ArrayBuffer, offset, length, isBinary) (transient: the message's own, detached
//   after)   callbacks[9] onWsDrain(id) callbacks[10] onWsClose(id, code, reason)
// `blob` is one latin-1 string holding method, target, decoded path, query,
// remote address, PROXY fields, then environ key/value pairs; meta[] holds the
// end offset of each piece (layout: MetaSlot in environ.h).
#include <napi.h>
#include <uv.h>
#include <v8.h>  // promiseValue() only: see there

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "balance.h"
#include "connection.h"
#include "environ.h"
#include "errors.h"
#include "h2_compat.h"
#include "reaper.h"
#include "server.h"
#include "sockets.h"
#include "ws_session.h"

namespace gts {
namespace {

enum CbSlot {
  kCbRequest,
  kCbBody,
  kCbBodyEnd,
  kCbAbort,
  kCbDrain,
  kCbProtocolError,
  kCbClosed,
  kCbNotice,
  kCbWsMessage,
  kCbWsDrain,
  kCbWsClose,
  kCbCount
};

enum RespondFlag : uint32_t { kRespFinal = 1, kRespClose = 2, kRespWhole = 4, kRespFile = 8 };

// Validated application heads kept for reuse; JS's head cache uses keys 1..kHeadSlots-1.
constexpr uint32_t kHeadSlots = 16;

// Reads the options object of NativeServer(): every key must be present with
// the right type (the defaults live in the settings registry, never here). The
// first missing or mistyped key is reported; later reads are skipped.
class OptionReader {
 public:
  OptionReader(Napi::Env env, Napi::Object o) : env_(env), o_(o) {}
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }

  void get(const char* k, double* out) {
    Napi::Value v = value(k, "a number", napi_number);
    if (!v.IsEmpty()) *out = v.As<Napi::Number>().DoubleValue();
  }
  void get(const char* k, uint32_t* out) {
    double d = 0;
    get(k, &d);
    *out = static_cast<uint32_t>(d);
  }
  void get(const char* k, uint64_t* out) {
    double d = 0;
    get(k, &d);
    *out = static_cast<uint64_t>(d);
  }
  void get(const char* k, bool* out) {
    Napi::Value v = value(k, "a boolean", napi_boolean);
    if (!v.IsEmpty()) *out = v.As<Napi::Boolean>().Value();
  }
  void get(const char* k, std::string* out) {
    Napi::Value v = value(k, "a string", napi_string);
    if (!v.IsEmpty()) *out = v.As<Napi::String>().Utf8Value();
  }
  // An array of strings; empty entries are dropped.
  void get(const char* k, std::vector<std::string>* out) {
    Napi::Value v = value(k, "an array of strings", napi_object);
    if (v.IsEmpty()) return;
    if (!v.IsArray()) return fail(k, "an array of strings");
    Napi::Array a = v.As<Napi::Array>();
    out->clear();
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Value e = a.Get(i);
      if (!e.IsString()) return fail(k, "an array of strings");
      std::string s = e.As<Napi::String>().Utf8Value();
      if (!s.empty()) out->push_back(std::move(s));
    }
  }
  // An object (or null: *present = false) whose keys another reader reads.
  bool get_object(const char* k, Napi::Object* out) {
    if (failed()) return false;
    Napi::Value v = o_.Get(k);
    if (!v.IsEmpty() && v.IsNull()) return false;
    if (v.IsEmpty() || !v.IsObject()) {
      fail(k, "an object or null");
      return false;
    }
    *out = v.As<Napi::Object>();
    return true;
  }
  // An enum, from its setting value's name (enum_from_name() beside the enum).
  template <typename E, typename = std::enable_if_t<std::is_enum<E>::value>>
  void get(const char* k, E* out) {
    std::string s;
    get(k, &s);
    if (!failed() && !enum_from_name(s, out)) fail(k, "one of the setting's values");
  }

 private:
  Napi::Value value(const char* k, const char* what, napi_valuetype type) {
    if (failed()) return Napi::Value();
    Napi::Value v = o_.Get(k);
    if (v.IsEmpty() || v.Type() != type) {
      fail(k, what);
      return Napi::Value();
    }
    return v;
  }
  void fail(const char* k, const char* what) {
    if (!failed()) error_ = std::string("NativeServer option ") + k + " must be " + what;
  }

  Napi::Env env_;
  Napi::Object o_;
  std::string error_;
};

// The `tls` option (lib/server.ts tlsOptions(): the SSL settings after the
// ssl_context hook): every key required, like the settings.
bool read_tls_options(Napi::Env env, Napi::Object o, TlsOptions* t, std::string* err) {
  OptionReader r(env, o);
  double cert_reqs = 0, min_version = 0, tickets = 0;
  std::vector<std::string> alpn;
  r.get("certfile", &t->certfile);
  r.get("keyfile", &t->keyfile);
  r.get("ca_certs", &t->ca_certs);
  r.get("cert_reqs", &cert_reqs);
  r.get("min_version", &min_version);
  r.get("ciphers", &t->ciphers);
  r.get("ciphersuites", &t->ciphersuites);
  r.get("groups", &t->groups);
  r.get("alpn", &alpn);
  r.get("session_tickets", &tickets);
  r.get("passphrase", &t->passphrase);
  r.get("suppress_ragged_eofs", &t->suppress_ragged_eofs);
  if (r.failed()) {
    *err = r.error();
    return false;
  }
  // sni: [{ name, certfile, keyfile, passphrase }, ...]
  Napi::Value sv = o.Get("sni");
  if (sv.IsEmpty() || !sv.IsArray()) {
    *err = "NativeServer option tls.sni must be an array of objects";
    return false;
  }
  Napi::Array sa = sv.As<Napi::Array>();
  for (uint32_t i = 0; i < sa.Length(); i++) {
    Napi::Value e = sa.Get(i);
    if (!e.IsObject()) {
      *err = "NativeServer option tls.sni must be an array of objects";
      return false;
    }
    OptionReader er(env, e.As<Napi::Object>());
    TlsSniEntry se;
    er.get("name", &se.name);
    er.get("certfile", &se.certfile);
    er.get("keyfile", &se.keyfile);
    er.get("passphrase", &se.passphrase);
    if (er.failed()) {
      *err = "tls.sni: " + er.error();
      return false;
    }
    t->sni.push_back(std::move(se));
  }
  t->cert_reqs = static_cast<int>(cert_reqs);
  t->session_tickets = static_cast<int>(tickets);
  // "1.2" / "1.3" as numbers: 12 or 13
  t->min_version = min_version >= 13 ? TLS1_3_VERSION : TLS1_2_VERSION;
  t->alpn.clear();
  for (const std::string& a : alpn) {
    if (!t->alpn.empty()) t->alpn.push_back(',');
    t->alpn += a;
  }
  return true;
}

class JsServer : public Napi::ObjectWrap<JsServer>, public Bridge {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(
        env, "NativeServer",
        {InstanceMethod("addListener", &JsServer::AddListener), InstanceMethod("pause", &JsServer::Pause),
         InstanceMethod("abort", &JsServer::Abort), InstanceMethod("earlyHints", &JsServer::EarlyHints),
         InstanceMethod("prepareFile", &JsServer::PrepareFile), InstanceMethod("close", &JsServer::Close),
         InstanceMethod("connections", &JsServer::Connections), InstanceMethod("tlsInfo", &JsServer::TlsInfo),
         InstanceMethod("consume", &JsServer::Consume), InstanceMethod("trailers", &JsServer::Trailers),
         InstanceMethod("wsUpgrade", &JsServer::WsUpgrade), InstanceMethod("wsSend", &JsServer::WsSend),
         InstanceMethod("wsEnd", &JsServer::WsEnd), InstanceMethod("wsClose", &JsServer::WsClose),
         InstanceMethod("wsBuffered", &JsServer::WsBuffered), InstanceMethod("wsExtensions", &JsServer::WsExtensions)});
  }

  explicit JsServer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<JsServer>(info) {
    Napi::Env env = info.Env();
    env_ = env;
    if (info.Length() < 3 || !info[0].IsObject() || !info[1].IsArray() || !info[2].IsTypedArray()) {
      Napi::TypeError::New(env, "NativeServer(options, callbacks, meta)").ThrowAsJavaScriptException();
      return;
    }
    ServerConfig cfg;
    {
      OptionReader r(env, info[0].As<Napi::Object>());
#define GTS_READ_PARSER_SETTING(type, name) r.get(#name, &cfg.parser.name);
      GTS_PARSER_SETTINGS(GTS_READ_PARSER_SETTING)
#undef GTS_READ_PARSER_SETTING
      double keepalive = 0, header_timeout = 0, balance_fd = 0;
      double body_timeout = 0, body_min_rate = 0, request_timeout = 0, write_timeout = 0;
      std::vector<std::string> forwarded_allow, proxy_allow;
      r.get("keepalive", &keepalive);
      r.get("header_timeout", &header_timeout);
      r.get("body_timeout", &body_timeout);
      r.get("body_min_rate", &body_min_rate);
      r.get("request_timeout", &request_timeout);
      r.get("write_timeout", &write_timeout);
      double ws_max_message = 0, ws_max_backpressure = 0;
      r.get("websocket_max_message_size", &ws_max_message);
      r.get("websocket_max_backpressure", &ws_max_backpressure);
      double ws_ping = 0;
      r.get("websocket_ping_interval", &ws_ping);
      cfg.ws_ping_ms = static_cast<uint64_t>(ws_ping * 1000);
      cfg.ws_max_message = static_cast<uint64_t>(ws_max_message);
      cfg.ws_max_backpressure = static_cast<uint64_t>(ws_max_backpressure);
      double ws_idle = 0, ws_bits = 0;
      std::string ws_compression;
      r.get("websocket_idle_timeout", &ws_idle);
      r.get("websocket_compression", &ws_compression);
      r.get("websocket_compression_window_bits", &ws_bits);
      cfg.ws_idle_ms = static_cast<uint64_t>(ws_idle * 1000);
      cfg.ws_compression = static_cast<uint8_t>(ws_compression == "shared"      ? WsCompression::kShared
                                                : ws_compression == "dedicated" ? WsCompression::kDedicated
                                                                                : WsCompression::kOff);
      cfg.ws_window_bits = static_cast<uint8_t>(ws_bits);
      r.get("worker_connections", &cfg.max_connections);
      r.get("balance_fd", &balance_fd);
      r.get("balance_slot", &cfg.balance_slot);
      r.get("forwarded_allow_ips", &forwarded_allow);
      r.get("proxy_allow_ips", &proxy_allow);
      std::vector<std::string> protocols;
      std::string h2c;
      double h2_streams = 0, h2_window = 0, h2_frame = 0, h2_list = 0;
      r.get("http_protocols", &protocols);
      r.get("http2_cleartext", &h2c);
      r.get("http2_max_concurrent_streams", &h2_streams);
      r.get("http2_initial_window_size", &h2_window);
      r.get("http2_max_frame_size", &h2_frame);
      r.get("http2_max_header_list_size", &h2_list);
      bool want_h2 = false;
      for (const std::string& p : protocols) want_h2 = want_h2 || p == "h2";
#ifdef GTS_NO_HTTP2
      if (want_h2 && !r.failed()) {
        Napi::Error::New(env, "this build has no HTTP/2: libnghttp2-dev was missing when it was compiled")
            .ThrowAsJavaScriptException();
        return;
      }
#else
      if (want_h2 && !r.failed() && !h2_runtime_available()) {
        Napi::Error::New(env, "HTTP/2 is not available: this node exports no nghttp2").ThrowAsJavaScriptException();
        return;
      }
      cfg.h2.enabled = want_h2;
      cfg.h2.prior_knowledge = h2c == "prior-knowledge" || h2c == "both";
      cfg.h2.upgrade = h2c == "upgrade" || h2c == "both";
      cfg.h2.max_concurrent_streams = static_cast<uint32_t>(h2_streams);
      cfg.h2.initial_window_size = static_cast<uint32_t>(h2_window);
      cfg.h2.max_frame_size = static_cast<uint32_t>(h2_frame);
      cfg.h2.max_header_list_size = static_cast<uint32_t>(h2_list);
#endif
      Napi::Object tls_obj;
      bool tls_on = r.get_object("tls", &tls_obj);
      if (r.failed()) {
        Napi::TypeError::New(env, r.error()).ThrowAsJavaScriptException();
        return;
      }
      if (tls_on) {
        TlsOptions to;
        std::string err;
        if (!read_tls_options(env, tls_obj, &to, &err)) {
          Napi::TypeError::New(env, "NativeServer tls: " + err).ThrowAsJavaScriptException();
          return;
        }
        cfg.tls_ctx = tls_context_new(to, &err);
        if (cfg.tls_ctx == nullptr) {
          Napi::Error::New(env, err).ThrowAsJavaScriptException();
          return;
        }
        cfg.tls_suppress_ragged_eofs = to.suppress_ragged_eofs;
      }
      cfg.keepalive_ms = static_cast<uint64_t>(keepalive * 1000);
      cfg.header_timeout_ms = static_cast<uint64_t>(header_timeout * 1000);
      cfg.body_timeout_ms = static_cast<uint64_t>(body_timeout * 1000);
      cfg.body_min_rate = static_cast<uint64_t>(body_min_rate);
      cfg.request_timeout_ms = static_cast<uint64_t>(request_timeout * 1000);
      cfg.write_timeout_ms = static_cast<uint64_t>(write_timeout * 1000);
      cfg.balance_fd = static_cast<int>(balance_fd);
      std::string bad;
      if (!cfg.forwarded_allow.parse(forwarded_allow, &bad)) {
        Napi::TypeError::New(env, "invalid forwarded_allow_ips entry: " + bad).ThrowAsJavaScriptException();
        return;
      }
      if (!cfg.proxy_allow.parse(proxy_allow, &bad)) {
        Napi::TypeError::New(env, "invalid proxy_allow_ips entry: " + bad).ThrowAsJavaScriptException();
        return;
      }
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
    uint32_t need = meta_slots(cfg.parser.fields_limit());
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
    transient_data_ = nullptr;  // its napi_value dies with the scope
    napi_close_handle_scope(env_, scopes_.back());
    scopes_.pop_back();
  }

  void on_request(Connection* c, uint64_t id, const RequestHead& h, const char* body, size_t body_len,
                  bool body_follows) override {
    PeerFacts peer;
    peer.remote_addr = c->remote_addr();
    peer.remote_port = c->remote_port();
    peer.is_unix = c->is_unix();
    peer.trusted = c->trusted();
    peer.listener_index = c->listener_index();
    peer.proxy = c->proxy();
    std::string& b = blob_;
    pack_environ(h, peer, body_follows, b, meta_);
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
  void on_abort(uint64_t id, Abort why) override { call_id_int(kCbAbort, id, static_cast<int>(why)); }
  void on_drain(uint64_t id) override { call_id_int(kCbDrain, id, -1); }
  // WebSocket messages cross as (slab, offset, length): one 64 KiB ArrayBuffer shared by consecutive
  // messages, never reused (the views JS keeps hold it; GC frees it), and JS makes the Buffer view.
  // A message above a quarter of a slab gets an ArrayBuffer of its own. docs/design/websocket.md §4.
  static constexpr size_t kSlabSize = 64 * 1024;
  uint8_t* ws_reserve(size_t n, bool transient) override {
    if (transient) {
      // transientMessages: an ArrayBuffer of the message's own, detached once message() returns, so that
      // its memory goes back to the allocator at once and the next message's is still in the cache.
      // Valid in this handle scope (the libuv callback's) until on_ws_message() takes it.
      void* data = nullptr;
      transient_data_ = nullptr;
      if (napi_create_arraybuffer(env_, n, &data, &transient_ab_) != napi_ok) {
        napi_value ex;
        napi_get_and_clear_last_exception(env_, &ex);
        return nullptr;
      }
      transient_data_ = static_cast<uint8_t*>(data);
      return transient_data_;
    }
    if (n > kSlabSize / 4) return nullptr;
    if (slab_data_ == nullptr || kSlabSize - slab_off_ < n) {
      // napi_create_buffer: not zero-filled, like the pool behind Node's Buffer.allocUnsafe (JS sees only
      // bytes written into it, through views; napi_create_arraybuffer would clear 64 KiB per slab)
      napi_value buf, ab;
      void* data;
      if (napi_create_buffer(env_, kSlabSize, &data, &buf) != napi_ok ||
          napi_get_typedarray_info(env_, buf, nullptr, nullptr, nullptr, &ab, nullptr) != napi_ok) {
        napi_value ex;
        napi_get_and_clear_last_exception(env_, &ex);
        slab_data_ = nullptr;
        slab_.Reset();
        return nullptr;
      }
      slab_ = Napi::Persistent(Napi::ArrayBuffer(env_, ab));
      slab_data_ = static_cast<uint8_t*>(data);
      slab_off_ = 0;
    }
    uint8_t* p = slab_data_ + slab_off_;
    slab_off_ += (n + 7) & ~size_t(7);  // 8-byte aligned starts (the unmask's 8-byte loads and stores)
    if (slab_off_ > kSlabSize) slab_off_ = kSlabSize;
    return p;
  }
  // An ArrayBuffer of its own holding a copy of p..p+n, or false (no memory: the message is lost, said once).
  bool ws_copy(const uint8_t* p, size_t n, napi_value* ab) {
    void* data;
    if (napi_create_arraybuffer(env_, n, &data, ab) != napi_ok) {
      napi_value ex;
      napi_get_and_clear_last_exception(env_, &ex);
      std::fprintf(stderr, "gunicorn-ts: no memory for a WebSocket message of %zu bytes\n", n);
      return false;
    }
    if (n > 0) std::memcpy(data, p, n);
    return true;
  }
  void on_ws_message(uint64_t id, const uint8_t* p, size_t n, bool binary, bool transient) override {
    napi_value args[5];
    uint32_t offset = 0;
    if (transient) {  // its own ArrayBuffer (ws_reserve's, or a copy when assembled natively), detached below
      bool reserved = p != nullptr && p == transient_data_;
      transient_data_ = nullptr;
      if (reserved) args[1] = transient_ab_;
      else if (!ws_copy(p, n, &args[1])) return;
    } else {
      uintptr_t a = reinterpret_cast<uintptr_t>(p), base = reinterpret_cast<uintptr_t>(slab_data_);
      bool in_slab = slab_data_ != nullptr && a >= base && a + n <= base + kSlabSize;
      if (!in_slab) {  // assembled natively (fragmented, compressed or split across reads): copied once
        uint8_t* d = ws_reserve(n, false);
        if (d != nullptr) {
          if (n > 0) std::memcpy(d, p, n);
          a = reinterpret_cast<uintptr_t>(d);
          base = reinterpret_cast<uintptr_t>(slab_data_);
          in_slab = true;
        }
      }
      if (in_slab) {
        args[1] = slab_.Value();
        offset = static_cast<uint32_t>(a - base);
      } else if (!ws_copy(p, n, &args[1])) {
        return;
      }
    }
    napi_create_double(env_, static_cast<double>(id), &args[0]);
    napi_create_uint32(env_, offset, &args[2]);
    napi_create_double(env_, static_cast<double>(n), &args[3]);
    napi_get_boolean(env_, binary, &args[4]);
    call(kCbWsMessage, 5, args);
    if (transient) napi_detach_arraybuffer(env_, args[1]);  // what the app kept of it is empty from now on
  }
  void on_ws_drain(uint64_t id) override { call_id_int(kCbWsDrain, id, -1); }
  void on_ws_close(uint64_t id, int code, const char* reason, size_t n) override {
    napi_value args[3];
    napi_create_double(env_, static_cast<double>(id), &args[0]);
    napi_create_int32(env_, code, &args[1]);
    napi_create_string_utf8(env_, reason, n, &args[2]);
    call(kCbWsClose, 3, args);
  }

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

  void on_notice(const char* msg) override {
    napi_value arg;
    napi_create_string_utf8(env_, msg, NAPI_AUTO_LENGTH, &arg);
    call(kCbNotice, 1, &arg);
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

  Endpoint* lookup(const Napi::CallbackInfo& info) {
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
    Endpoint* c = lookup(info);
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
    if (c->has_file()) {  // prepareFile() came first: the file is this response's body, or nothing
      if (fl & kRespFile) known = c->file_length();
      else c->drop_file();
    }
    WriteResult wr = WriteResult::kOk;
    c->respond(app, bp, bn, (fl & kRespFinal) != 0, (fl & kRespClose) != 0, known, &wr);
    return Napi::Number::New(env, static_cast<int>(wr));
  }

  // write(id, chunk, final) -> result code
  Napi::Value Write(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Endpoint* c = lookup(info);
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

  // earlyHints(id, headerBlock, nHeaders) -> result code (wsgi.early_hints; rare, so
  // validated into the scratch head slot like an uncached response head)
  Napi::Value EarlyHints(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Endpoint* c = lookup(info);
    if (c == nullptr) return Napi::Number::New(env, static_cast<int>(WriteResult::kStale));
    static const char16_t kStatus[] = u"103 Early Hints";
    size_t hlen = 0;
    AppHead hints;
    if (!utf16(info[1], &hdrs_, &hlen)) return Napi::Number::New(env, static_cast<int>(HeadError::kBadHeader));
    HeadError e = prepare_head(kStatus, sizeof kStatus / sizeof kStatus[0] - 1, hdrs_.data(), hlen,
                               info[2].As<Napi::Number>().Uint32Value(), &hints);
    if (e != HeadError::kOk) return Napi::Number::New(env, static_cast<int>(e));
    return Napi::Number::New(env, static_cast<int>(c->early_hints(hints)));
  }

  // consume(id, n): the application read n bytes of the request body (HTTP/2: the window reopens)
  Napi::Value Consume(const Napi::CallbackInfo& info) {
    Endpoint* c = lookup(info);
    if (c != nullptr && info[1].IsNumber()) c->consume(static_cast<size_t>(info[1].As<Napi::Number>().DoubleValue()));
    return info.Env().Undefined();
  }

  // trailers(id, headerBlock, nHeaders) -> result code: response trailers (HTTP/2), sent after the body
  Napi::Value Trailers(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Endpoint* c = lookup(info);
    if (c == nullptr) return Napi::Number::New(env, static_cast<int>(WriteResult::kStale));
    static const char16_t kStatus[] = u"200 OK";
    size_t hlen = 0;
    AppHead t;
    if (!utf16(info[1], &hdrs_, &hlen)) return Napi::Number::New(env, static_cast<int>(HeadError::kBadHeader));
    HeadError e = prepare_head(kStatus, sizeof kStatus / sizeof kStatus[0] - 1, hdrs_.data(), hlen,
                               info[2].As<Napi::Number>().Uint32Value(), &t);
    if (e != HeadError::kOk) return Napi::Number::New(env, static_cast<int>(e));
    return Napi::Number::New(env, static_cast<int>(c->set_trailers(t)));
  }

  // ---- WebSocket -----------------------------------------------------------

  // The HTTP/1 connection behind an id, when it is a WebSocket (or, for wsUpgrade, the request in flight).
  Connection* ws_conn(const Napi::CallbackInfo& info, bool session) {
    Endpoint* e = lookup(info);
    Connection* c = e != nullptr ? e->connection() : nullptr;
    if (c == nullptr || c != e) return nullptr;  // an HTTP/2 stream: no WebSocket there
    if (session && c->ws() == nullptr) return nullptr;
    return c;
  }

  // wsUpgrade(requestId, protocol|undefined, headerBlock|undefined, nHeaders, flags: 1 transient messages)
  //   -> the WebSocket's id, or
  // -1 not a valid handshake in flight, -2 stopping, -3 subprotocol not offered, -4 a bad header
  Napi::Value WsUpgrade(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Connection* c = ws_conn(info, false);
    if (c == nullptr) return Napi::Number::New(env, -1);
    std::string proto;
    if (info.Length() > 1 && info[1].IsString()) proto = info[1].As<Napi::String>().Utf8Value();
    std::string extra;
    if (info.Length() > 3 && info[2].IsString()) {
      static const char16_t kStatus[] = u"101 Switching Protocols";
      size_t hlen = 0;
      AppHead h;
      if (!utf16(info[2], &hdrs_, &hlen)) return Napi::Number::New(env, -4);
      HeadError e = prepare_head(kStatus, sizeof kStatus / sizeof kStatus[0] - 1, hdrs_.data(), hlen,
                                 info[3].As<Napi::Number>().Uint32Value(), &h);
      if (e != HeadError::kOk) return Napi::Number::New(env, -4);
      extra = std::move(h.lines);
    }
    bool transient = info.Length() > 4 && info[4].IsNumber() && (info[4].As<Napi::Number>().Uint32Value() & 1) != 0;
    return Napi::Number::New(env, static_cast<double>(c->ws_upgrade(proto.data(), proto.size(), extra, transient)));
  }

  // wsSend(id, data: string|Uint8Array, flags: 1 binary | 2 compress) -> >0 queued, -1 queued over the
  // high-water mark, 0 dropped (one number for both: each boolean coerced costs more than the flags)
  Napi::Value WsSend(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Connection* c = ws_conn(info, true);
    if (c == nullptr) return Napi::Number::New(env, 0);
    const char* bp;
    size_t bn;
    if (!body_bytes(info[1], &bp, &bn)) {
      Napi::TypeError::New(env, "WebSocket data must be a string or Uint8Array").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    uint32_t flags = 0;
    if (info.Length() > 2) napi_get_value_uint32(env, info[2], &flags);
    int64_t r = c->ws()->send(bp, bn, (flags & 1) != 0, (flags & 2) != 0);
    napi_value out;
    if (r <= INT32_MAX) napi_create_int32(env, static_cast<int32_t>(r), &out);
    else napi_create_double(env, static_cast<double>(r), &out);
    return Napi::Value(env, out);
  }

  // wsEnd(id, code, reason): the close handshake
  Napi::Value WsEnd(const Napi::CallbackInfo& info) {
    Connection* c = ws_conn(info, true);
    if (c == nullptr) return info.Env().Undefined();
    uint32_t code = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Uint32Value() : 1000;
    std::string reason;
    if (info.Length() > 2 && info[2].IsString()) reason = info[2].As<Napi::String>().Utf8Value();
    c->ws()->end(static_cast<uint16_t>(code), reason.data(), reason.size());
    return info.Env().Undefined();
  }

  // wsClose(id): abrupt close (the app hears close(1006))
  Napi::Value WsClose(const Napi::CallbackInfo& info) {
    Connection* c = ws_conn(info, true);
    if (c != nullptr) c->close_now();
    return info.Env().Undefined();
  }

  // wsExtensions(id) -> the negotiated Sec-WebSocket-Extensions ('' when none)
  Napi::Value WsExtensions(const Napi::CallbackInfo& info) {
    Connection* c = ws_conn(info, true);
    const std::string& e = c != nullptr ? c->ws()->extensions() : std::string();
    return Napi::String::New(info.Env(), e.data(), e.size());
  }

  // wsBuffered(id) -> bytes queued and not yet taken by the kernel
  Napi::Value WsBuffered(const Napi::CallbackInfo& info) {
    Connection* c = ws_conn(info, true);
    return Napi::Number::New(info.Env(), c != nullptr ? static_cast<double>(c->ws_buffered()) : 0);
  }

  // prepareFile(id, fd) -> bytes the file will send (from its offset), or -1: see Connection::prepare_file
  Napi::Value PrepareFile(const Napi::CallbackInfo& info) {
    Endpoint* c = lookup(info);
    if (c == nullptr || !info[1].IsNumber()) return Napi::Number::New(info.Env(), -1);
    return Napi::Number::New(info.Env(), static_cast<double>(c->prepare_file(info[1].As<Napi::Number>().Int32Value())));
  }

  Napi::Value Pause(const Napi::CallbackInfo& info) {
    Endpoint* c = lookup(info);
    if (c != nullptr) c->pause_body(info[1].ToBoolean().Value());
    return info.Env().Undefined();
  }

  Napi::Value Abort(const Napi::CallbackInfo& info) {
    Endpoint* c = lookup(info);
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

  // tlsInfo(id): the TLS facts of a request's connection (mod_ssl's names) as
  // "KEY\0value\0..." (latin-1 safe: DNs are UTF-8), or undefined.
  Napi::Value TlsInfo(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (server_ == nullptr || info.Length() < 1 || !info[0].IsNumber()) return env.Undefined();
    Endpoint* e = server_->find(static_cast<uint64_t>(info[0].As<Napi::Number>().DoubleValue()));
    Connection* c = e != nullptr ? e->connection() : nullptr;
    if (c == nullptr || c->tls() == nullptr) return env.Undefined();
    std::string out;
    c->tls()->describe(&out);
    return Napi::String::New(env, out);
  }

  Napi::Value Connections(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), server_ ? static_cast<double>(server_->connection_count()) : 0);
  }

  napi_env env_ = nullptr;
  Server* server_ = nullptr;
  Napi::FunctionReference callbacks_[kCbCount];
  Napi::Reference<Napi::Uint32Array> meta_ref_;
  Napi::Reference<Napi::ArrayBuffer> slab_;  // the current WebSocket message slab (ws_reserve)
  uint8_t* slab_data_ = nullptr;
  // transientMessages: the ArrayBuffer ws_reserve(n, true) made, until on_ws_message() takes it
  napi_value transient_ab_ = nullptr;
  uint8_t* transient_data_ = nullptr;
  size_t slab_off_ = 0;
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

// tlsCheck(tls options) -> null, or the one-line reason the certificate, key
// or settings cannot be used (the arbiter runs it before any worker starts).
Napi::Value TlsCheck(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    Napi::TypeError::New(env, "tlsCheck(options)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  TlsOptions to;
  std::string err;
  if (!read_tls_options(env, info[0].As<Napi::Object>(), &to, &err)) {
    Napi::TypeError::New(env, "tlsCheck: " + err).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  SSL_CTX* ctx = tls_context_new(to, &err);
  if (ctx == nullptr) return Napi::String::New(env, err);
  SSL_CTX_free(ctx);
  return env.Null();
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

// unixDgramSocket() -> fd of a non-blocking unix datagram socket (StatsD, syslog)
Napi::Value UnixDgramSocket(const Napi::CallbackInfo& info) {
  int fd = unix_dgram_socket();
  return fd_or_throw(info.Env(), fd, std::string("unix datagram socket: ") + (fd < 0 ? uv_strerror(fd) : ""));
}

// unixDgramSend(fd, path, buffer) -> bytes sent, or -errno (never throws, never blocks: -EAGAIN = full)
Napi::Value UnixDgramSend(const Napi::CallbackInfo& info) {
  Napi::Buffer<char> b = info[2].As<Napi::Buffer<char>>();
  long r = unix_dgram_send(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::String>().Utf8Value(), b.Data(),
                           b.Length());
  return Napi::Number::New(info.Env(), static_cast<double>(r));
}

// peerCred(fd) -> { pid, uid, gid } of a connected unix socket's peer; throws on error
Napi::Value PeerCred(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  long pid = -1, uid = -1, gid = -1;
  int r = peer_cred(info[0].As<Napi::Number>().Int32Value(), &pid, &uid, &gid);
  if (r < 0) return fd_or_throw(env, r, std::string("peer credentials: ") + uv_strerror(r));
  Napi::Object o = Napi::Object::New(env);
  o.Set("pid", Napi::Number::New(env, static_cast<double>(pid)));
  o.Set("uid", Napi::Number::New(env, static_cast<double>(uid)));
  o.Set("gid", Napi::Number::New(env, static_cast<double>(gid)));
  return o;
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

// reapOrphans(keepPids) -> pids reaped: exited children that libuv did not spawn (PID 1's orphans)
Napi::Value ReapOrphans(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array keep_js = info[0].As<Napi::Array>();
  std::vector<int> keep(keep_js.Length());
  for (uint32_t i = 0; i < keep.size(); i++) keep[i] = keep_js.Get(i).As<Napi::Number>().Int32Value();
  std::vector<int> reaped;
  reap_orphans(keep, &reaped);
  Napi::Array out = Napi::Array::New(env, reaped.size());
  for (uint32_t i = 0; i < reaped.size(); i++) out.Set(i, Napi::Number::New(env, reaped[i]));
  return out;
}

// listenerStop(fd, stop = true) -> whether it took: on the whole-server stop the
// arbiter stops new connections at each listener it alone owns (server.h);
// stop=false clears that from an inherited socket.
Napi::Value ListenerStop(const Napi::CallbackInfo& info) {
  bool stop = info.Length() < 2 || info[1].ToBoolean().Value();
  return Napi::Boolean::New(info.Env(), listener_stop(info[0].As<Napi::Number>().Int32Value(), stop));
}

Napi::Value ListenerStopping(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), listener_stopping(info[0].As<Napi::Number>().Int32Value()));
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  uv_fs_t req;
  uv_fs_close(nullptr, &req, info[0].As<Napi::Number>().Int32Value(), nullptr);
  uv_fs_req_cleanup(&req);
  return info.Env().Undefined();
}

// promiseValue(p) -> the value of `p` if it is a native promise already fulfilled, else `p` itself (a
// promise cannot be fulfilled with itself). An async application that finished without waiting for
// anything hands back such a promise: its response goes out at once, as a sync application's, instead of
// through a then() reaction and the microtask checkpoint after the native callback (the async hello's
// cost over the sync one fell from about 1,090 to about 330 instructions per request, bench/RESULTS.md).
// N-API cannot read a promise's state; this is the one place that uses V8 itself: three exported,
// long-stable methods (v8::Value::IsPromise, v8::Promise::State, v8::Promise::Result) on the napi_value,
// which is a v8::Local<v8::Value> in every Node.js (v8impl::V8LocalValueFromJsValue). Plain napi (no
// node-addon-api wrapper): it runs once per async request.
napi_value PromiseValue(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg = nullptr;
  if (napi_get_cb_info(env, info, &argc, &arg, nullptr, nullptr) != napi_ok || argc < 1) return nullptr;
  static_assert(sizeof(v8::Local<v8::Value>) == sizeof(napi_value), "napi_value is a v8::Local");
  v8::Local<v8::Value> v;
  std::memcpy(static_cast<void*>(&v), &arg, sizeof arg);
  if (!v->IsPromise()) return arg;
  v8::Local<v8::Promise> p = v.As<v8::Promise>();
  if (p->State() != v8::Promise::kFulfilled) return arg;
  v8::Local<v8::Value> r = p->Result();
  napi_value out;
  std::memcpy(&out, static_cast<void*>(&r), sizeof out);
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeServer", JsServer::Init(env));
  exports.Set("listenTcp", Napi::Function::New(env, ListenTcp));
  exports.Set("tlsCheck", Napi::Function::New(env, TlsCheck));
  exports.Set("tlsHandshakes", Napi::Function::New(env, [](const Napi::CallbackInfo& info) -> Napi::Value {
                return Napi::Number::New(info.Env(), static_cast<double>(TlsTransport::handshakes()));
              }));
  exports.Set("listenUnix", Napi::Function::New(env, ListenUnix));
  exports.Set("sockName", Napi::Function::New(env, SockName));
  exports.Set("setInheritable", Napi::Function::New(env, SetInheritable));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd));
  exports.Set("listenerStop", Napi::Function::New(env, ListenerStop));
  exports.Set("listenerStopping", Napi::Function::New(env, ListenerStopping));
  exports.Set("sdNotify", Napi::Function::New(env, SdNotify));
  exports.Set("unixDgramSocket", Napi::Function::New(env, UnixDgramSocket));
  exports.Set("unixDgramSend", Napi::Function::New(env, UnixDgramSend));
  exports.Set("peerCred", Napi::Function::New(env, PeerCred));
  exports.Set("reapOrphans", Napi::Function::New(env, ReapOrphans));
  exports.Set("balanceCreate", Napi::Function::New(env, BalanceCreate));
  exports.Set("balanceVacate", Napi::Function::New(env, BalanceVacate));
  {
    napi_value f;
    if (napi_create_function(env, "promiseValue", NAPI_AUTO_LENGTH, PromiseValue, nullptr, &f) == napi_ok)
      exports.Set("promiseValue", Napi::Value(env, f));
  }
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
  for (uint32_t i = 0; i < known_header_count(); i++) keys.Set(i, known_header_key(i));
  exports.Set("headerKeys", keys);
  exports.Set("headSlots", Napi::Number::New(env, kHeadSlots));
#ifdef GTS_NO_HTTP2
  exports.Set("http2", false);
#else
  exports.Set("http2", h2_runtime_available());
#endif
  exports.Set("llhttpVersion", std::to_string(LLHTTP_VERSION_MAJOR) + "." + std::to_string(LLHTTP_VERSION_MINOR) + "." +
                                   std::to_string(LLHTTP_VERSION_PATCH));
  return exports;
}

}  // namespace
}  // namespace gts

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return gts::Init(env, exports); }
NODE_API_MODULE(gunicorn_native, InitModule)
