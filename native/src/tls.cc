#include "tls.h"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <cstring>
#include <utility>
#include <vector>

// Weak references: a Node built without OpenSSL (or not exporting it) leaves
// them null instead of failing at the first call. (Not dlsym(): that would
// raise the glibc floor of the prebuilds to 2.34.)
#pragma weak SSL_CTX_new
#pragma weak OPENSSL_version_major

namespace gts {

unsigned long long TlsTransport::handshakes_ = 0;

namespace {

// ---- the context -------------------------------------------------------------

// The ALPN list of a context, in wire format, owned by the context (ex_data).
int g_alpn_index = -1;

void free_alpn(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) { delete static_cast<std::string*>(ptr); }

int alpn_select(SSL* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
                void*) {
  auto* wire = static_cast<std::string*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), g_alpn_index));
  if (wire == nullptr || wire->empty()) return SSL_TLSEXT_ERR_NOACK;
  unsigned char* o = nullptr;
  if (SSL_select_next_proto(&o, outlen, reinterpret_cast<const unsigned char*>(wire->data()),
                            static_cast<unsigned>(wire->size()), in, inlen) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;  // no overlap: go on without ALPN (HTTP/1.1 assumed), as nginx does
  }
  *out = o;
  return SSL_TLSEXT_ERR_OK;
}

struct PassCtx {
  const std::string* pass;
  bool asked = false;
};

// Never let OpenSSL fall back to its default callback: it prompts on the TTY
// (a daemonised worker would block forever).
int pass_cb(char* buf, int size, int, void* u) {
  auto* pc = static_cast<PassCtx*>(u);
  pc->asked = true;
  if (pc->pass->empty() || static_cast<int>(pc->pass->size()) > size) return -1;
  std::memcpy(buf, pc->pass->data(), pc->pass->size());
  return static_cast<int>(pc->pass->size());
}

// One line from OpenSSL's error queue: the earliest entry is the root cause
// (e.g. "No such file", "bad decrypt", "key values mismatch").
std::string ssl_error_line() {
  unsigned long e = ERR_peek_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  const char* reason = ERR_reason_error_string(e);
  if (reason != nullptr) return reason;
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

bool alpn_wire(const std::string& list, std::string* wire) {
  size_t i = 0;
  while (i <= list.size()) {
    size_t j = list.find(',', i);
    if (j == std::string::npos) j = list.size();
    std::string p = list.substr(i, j - i);
    if (!p.empty()) {
      if (p.size() > 255) return false;
      wire->push_back(static_cast<char>(p.size()));
      wire->append(p);
    }
    i = j + 1;
  }
  return true;
}

}  // namespace

bool tls_available(std::string* why) {
  // N-API is ABI-stable across Node versions; OpenSSL is not part of that
  // promise: check the exported library is there and is the major version the
  // addon was compiled against, before the first call.
  if (&SSL_CTX_new == nullptr || &OPENSSL_version_major == nullptr) {
    *why = "this Node.js does not export OpenSSL (built without it?)";
    return false;
  }
  if (OPENSSL_version_major() != OPENSSL_VERSION_MAJOR) {
    *why = "this Node.js exports OpenSSL " + std::to_string(OPENSSL_version_major()) + ".x, the addon was built for " +
           std::to_string(OPENSSL_VERSION_MAJOR) + ".x";
    return false;
  }
  return true;
}

