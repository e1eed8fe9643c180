// libFuzzer target over the transport read path (native/src/transport.cc,
// native/src/tls.cc), no N-API: a real libuv loop, a unix socketpair, the
// server side is the addon's StreamTransport (plain) or TlsTransport over it
// (TLS, the server context from tls_context_new()), the client side is an
// OpenSSL client SSL over memory BIOs (TLS) or raw bytes (plain). The input
// chooses the plaintext, how the client cuts it into SSL_write calls (TLS
// records), how the bytes on the wire are cut into writes (each one read by
// the server in its own loop turn), the server's read buffer sizes (ciphertext
// and decrypted), when the server stops and resumes reading (the stash and
// run_deferred() paths), the protocol version and how the client ends.
//   byte 0: bit 0 TLS, bit 1 TLS 1.2 only, bits 2-3 how the client ends
//           (close_notify then FIN, FIN only, nothing), bit 4 suppress_ragged_eofs,
//           bits 5-7 ciphertext read buffer size (1, 7, 64, 500, 1500, 4096, 16384, 65536)
//   byte 1: bits 0-2 decrypted buffer size (same table), rest unused
//   bytes 2-5: seed of the cuts and the read pauses
//   rest: the client's plaintext
// Invariants: the server delivers exactly the client's plaintext, in order,
// whatever the cuts; no error event for a well-behaved client; the close is
// reported once, after the data (close_notify: EOF; a FIN: EOF when
// suppress_ragged_eofs, else an error; nothing: neither); everything the
// server writes back (an echo, written from its data callback as Connection
// does) reaches the client intact; pending() is 0 once on_transport_written()
// says so; the delivered bytes then go through the parser harness
// (parser_harness.h), as they would through the connection's parser.
// Built and run by scripts/fuzz.sh (FUZZ_TARGET=tls); links Debian's libssl and
// libuv (the addon itself uses the ones node exports).
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "parser_harness.h"
#include "tls.h"
#include "transport.h"

#define FUZZ_NAME "fuzz_tls"
#include "fuzz_check.h"

namespace {

const size_t kSizes[8] = {1, 7, 64, 500, 1500, 4096, 16384, 65536};

SSL_CTX* g_server = nullptr;
SSL_CTX* g_client = nullptr;
SSL_CTX* g_client12 = nullptr;
uv_loop_t g_loop;
std::string g_spare;  // the loop's shared ciphertext buffer (Server::cipher_spare())

struct Rng {
  uint32_t s;
  uint32_t next() {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    return s;
  }
  size_t upto(size_t n) { return 1 + next() % n; }  // 1..n
};

// The owner of the transport (Connection's role).
struct Sink final : gts::TransportEvents {
  gts::Transport* top = nullptr;
  std::string got;       // plaintext delivered
  std::string echo_out;  // written back from the data callback, flushed after the loop turn
  std::string echo_all;  // everything handed to write()
  int eof = 0, error = 0, closed = 0, written = 0;
  bool pause_next = false;  // stop reading inside the next data callback

  void on_transport_data(const char* p, size_t n) override {
    CHECK(n > 0, "empty data event");
    CHECK(!eof, "data after EOF");
    CHECK(!closed, "data after close");
    got.append(p, n);
    // The echo (one byte per delivered chunk, so chunking shows in it).
    echo_out.push_back(static_cast<char>(p[0] ^ 0x5a));
    if (pause_next) {
      pause_next = false;
      top->set_reading(false);
    }
  }
  void on_transport_eof() override {
    CHECK(!eof, "EOF twice");
    eof++;
  }
  void on_transport_error() override { error++; }
  void on_transport_written() override {
    CHECK(top->pending() == 0, "written with bytes pending");
    written++;
  }
  void on_transport_closed() override { closed++; }
};

struct Wake {
  bool due = false;
};
void wake(void* a) { static_cast<Wake*>(a)->due = true; }

void make_server_context() {
  char dir[] = "/tmp/fuzz_tls.XXXXXX";
  CHECK(mkdtemp(dir) != nullptr, "mkdtemp");
  std::string cert = std::string(dir) + "/cert.pem", key = std::string(dir) + "/key.pem";
  EVP_PKEY* pk = EVP_EC_gen("P-256");
  X509* x = X509_new();
  CHECK(pk != nullptr && x != nullptr, "key");
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600L * 24 * 365);
  X509_set_pubkey(x, pk);
  X509_NAME* n = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(x, n);
  CHECK(X509_sign(x, pk, EVP_sha256()) > 0, "sign");
  FILE* f = std::fopen(cert.c_str(), "w");
  CHECK(f != nullptr && PEM_write_X509(f, x) == 1, "write cert");
  std::fclose(f);
  f = std::fopen(key.c_str(), "w");
  CHECK(f != nullptr && PEM_write_PrivateKey(f, pk, nullptr, nullptr, 0, nullptr, nullptr) == 1, "write key");
  std::fclose(f);
  X509_free(x);
  EVP_PKEY_free(pk);
  gts::TlsOptions o;
  o.certfile = cert;
  o.keyfile = key;
  o.alpn = "http/1.1";
  std::string err;
  g_server = gts::tls_context_new(o, &err);
  if (g_server == nullptr) std::fprintf(stderr, "fuzz_tls: tls_context_new: %s\n", err.c_str());
  CHECK(g_server != nullptr, "server context");
  unlink(cert.c_str());
  unlink(key.c_str());
  rmdir(dir);
  g_client = SSL_CTX_new(TLS_client_method());
  g_client12 = SSL_CTX_new(TLS_client_method());
  CHECK(g_client != nullptr && g_client12 != nullptr, "client context");
  SSL_CTX_set_verify(g_client, SSL_VERIFY_NONE, nullptr);
  SSL_CTX_set_verify(g_client12, SSL_VERIFY_NONE, nullptr);
  SSL_CTX_set_max_proto_version(g_client12, TLS1_2_VERSION);
  static const unsigned char kAlpn[] = "\x08http/1.1";
  SSL_CTX_set_alpn_protos(g_client, kAlpn, sizeof kAlpn - 1);
}

