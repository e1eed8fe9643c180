// TLS as a second Transport under the same HTTP state machine (issue 11).
//
//   Connection --Transport--> TlsTransport --Transport--> StreamTransport (libuv)
//   Connection <--TransportEvents-- TlsTransport <--TransportEvents-- StreamTransport
//
// OpenSSL is the one Node itself exports (the addon is compiled against Node's
// own <openssl/...> headers and links to nothing: the symbols bind to the node
// executable at load time). OpenSSL never touches the socket: one custom BIO
// serves it the ciphertext libuv just read (in place) and collects what it
// writes, which goes to the StreamTransport below in one write per flush. So
// libuv, uv_try_write, corking, backpressure and the lingering close stay as
// they are for plain HTTP.
#pragma once

#include <openssl/ssl.h>

#include <string>
#include <vector>

#include "transport.h"

namespace gts {

// One SNI certificate: `name` is a lower-case host name ("example.com") or a
// one-level wildcard ("*.example.org": a.example.org, not example.org nor
// a.b.example.org).
struct TlsSniEntry {
  std::string name;
  std::string certfile;
  std::string keyfile;  // "" = the key is in certfile
  std::string passphrase;
};

// Gunicorn's SSL settings (every value from the settings registry).
struct TlsOptions {
  std::string certfile;
  std::string keyfile;  // "" = the key is in certfile (Gunicorn)
  std::string ca_certs;
  std::string ciphers;       // TLS <= 1.2 cipher list ("" = OpenSSL's default)
  std::string ciphersuites;  // TLS 1.3 suites ("" = OpenSSL's default; ssl_context hook)
  std::string groups;        // key-exchange groups ("" = default; ssl_context hook)
  std::string alpn;          // comma-separated ALPN protocols, in preference order ("http/1.1")
  std::string passphrase;    // "" = an encrypted key is an error (never prompt on a TTY)
  int cert_reqs = 0;         // 0 none, 1 optional, 2 required (Python's ssl.CERT_*)
  int min_version = TLS1_2_VERSION;
  int session_tickets = 1;  // TLS 1.3 tickets per handshake (0 = none)
  bool suppress_ragged_eofs = true;
  // Certificates chosen by the client's server name (ssl_context hook's `sni`);
  // certfile/keyfile serve a client without SNI or with an unknown name.
  std::vector<TlsSniEntry> sni;
};

// True when the OpenSSL the process exports is usable (a Node built without
// OpenSSL, or not exporting it, would otherwise fail at the first call).
bool tls_available(std::string* why);

// One SSL_CTX (per worker; the arbiter builds one to validate before forking).
// With SNI entries it owns one more SSL_CTX per entry (same protocol, cipher,
// ALPN and verify settings, the entry's certificate), chosen by the servername
// callback. On failure returns nullptr and sets *err to one line.
SSL_CTX* tls_context_new(const TlsOptions& o, std::string* err);

class TlsTransport final : public Transport, private TransportEvents {
 public:
  // Wraps `stream` (owned by the caller, outlives this object): its events are
  // re-targeted here. `wake(arg)` asks the owner to call run_deferred() from
  // the loop (plaintext buffered inside OpenSSL after reading resumed).
  // `plain` is a shared buffer for decrypted bytes (the ciphertext may still
  // sit in the stream's read buffer). `cipher_spare` is a ciphertext buffer
  // shared by the transports of one loop: what OpenSSL writes is handed to the
  // stream before the call returns (uv_try_write took it all: the buffer goes
  // back there) or the stream takes the buffer (a queued write). So an idle
  // connection keeps no buffer of its own, and a keep-alive request or a
  // handshake flight allocates none. It only ever holds an empty buffer.
  TlsTransport(StreamTransport* stream, SSL_CTX* ctx, TransportEvents* events, const ReadBuffer* plain,
               std::string* cipher_spare, bool suppress_ragged_eofs, void (*wake)(void*), void* wake_arg);
  ~TlsTransport() override;
  TlsTransport(const TlsTransport&) = delete;
  TlsTransport& operator=(const TlsTransport&) = delete;

  bool ok() const { return ssl_ != nullptr; }
  void run_deferred();

  // Transport
  WriteStatus write(std::string& data) override;
  bool shutdown() override;
  void close() override;
  bool peer(sockaddr_storage* ss) const override { return stream_->peer(ss); }

  // Valid once the handshake is done.
  bool handshake_done() const { return hs_done_; }
  // Client certificate and session facts for environ (mod_ssl's names):
  // fills `out` with key\0value\0 pairs.
  void describe(std::string* out) const;
  // The protocol ALPN chose is "h2" (HTTP/2 over TLS).
  bool alpn_h2() const;

  // for tests and stats
  static unsigned long long handshakes() { return handshakes_; }

 private:
  void set_reading_impl(bool on) override;
  // TransportEvents of the StreamTransport below
  void on_transport_data(const char* p, size_t n) override;
  void on_transport_eof() override;
  void on_transport_error() override;
  void on_transport_written() override;
  void on_transport_closed() override;

  void pump();                 // drive the handshake, deliver plaintext
  WriteStatus flush_cipher();  // cipher_ -> stream
  void fail();
  size_t in_pending() const;  // ciphertext not yet given to OpenSSL
  void sync_pending() { pending_ = held_.size() + stream_->pending(); }

  static int bio_read(BIO* b, char* out, size_t n, size_t* got);
  static int bio_write(BIO* b, const char* in, size_t n, size_t* put);
  static long bio_ctrl(BIO* b, int cmd, long num, void* ptr);

  StreamTransport* stream_;
  SSL* ssl_ = nullptr;
  TransportEvents* events_;
  const ReadBuffer* plain_;
  std::string* spare_;  // see the constructor
  void (*wake_)(void*);
  void* wake_arg_;
  const char* in_p_ = nullptr;  // the libuv chunk being consumed (during on_transport_data only)
  size_t in_n_ = 0;
  std::string stash_;  // ciphertext kept when reading stopped mid-chunk
  size_t stash_off_ = 0;
  std::string held_;    // plaintext written before the handshake completed
  std::string cipher_;  // ciphertext produced by OpenSSL, handed to the stream
  bool suppress_ragged_;
  bool in_pump_ = false;
  bool hs_done_ = false;
  bool got_close_notify_ = false;
  bool sent_close_notify_ = false;
  bool eof_reported_ = false;
  bool failed_ = false;
  bool owe_written_ = false;  // write() held plaintext (kPending): on_transport_written() is due
  static unsigned long long handshakes_;
};

}  // namespace gts