namespace {

// ---- SNI ---------------------------------------------------------------------

// The SNI certificates of a context, owned by it (ex_data): each entry's own
// SSL_CTX, freed with the default one.
struct SniTable {
  std::vector<std::pair<std::string, SSL_CTX*>> exact;  // "example.com"
  std::vector<std::pair<std::string, SSL_CTX*>> wild;   // "example.org" for "*.example.org"
  SniTable() = default;
  SniTable(const SniTable&) = delete;
  SniTable& operator=(const SniTable&) = delete;
  ~SniTable() {
    for (auto& e : exact) SSL_CTX_free(e.second);
    for (auto& e : wild) SSL_CTX_free(e.second);
  }
};

int g_sni_index = -1;

void free_sni(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) { delete static_cast<SniTable*>(ptr); }

SSL_CTX* sni_find(const SniTable& t, const std::string& host) {
  for (const auto& e : t.exact)
    if (e.first == host) return e.second;
  // One level only: "*.example.org" is a.example.org, not a.b.example.org.
  size_t dot = host.find('.');
  if (dot == 0 || dot == std::string::npos) return nullptr;
  const char* parent = host.c_str() + dot + 1;
  for (const auto& e : t.wild)
    if (e.first == parent) return e.second;
  return nullptr;
}

// Runs on the ClientHello: switch to the certificate for the client's server
// name. No name, or an unknown one: the default certificate (not acknowledged).
int sni_select(SSL* ssl, int*, void* arg) {
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr || arg == nullptr) return SSL_TLSEXT_ERR_NOACK;
  std::string host(name);
  if (!host.empty() && host.back() == '.') host.pop_back();
  for (char& c : host)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  SSL_CTX* ctx = sni_find(*static_cast<SniTable*>(arg), host);
  if (ctx == nullptr) return SSL_TLSEXT_ERR_NOACK;
  SSL_set_SSL_CTX(ssl, ctx);
  return SSL_TLSEXT_ERR_OK;
}

SSL_CTX* context_one(const TlsOptions& o, std::string* err);

}  // namespace

SSL_CTX* tls_context_new(const TlsOptions& o, std::string* err) {
  std::string why;
  if (!tls_available(&why)) {
    *err = why;
    return nullptr;
  }
  SSL_CTX* ctx = context_one(o, err);
  if (ctx == nullptr || o.sni.empty()) return ctx;
  if (g_sni_index < 0) g_sni_index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, free_sni);
  auto* table = new SniTable();
  // Owned by ctx from here: freeing ctx frees the table and its contexts.
  SSL_CTX_set_ex_data(ctx, g_sni_index, table);
  for (const TlsSniEntry& e : o.sni) {
    TlsOptions eo = o;  // the same protocol, cipher, ALPN and verify settings
    eo.sni.clear();
    eo.certfile = e.certfile;
    eo.keyfile = e.keyfile;
    eo.passphrase = e.passphrase;
    std::string eerr;
    SSL_CTX* ectx = context_one(eo, &eerr);
    if (ectx == nullptr) {
      *err = "sni \"" + e.name + "\": " + eerr;
      SSL_CTX_free(ctx);
      return nullptr;
    }
    if (e.name.compare(0, 2, "*.") == 0) {
      table->wild.emplace_back(e.name.substr(2), ectx);
    } else {
      table->exact.emplace_back(e.name, ectx);
    }
  }
  SSL_CTX_set_tlsext_servername_callback(ctx, sni_select);
  SSL_CTX_set_tlsext_servername_arg(ctx, table);
  return ctx;
}