// One loop turn for what is in the socket (several, so that a large chunk
// read through a small buffer is delivered whole before the next one).
void turn() {
  for (int i = 0; i < 4; i++) uv_run(&g_loop, UV_RUN_NOWAIT);
}

struct Run {
  bool tls;
  int fd;  // the client's end
  SSL* cssl = nullptr;
  BIO* crd = nullptr;  // ciphertext from the server, for the client
  BIO* cwr = nullptr;  // ciphertext from the client
  std::string echo_got;
  bool client_eof = false;
  Rng* rng;
  Sink* sink;
  Wake* wk;
  gts::TlsTransport* tt = nullptr;

  // Server -> client: drain the socket, decrypt.
  void drain_client() {
    char buf[8192];
    for (;;) {
      ssize_t r = read(fd, buf, sizeof buf);
      if (r > 0) {
        if (tls) {
          BIO_write(crd, buf, static_cast<int>(r));
        } else {
          echo_got.append(buf, static_cast<size_t>(r));
        }
        continue;
      }
      if (r == 0) client_eof = true;
      break;
    }
    if (!tls) return;
    for (;;) {
      if (!SSL_is_init_finished(cssl)) {
        int r = SSL_do_handshake(cssl);
        if (r != 1) {
          CHECK(SSL_get_error(cssl, r) == SSL_ERROR_WANT_READ, "client handshake failed");
          ERR_clear_error();
          return;
        }
      }
      char p[4096];
      size_t n = 0;
      if (SSL_read_ex(cssl, p, sizeof p, &n) == 1) {
        echo_got.append(p, n);
        continue;
      }
      int e = SSL_get_error(cssl, 0);
      ERR_clear_error();
      CHECK(e == SSL_ERROR_WANT_READ || e == SSL_ERROR_ZERO_RETURN, "client read failed");
      return;
    }
  }

  // The server's echo goes out as Connection's flush does.
  void flush_server() {
    if (sink->echo_out.empty() || sink->closed || sink->error) return;
    std::string out;
    out.swap(sink->echo_out);
    sink->echo_all.append(out);
    gts::Transport::WriteStatus st = sink->top->write(out);
    CHECK(st != gts::Transport::WriteStatus::kError, "server write failed");
    if (st == gts::Transport::WriteStatus::kPending) CHECK(out.empty(), "kPending left the buffer");
  }

  // Client -> server: `wire` cut into writes, the server reading each in its own turn.
  void send(const std::string& wire) {
    size_t off = 0;
    while (off < wire.size()) {
      size_t k = rng->upto(rng->next() & 1 ? 24 : 700);
      if (k > wire.size() - off) k = wire.size() - off;
      ssize_t w = write(fd, wire.data() + off, k);
      CHECK(w > 0, "client write");
      off += static_cast<size_t>(w);
      // Sometimes stop reading inside the next data callback, and resume a turn later.
      if ((rng->next() & 7) == 0) sink->pause_next = true;
      turn();
      step();
    }
  }

  void step() {
    if (!sink->top->reading() && !sink->closed) {
      sink->top->set_reading(true);
      // The wake is asynchronous in the addon: socket data may come first.
      if (rng->next() & 1) turn();
      if (wk->due) {
        wk->due = false;
        if (tt != nullptr) tt->run_deferred();
      }
      turn();
    }
    flush_server();
    turn();
    drain_client();
  }

  // What the client has produced so far.
  std::string client_out() {
    std::string s;
    char b[4096];
    int r;
    while ((r = BIO_read(cwr, b, sizeof b)) > 0) s.append(b, static_cast<size_t>(r));
    return s;
  }
};