namespace {

SSL_CTX* context_one(const TlsOptions& o, std::string* err) {
  ERR_clear_error();
  const std::string& keyfile = o.keyfile.empty() ? o.certfile : o.keyfile;
  if (o.certfile.empty()) {
    *err = "keyfile is set but certfile is not";
    return nullptr;
  }
  // Gunicorn's own wording (sock.py) for files that are not there.
  if (access(o.certfile.c_str(), R_OK) != 0) {
    *err = "certfile \"" + o.certfile + "\" does not exist";
    return nullptr;
  }
  if (access(keyfile.c_str(), R_OK) != 0) {
    *err = "keyfile \"" + keyfile + "\" does not exist";
    return nullptr;
  }
  if (g_alpn_index < 0) g_alpn_index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, free_alpn);
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) {
    *err = "SSL_CTX_new: " + ssl_error_line();
    return nullptr;
  }
  auto fail = [&](const std::string& what) -> SSL_CTX* {
    *err = what + ": " + ssl_error_line();
    SSL_CTX_free(ctx);
    return nullptr;
  };
  // TLS 1.2 minimum (ssl_version maps to a minimum; 1.0/1.1 are refused).
  if (SSL_CTX_set_min_proto_version(ctx, o.min_version < TLS1_2_VERSION ? TLS1_2_VERSION : o.min_version) != 1)
    return fail("ssl_version");
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
  // Idle keep-alive connections give back OpenSSL's record buffers (~16 KiB each).
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  if (!o.ciphers.empty() && SSL_CTX_set_cipher_list(ctx, o.ciphers.c_str()) != 1)
    return fail("ciphers \"" + o.ciphers + "\"");
  if (!o.ciphersuites.empty() && SSL_CTX_set_ciphersuites(ctx, o.ciphersuites.c_str()) != 1)
    return fail("ciphersuites \"" + o.ciphersuites + "\"");
  if (!o.groups.empty() && SSL_CTX_set1_groups_list(ctx, o.groups.c_str()) != 1)
    return fail("groups \"" + o.groups + "\"");

  PassCtx pc{&o.passphrase};
  SSL_CTX_set_default_passwd_cb(ctx, pass_cb);
  SSL_CTX_set_default_passwd_cb_userdata(ctx, &pc);
  if (SSL_CTX_use_certificate_chain_file(ctx, o.certfile.c_str()) != 1) return fail("certfile \"" + o.certfile + "\"");
  int key_ok = SSL_CTX_use_PrivateKey_file(ctx, keyfile.c_str(), SSL_FILETYPE_PEM);
  // The callback's userdata points at this stack frame: do not leave it behind.
  SSL_CTX_set_default_passwd_cb(ctx, nullptr);
  SSL_CTX_set_default_passwd_cb_userdata(ctx, nullptr);
  if (key_ok != 1) {
    if (ERR_GET_REASON(ERR_peek_error()) == X509_R_KEY_VALUES_MISMATCH) {
      ERR_clear_error();
      *err = "keyfile \"" + keyfile + "\" does not match certfile \"" + o.certfile + "\"";
      SSL_CTX_free(ctx);
      return nullptr;
    }
    if (pc.asked && o.passphrase.empty()) {
      ERR_clear_error();
      *err = "keyfile \"" + keyfile + "\" is encrypted (passphrase-protected) and no passphrase was given";
      SSL_CTX_free(ctx);
      return nullptr;
    }
    return fail("keyfile \"" + keyfile + "\"");
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    *err = "keyfile \"" + keyfile + "\" does not match certfile \"" + o.certfile + "\"";
    SSL_CTX_free(ctx);
    return nullptr;
  }
  if (!o.ca_certs.empty()) {
    if (access(o.ca_certs.c_str(), R_OK) != 0) {
      *err = "ca_certs \"" + o.ca_certs + "\" does not exist";
      SSL_CTX_free(ctx);
      return nullptr;
    }
    if (SSL_CTX_load_verify_locations(ctx, o.ca_certs.c_str(), nullptr) != 1)
      return fail("ca_certs \"" + o.ca_certs + "\"");
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(o.ca_certs.c_str());
    if (names != nullptr) SSL_CTX_set_client_CA_list(ctx, names);
  }
  ERR_clear_error();
  int mode = SSL_VERIFY_NONE;
  if (o.cert_reqs == 1) mode = SSL_VERIFY_PEER;
  if (o.cert_reqs == 2) mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  SSL_CTX_set_verify(ctx, mode, nullptr);
  // Needed as soon as client certificates are verified and sessions resume
  // (else resumption fails with "session id context uninitialized").
  static const unsigned char kSid[] = "gunicorn-ts";
  SSL_CTX_set_session_id_context(ctx, kSid, sizeof kSid - 1);
  // TLS 1.3 sends tickets after the handshake; one is enough for a browser.
  SSL_CTX_set_num_tickets(ctx, o.session_tickets < 0 ? 0 : static_cast<size_t>(o.session_tickets));
  if (o.session_tickets == 0) SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  auto* wire = new std::string();
  if (!alpn_wire(o.alpn, wire)) {
    delete wire;
    *err = "alpn: a protocol name is longer than 255 bytes";
    SSL_CTX_free(ctx);
    return nullptr;
  }
  SSL_CTX_set_ex_data(ctx, g_alpn_index, wire);
  SSL_CTX_set_alpn_select_cb(ctx, alpn_select, nullptr);
  return ctx;
}

}  // namespace

// ---- TlsTransport ------------------------------------------------------------

namespace {
BIO_METHOD* g_bio_method = nullptr;
constexpr size_t kCipherSpareMax = 64 * 1024;  // a bigger buffer (a large response) is freed, not shared
}  // namespace

TlsTransport::TlsTransport(StreamTransport* stream, SSL_CTX* ctx, TransportEvents* events, const ReadBuffer* plain,
                           std::string* cipher_spare, bool suppress_ragged_eofs, void (*wake)(void*), void* wake_arg)
    : stream_(stream),
      events_(events),
      plain_(plain),
      spare_(cipher_spare),
      wake_(wake),
      wake_arg_(wake_arg),
      suppress_ragged_(suppress_ragged_eofs) {
  stream_->set_events(this);
  if (g_bio_method == nullptr) {
    g_bio_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "gunicorn-ts transport");
    if (g_bio_method == nullptr) return;
    BIO_meth_set_read_ex(g_bio_method, bio_read);
    BIO_meth_set_write_ex(g_bio_method, bio_write);
    BIO_meth_set_ctrl(g_bio_method, bio_ctrl);
  }
  ssl_ = SSL_new(ctx);
  if (ssl_ == nullptr) return;
  // One BIO for both directions: it reads the chunk libuv just delivered in
  // place and appends what OpenSSL writes to cipher_.
  BIO* b = BIO_new(g_bio_method);
  if (b == nullptr) {
    SSL_free(ssl_);
    ssl_ = nullptr;
    return;
  }
  BIO_set_data(b, this);
  BIO_set_init(b, 1);
  SSL_set_bio(ssl_, b, b);  // the same BIO both ways consumes one reference
  SSL_set_accept_state(ssl_);
}

TlsTransport::~TlsTransport() {
  if (ssl_ != nullptr) SSL_free(ssl_);
}

void TlsTransport::set_reading_impl(bool on) {
  if (closed_) return;
  stream_->set_reading(on);
  reading_ = on;
  // Plaintext (or whole records) may already be buffered, and no socket event
  // will come for it: have it delivered from the loop, never from inside the
  // caller (it may be in the middle of its own handler).
  if (on && !in_pump_ && ssl_ != nullptr && (SSL_pending(ssl_) > 0 || in_pending() > 0)) wake_(wake_arg_);
}

void TlsTransport::run_deferred() {
  if (closed_ || ssl_ == nullptr || !reading_) return;
  if (SSL_pending(ssl_) > 0 || in_pending() > 0) pump();
}

void TlsTransport::on_transport_data(const char* p, size_t n) {
  if (closed_) return;
  if (ssl_ == nullptr) return fail();
  if (stash_.size() > stash_off_) {
    stash_.append(p, n);  // older ciphertext first
  } else {
    in_p_ = p;
    in_n_ = n;
  }
  pump();
  if (in_n_ > 0 && !closed_) {  // not consumed (reading stopped): keep it, the libuv buffer is shared
    stash_.assign(in_p_, in_n_);
    stash_off_ = 0;
  }
  in_p_ = nullptr;
  in_n_ = 0;
}

void TlsTransport::pump() {
  if (in_pump_) return;
  in_pump_ = true;
  // SSL_get_error() trusts the thread's error queue: it must be empty before
  // the SSL calls. Clearing costs ~400 instructions, so once per read callback
  // (and after every failure).
  ERR_clear_error();
  while (!closed_ && !failed_) {
    if (!hs_done_) {
      int r = SSL_do_handshake(ssl_);
      if (r == 1) {
        hs_done_ = true;
        handshakes_++;
        if (!held_.empty()) {
          std::string h;
          h.swap(held_);
          size_t w = 0;
          if (SSL_write_ex(ssl_, h.data(), h.size(), &w) != 1) {
            fail();
            break;
          }
        }
        continue;
      }
      int e = SSL_get_error(ssl_, r);
      if (e == SSL_ERROR_WANT_READ) break;  // our flight is in cipher_: flushed below
      flush_cipher();                       // the alert, if any
      fail();
      break;
    }
    if (!reading_ || got_close_notify_) break;
    size_t n = 0;
    if (SSL_read_ex(ssl_, plain_->base, plain_->size, &n) == 1) {
      events_->on_transport_data(plain_->base, n);
      // Nothing left to decrypt: skip the SSL_read that would only say
      // WANT_READ (~1k instructions per request).
      if (in_pending() == 0 && SSL_pending(ssl_) == 0) break;
      continue;
    }
    int e = SSL_get_error(ssl_, 0);
    if (e == SSL_ERROR_WANT_READ) break;
    if (e == SSL_ERROR_ZERO_RETURN) {  // close_notify
      got_close_notify_ = true;
      if (!eof_reported_) {
        eof_reported_ = true;
        events_->on_transport_eof();
      }
      break;
    }
    fail();
    break;
  }
  // Handshake flights, TLS 1.3 tickets, alerts.
  if (!closed_ && !failed_ && flush_cipher() == WriteStatus::kError) fail();
  in_pump_ = false;
  // Plaintext held during the handshake has gone out whole: the stream will
  // not report it (it was never pending there), so report it here.
  if (owe_written_ && !closed_ && !failed_ && hs_done_ && pending_ == 0) {
    owe_written_ = false;
    events_->on_transport_written();
  }
}