void fuzz(const uint8_t* data, size_t size) {
  if (size < 6) return;
  const bool tls = data[0] & 1;
  const int ending = (data[0] >> 2) & 3;  // 0 close_notify + FIN, 1 FIN, 2/3 nothing
  const bool suppress = data[0] & 0x10;
  gts::ReadBuffer rb{nullptr, kSizes[(data[0] >> 5) & 7]};
  gts::ReadBuffer plain{nullptr, kSizes[data[1] & 7]};
  Rng rng{(static_cast<uint32_t>(data[2]) | static_cast<uint32_t>(data[3]) << 8 | static_cast<uint32_t>(data[4]) << 16 |
           static_cast<uint32_t>(data[5]) << 24) |
          1u};
  std::string text(reinterpret_cast<const char*>(data + 6), size - 6);
  // Fresh, exactly-sized buffers: ASan sees any access past them.
  rb.base = static_cast<char*>(std::malloc(rb.size));
  plain.base = static_cast<char*>(std::malloc(plain.size));

  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
  int buf = 1 << 20;
  setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) | O_NONBLOCK);

  Sink sink;
  Wake wk;
  auto* st = new gts::StreamTransport(&g_loop, true, &sink, &rb);
  CHECK(st->open(sv[0]) == 0, "open");
  gts::TlsTransport* tt = nullptr;
  if (tls) {
    tt = new gts::TlsTransport(st, g_server, &sink, &plain, &g_spare, suppress, wake, &wk);
    CHECK(tt->ok(), "TlsTransport");
    sink.top = tt;
  } else {
    sink.top = st;
  }
  sink.top->set_reading(true);

  Run r{tls, sv[1]};
  r.rng = &rng;
  r.sink = &sink;
  r.wk = &wk;
  r.tt = tt;
  if (tls) {
    r.cssl = SSL_new(data[0] & 2 ? g_client12 : g_client);
    r.crd = BIO_new(BIO_s_mem());
    r.cwr = BIO_new(BIO_s_mem());
    CHECK(r.cssl != nullptr && r.crd != nullptr && r.cwr != nullptr, "client SSL");
    SSL_set_bio(r.cssl, r.crd, r.cwr);
    SSL_set_connect_state(r.cssl);
    // The handshake, its flights cut like everything else.
    for (int i = 0; i < 50 && !SSL_is_init_finished(r.cssl); i++) {
      int x = SSL_do_handshake(r.cssl);
      if (x != 1) {
        CHECK(SSL_get_error(r.cssl, x) == SSL_ERROR_WANT_READ, "client handshake");
        ERR_clear_error();
      }
      r.send(r.client_out());
      r.step();
    }
    CHECK(SSL_is_init_finished(r.cssl), "handshake did not complete");
    // The plaintext in SSL_write calls of chosen sizes (records), each
    // record's bytes cut again on the wire.
    size_t off = 0;
    while (off < text.size()) {
      size_t k = rng.upto(rng.next() & 1 ? 40 : 5000);
      if (k > text.size() - off) k = text.size() - off;
      size_t w = 0;
      CHECK(SSL_write_ex(r.cssl, text.data() + off, k, &w) == 1 && w == k, "client write");
      off += k;
      if (rng.next() & 1) r.send(r.client_out());  // else several records in one send
    }
    if (ending == 0) SSL_shutdown(r.cssl);
    r.send(r.client_out());
  } else {
    r.send(text);
  }
  if (ending <= 1) shutdown(sv[1], SHUT_WR);
  for (int i = 0; i < 8; i++) r.step();

  CHECK(sink.error == 0 || (tls && ending == 1 && !suppress), "error event for a well-behaved client");
  CHECK(sink.got == text, "delivered plaintext differs from what the client sent");
  if (ending == 0 || (ending == 1 && (!tls || suppress))) {
    CHECK(sink.eof == 1 && sink.error == 0, "the end was not reported as EOF");
  } else if (ending == 1) {
    CHECK(sink.eof == 0 && sink.error == 1, "a ragged EOF was not an error");
  } else {
    CHECK(sink.eof == 0 && sink.error == 0, "an end reported that did not happen");
  }
  if (sink.error == 0) {
    CHECK(r.echo_got == sink.echo_all, "the echo arrived different");
    CHECK(sink.top->pending() == 0, "bytes still pending");
  }

  sink.top->close();
  for (int i = 0; i < 4 && !sink.closed; i++) uv_run(&g_loop, UV_RUN_NOWAIT);
  CHECK(sink.closed == 1, "close not reported once");
  delete tt;
  delete st;
  if (r.cssl != nullptr) SSL_free(r.cssl);
  close(sv[1]);
  std::free(rb.base);
  std::free(plain.base);
  ERR_clear_error();

  // What the transport delivered is what the connection's parser gets.
  harness::fuzz_one(reinterpret_cast<const uint8_t*>(sink.got.data()), sink.got.size());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  CHECK(uv_loop_init(&g_loop) == 0, "uv_loop_init");
  make_server_context();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz(data, size);
  return 0;
}