size_t TlsTransport::in_pending() const { return in_n_ + (stash_.size() - stash_off_); }

int TlsTransport::bio_read(BIO* b, char* out, size_t n, size_t* got) {
  auto* t = static_cast<TlsTransport*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  const bool from_stash = t->stash_.size() > t->stash_off_;
  const char* src = from_stash ? t->stash_.data() + t->stash_off_ : t->in_p_;
  size_t avail = from_stash ? t->stash_.size() - t->stash_off_ : t->in_n_;
  if (avail == 0) {
    BIO_set_retry_read(b);  // "no data yet", not EOF
    *got = 0;
    return 0;
  }
  size_t k = n < avail ? n : avail;
  std::memcpy(out, src, k);
  if (from_stash) {
    t->stash_off_ += k;
    if (t->stash_off_ == t->stash_.size()) {
      std::string().swap(t->stash_);
      t->stash_off_ = 0;
    }
  } else {
    t->in_p_ += k;
    t->in_n_ -= k;
  }
  *got = k;
  return 1;
}

int TlsTransport::bio_write(BIO* b, const char* in, size_t n, size_t* put) {
  auto* t = static_cast<TlsTransport*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  // The loop's shared buffer (see the constructor), when ours has none.
  if (t->cipher_.empty() && t->spare_->capacity() > t->cipher_.capacity()) t->cipher_.swap(*t->spare_);
  t->cipher_.append(in, n);
  *put = n;
  return 1;
}

long TlsTransport::bio_ctrl(BIO* b, int cmd, long, void*) {
  auto* t = static_cast<TlsTransport*>(BIO_get_data(b));
  switch (cmd) {
    case BIO_CTRL_FLUSH: return 1;
    case BIO_CTRL_PENDING: return static_cast<long>(t->in_pending());
    case BIO_CTRL_WPENDING: return static_cast<long>(t->cipher_.size());
    default: return 0;
  }
}

Transport::WriteStatus TlsTransport::flush_cipher() {
  if (cipher_.empty()) return WriteStatus::kDone;
  WriteStatus st = stream_->write(cipher_);  // kPending takes cipher_'s buffer
  if (st == WriteStatus::kDone) {
    // The buffer goes back to the loop's shared one (see the constructor): an
    // idle connection keeps none.
    cipher_.clear();
    if (cipher_.capacity() <= kCipherSpareMax && cipher_.capacity() > spare_->capacity()) cipher_.swap(*spare_);
    if (cipher_.capacity() > std::string().capacity()) std::string().swap(cipher_);
  }
  sync_pending();
  return st;
}

Transport::WriteStatus TlsTransport::write(std::string& data) {
  if (closed_ || failed_ || sent_close_notify_ || ssl_ == nullptr) return WriteStatus::kError;
  if (!hs_done_) {
    // Nothing may be sent before the handshake completes: keep it.
    held_.append(data);
    data.clear();
    sync_pending();
    owe_written_ = true;
    return WriteStatus::kPending;
  }
  if (!in_pump_) ERR_clear_error();  // inside pump() it was cleared already
  size_t w = 0;
  // The BIO always accepts everything (no partial writes, no WANT_WRITE);
  // OpenSSL cuts the flush into records of up to 16 KiB.
  if (SSL_write_ex(ssl_, data.data(), data.size(), &w) != 1) {
    ERR_clear_error();
    return WriteStatus::kError;
  }
  WriteStatus st = flush_cipher();
  if (st == WriteStatus::kPending) data.clear();  // the plaintext is encrypted: the caller's buffer is free
  return st;
}

bool TlsTransport::shutdown() {
  if (closed_) return false;
  if (hs_done_ && !sent_close_notify_ && !failed_ && ssl_ != nullptr) {
    sent_close_notify_ = true;
    ERR_clear_error();
    SSL_shutdown(ssl_);  // 0: ours is sent; we do not wait for the peer's (the owner lingers)
    ERR_clear_error();
    if (flush_cipher() == WriteStatus::kError) return false;
  }
  return stream_->shutdown();
}

void TlsTransport::close() {
  if (closed_) return;
  closed_ = true;
  reading_ = false;
  stream_->close();
}

void TlsTransport::on_transport_closed() { events_->on_transport_closed(); }

void TlsTransport::fail() {
  if (failed_ || closed_) return;
  failed_ = true;
  ERR_clear_error();
  events_->on_transport_error();
}

void TlsTransport::on_transport_eof() {
  if (closed_ || eof_reported_) return;
  // TCP FIN. After close_notify it was reported already; without one it is a
  // "ragged EOF" (a truncation attack for bodies without a length).
  eof_reported_ = true;
  if (suppress_ragged_ || !hs_done_) {
    events_->on_transport_eof();
  } else {
    failed_ = true;
    events_->on_transport_error();
  }
}

void TlsTransport::on_transport_error() {
  if (closed_) return;
  fail();
}

void TlsTransport::on_transport_written() {
  if (closed_) return;
  sync_pending();
  if (pending_ == 0) {
    owe_written_ = false;
    events_->on_transport_written();
  }
}

namespace {
std::string name_rfc2253(X509_NAME* n) {
  BIO* b = BIO_new(BIO_s_mem());
  if (b == nullptr) return std::string();
  X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253);
  char* p = nullptr;
  long len = BIO_get_mem_data(b, &p);
  std::string s(p, len > 0 ? static_cast<size_t>(len) : 0);
  BIO_free(b);
  return s;
}

void put(std::string* out, const char* k, const std::string& v) {
  out->append(k);
  out->push_back('\0');
  out->append(v);
  out->push_back('\0');
}
}  // namespace

void TlsTransport::describe(std::string* out) const {
  if (ssl_ == nullptr || !hs_done_) return;
  put(out, "SSL_PROTOCOL", SSL_get_version(ssl_));
  const SSL_CIPHER* c = SSL_get_current_cipher(ssl_);
  if (c != nullptr) put(out, "SSL_CIPHER", SSL_CIPHER_get_name(c));
  X509* cert = SSL_get0_peer_certificate(ssl_);
  if (cert == nullptr) {
    put(out, "SSL_CLIENT_VERIFY", "NONE");
    return;
  }
  long v = SSL_get_verify_result(ssl_);
  put(out, "SSL_CLIENT_VERIFY",
      v == X509_V_OK ? std::string("SUCCESS") : std::string("FAILED:") + X509_verify_cert_error_string(v));
  put(out, "SSL_CLIENT_S_DN", name_rfc2253(X509_get_subject_name(cert)));
  put(out, "SSL_CLIENT_I_DN", name_rfc2253(X509_get_issuer_name(cert)));
  char cn[256];
  int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
  if (n >= 0) put(out, "SSL_CLIENT_S_DN_CN", std::string(cn, static_cast<size_t>(n)));
  ASN1_INTEGER* serial = X509_get_serialNumber(cert);
  BIGNUM* bn = serial != nullptr ? ASN1_INTEGER_to_BN(serial, nullptr) : nullptr;
  if (bn != nullptr) {
    char* hex = BN_bn2hex(bn);
    if (hex != nullptr) {
      put(out, "SSL_CLIENT_M_SERIAL", hex);
      OPENSSL_free(hex);
    }
    BN_free(bn);
  }
}

bool TlsTransport::alpn_h2() const {
  const unsigned char* p = nullptr;
  unsigned int n = 0;
  if (ssl_ == nullptr) return false;
  SSL_get0_alpn_selected(ssl_, &p, &n);
  return n == 2 && p[0] == 'h' && p[1] == '2';
}

}  // namespace gts
