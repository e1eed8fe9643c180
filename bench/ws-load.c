// WebSocket echo load generator for bench/ws.mjs: one thread, epoll, N connections over loopback, each with a
// real opening handshake (Sec-WebSocket-Accept checked), then a closed loop: one masked binary (or text)
// message of SIZE bytes in flight per connection; every echo that comes back (same opcode and length) is
// counted and answered with the next message. Runs WARMUP seconds, then DURATION measured seconds (bounded:
// it stops at the deadline whatever the server does), and prints one JSON line: messages in the measured
// window, messages/s, and, with -P, the CPU seconds the server process used in that window (utime + stime from
// /proc/PID/stat, the process and its threads; stime alone as server_sys_s), so messages per server CPU-second
// and the kernel's part of it. A C client because a JS
// client costs more CPU per message than the servers being measured (docs/design/websocket.md §6).
//
//   cc -O2 -o build/bench/ws-load bench/ws-load.c
//   build/bench/ws-load -p PORT [-h 127.0.0.1] [-u /path] [-c 100] [-s 64] [-d 10] [-w 1] [-P SERVER_PID] [-t]
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

// --- SHA-1 (FIPS 180-4) and base64, for Sec-WebSocket-Accept -------------------------------------------------
static uint32_t rol(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void sha1(const uint8_t* msg, size_t len, uint8_t out[20]) {
  uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  size_t total = ((len + 8) / 64 + 1) * 64;
  uint8_t* m = calloc(total, 1);
  memcpy(m, msg, len);
  m[len] = 0x80;
  uint64_t bits = (uint64_t)len * 8;
  for (int i = 0; i < 8; i++) m[total - 1 - i] = (uint8_t)(bits >> (8 * i));
  for (size_t off = 0; off < total; off += 64) {
    uint32_t w[80];
    for (int i = 0; i < 16; i++) {
      const uint8_t* p = m + off + 4 * i;
      w[i] = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    }
    for (int i = 16; i < 80; i++) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
      uint32_t f, k;
      if (i < 20) {
        f = (b & c) | (~b & d);
        k = 0x5A827999;
      } else if (i < 40) {
        f = b ^ c ^ d;
        k = 0x6ED9EBA1;
      } else if (i < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8F1BBCDC;
      } else {
        f = b ^ c ^ d;
        k = 0xCA62C1D6;
      }
      uint32_t t = rol(a, 5) + f + e + k + w[i];
      e = d;
      d = c;
      c = rol(b, 30);
      b = a;
      a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
  }
  free(m);
  for (int i = 0; i < 5; i++) {
    out[4 * i] = (uint8_t)(h[i] >> 24);
    out[4 * i + 1] = (uint8_t)(h[i] >> 16);
    out[4 * i + 2] = (uint8_t)(h[i] >> 8);
    out[4 * i + 3] = (uint8_t)h[i];
  }
}

static void base64(const uint8_t* in, size_t n, char* out) {
  static const char* T = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
    out[o++] = T[(v >> 18) & 63];
    out[o++] = T[(v >> 12) & 63];
    out[o++] = i + 1 < n ? T[(v >> 6) & 63] : '=';
    out[o++] = i + 2 < n ? T[v & 63] : '=';
  }
  out[o] = 0;
}

// --- time and CPU ----------------------------------------------------------------------------------------------
static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// utime + stime of a process (all its threads), in seconds, and stime alone in *sys; -1 if it cannot be read
static double proc_cpu(int pid, double* sys) {
  if (pid <= 0) return -1;
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE* f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char* p = strrchr(buf, ')');  // the command name may contain spaces
  if (!p) return -1;
  unsigned long utime = 0, stime = 0;
  // after ")": state(3) ... utime is field 14, stime 15
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2) return -1;
  *sys = (double)stime / (double)sysconf(_SC_CLK_TCK);
  return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

// --- connections -----------------------------------------------------------------------------------------------
typedef struct {
  int fd;
  size_t out_off;   // bytes of the current outgoing frame already written
  int want_out;     // EPOLLOUT registered
  uint8_t hdr[14];  // a server frame header, possibly split across reads
  size_t hdr_len;
  uint64_t remaining;  // payload bytes of the current server frame still to skip
  int frame_op;
  uint64_t frame_len;
} Conn;

static uint8_t* frame;  // the one masked message every connection sends
static size_t frame_len;
static int expect_op;
static uint64_t msg_size;
static long counted, total, errors;
static int measuring;

static void die(const char* what) {
  fprintf(stderr, "ws-load: %s: %s\n", what, strerror(errno));
  exit(1);
}

static int handshake(const char* host, int port, const char* path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
    fprintf(stderr, "ws-load: bad host %s (an IPv4 address)\n", host);
    exit(2);
  }
  if (connect(fd, (struct sockaddr*)&sa, sizeof sa) < 0) die("connect");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct timeval tv = {.tv_sec = 10};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  uint8_t raw[16];
  for (int i = 0; i < 16; i++) raw[i] = (uint8_t)rand();
  char key[32], req[1024];
  base64(raw, 16, key);
  int n = snprintf(req, sizeof req,
                   "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                   path, host, port, key);
  if (write(fd, req, (size_t)n) != n) die("write handshake");
  char resp[4096];
  size_t got = 0;
  char* end = NULL;
  while (!end) {
    ssize_t r = read(fd, resp + got, sizeof resp - 1 - got);
    if (r <= 0) die("read handshake answer");
    got += (size_t)r;
    resp[got] = 0;
    end = strstr(resp, "\r\n\r\n");
    if (!end && got >= sizeof resp - 1) {
      fprintf(stderr, "ws-load: handshake answer too long\n");
      exit(1);
    }
  }
  if (strncmp(resp, "HTTP/1.1 101", 12) != 0) {
    fprintf(stderr, "ws-load: handshake answered: %.*s\n", (int)(strchr(resp, '\r') - resp), resp);
    exit(1);
  }
  if (end + 4 != resp + got) {
    fprintf(stderr, "ws-load: the server sent data right after the 101\n");
    exit(1);
  }
  char concat[128], accept[64];
  uint8_t digest[20];
  snprintf(concat, sizeof concat, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
  sha1((const uint8_t*)concat, strlen(concat), digest);
  base64(digest, 20, accept);
  const char* h = strcasestr(resp, "\r\nSec-WebSocket-Accept:");
  if (!h) {
    fprintf(stderr, "ws-load: 101 without Sec-WebSocket-Accept\n");
    exit(1);
  }
  h += strlen("\r\nSec-WebSocket-Accept:");
  while (*h == ' ') h++;
  if (strncmp(h, accept, strlen(accept)) != 0 || (h[strlen(accept)] != '\r' && h[strlen(accept)] != ' ')) {
    fprintf(stderr, "ws-load: wrong Sec-WebSocket-Accept (want %s)\n", accept);
    exit(1);
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

static void set_events(int ep, Conn* c, int out) {
  if (c->want_out == out) return;
  struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
  epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
  c->want_out = out;
}

// writes what is left of the current frame; 0 when it is all out
static int send_more(int ep, Conn* c) {
  while (c->out_off < frame_len) {
    ssize_t w = write(c->fd, frame + c->out_off, frame_len - c->out_off);
    if (w < 0) {
      if (errno == EAGAIN) {
        set_events(ep, c, 1);
        return 1;
      }
      if (errno == EINTR) continue;
      errors++;
      return -1;
    }
    c->out_off += (size_t)w;
  }
  set_events(ep, c, 0);
  return 0;
}

static void on_message(int ep, Conn* c) {
  if (c->frame_op != expect_op || c->frame_len != msg_size) errors++;
  total++;
  if (measuring) counted++;
  c->out_off = 0;
  send_more(ep, c);
}

// parses server frames (unmasked), skipping payloads; each complete data frame is one echo
static void consume(int ep, Conn* c, const uint8_t* p, size_t n) {
  while (n > 0) {
    if (c->remaining > 0) {
      size_t k = n < c->remaining ? n : (size_t)c->remaining;
      c->remaining -= k;
      p += k;
      n -= k;
      if (c->remaining == 0 && c->frame_op < 8) on_message(ep, c);
      continue;
    }
    c->hdr[c->hdr_len++] = *p++;
    n--;
    if (c->hdr_len < 2) continue;
    size_t need = 2;
    uint8_t l7 = c->hdr[1] & 0x7f;
    if (l7 == 126) need = 4;
    if (l7 == 127) need = 10;
    if (c->hdr_len < need) continue;
    uint64_t len = l7;
    if (l7 == 126) len = (uint64_t)c->hdr[2] << 8 | c->hdr[3];
    if (l7 == 127) {
      len = 0;
      for (int i = 2; i < 10; i++) len = len << 8 | c->hdr[i];
    }
    c->frame_op = c->hdr[0] & 0x0f;
    c->frame_len = len;
    c->hdr_len = 0;
    c->remaining = len;
    if (c->frame_op >= 8) {  // the server pinged or closed: an error; its payload is skipped, not counted
      errors++;
      continue;
    }
    if (len == 0) on_message(ep, c);
  }
}

int main(int argc, char** argv) {
  const char* host = "127.0.0.1";
  const char* path = "/";
  int port = 0, nconns = 100, pid = 0, text = 0;
  double duration = 10, warmup = 1;
  long size = 64;
  int opt;
  while ((opt = getopt(argc, argv, "h:p:u:c:s:d:w:P:t")) != -1) {
    switch (opt) {
      case 'h': host = optarg; break;
      case 'p': port = atoi(optarg); break;
      case 'u': path = optarg; break;
      case 'c': nconns = atoi(optarg); break;
      case 's': size = atol(optarg); break;
      case 'd': duration = atof(optarg); break;
      case 'w': warmup = atof(optarg); break;
      case 'P': pid = atoi(optarg); break;
      case 't': text = 1; break;
      default:
        fprintf(stderr,
                "usage: ws-load -p PORT [-h HOST] [-u PATH] [-c CONNS] [-s SIZE] [-d SEC] [-w SEC] [-P PID] [-t]\n");
        return 2;
    }
  }
  if (port <= 0 || nconns <= 0 || size < 0 || duration <= 0 || duration > 600 || warmup < 0 || warmup > 60) {
    fprintf(stderr, "ws-load: need -p PORT; -c > 0, -s >= 0, 0 < -d <= 600, 0 <= -w <= 60\n");
    return 2;
  }
  srand((unsigned)time(NULL) ^ (unsigned)getpid());
  msg_size = (uint64_t)size;
  expect_op = text ? 1 : 2;
  // the message: FIN + opcode, MASK + length, mask key, masked payload ('x' for text, bytes for binary)
  size_t hl = size < 126 ? 2 : size < 65536 ? 4 : 10;
  frame_len = hl + 4 + (size_t)size;
  frame = malloc(frame_len);
  frame[0] = (uint8_t)(0x80 | expect_op);
  if (size < 126) {
    frame[1] = (uint8_t)(0x80 | size);
  } else if (size < 65536) {
    frame[1] = 0x80 | 126;
    frame[2] = (uint8_t)(size >> 8);
    frame[3] = (uint8_t)size;
  } else {
    frame[1] = 0x80 | 127;
    for (int i = 0; i < 8; i++) frame[2 + i] = (uint8_t)((uint64_t)size >> (8 * (7 - i)));
  }
  uint8_t* mask = frame + hl;
  for (int i = 0; i < 4; i++) mask[i] = (uint8_t)rand();
  for (long i = 0; i < size; i++) frame[hl + 4 + i] = (uint8_t)((text ? 'x' : (i * 31) & 0xff) ^ mask[i & 3]);

  int ep = epoll_create1(0);
  if (ep < 0) die("epoll_create1");
  Conn* conns = calloc((size_t)nconns, sizeof(Conn));
  for (int i = 0; i < nconns; i++) {
    conns[i].fd = handshake(host, port, path);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &conns[i]};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev) < 0) die("epoll_ctl");
  }
  for (int i = 0; i < nconns; i++) send_more(ep, &conns[i]);

  static uint8_t buf[1 << 18];
  struct epoll_event evs[256];
  double t0 = now();
  double start = t0 + warmup, deadline = start + duration;
  double cpu0 = -1, sys0 = 0, self0 = 0, tstart = 0;
  int closed = 0;
  for (;;) {
    double t = now();
    if (!measuring && t >= start) {
      measuring = 1;
      tstart = t;
      cpu0 = proc_cpu(pid, &sys0);
      self0 = self_cpu();
    }
    if (t >= deadline || closed == nconns) break;
    int n = epoll_wait(ep, evs, 256, 50);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int i = 0; i < n; i++) {
      Conn* c = evs[i].data.ptr;
      if (c->fd < 0) continue;
      if (evs[i].events & EPOLLOUT) send_more(ep, c);
      if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        for (;;) {
          ssize_t r = read(c->fd, buf, sizeof buf);
          if (r > 0) {
            consume(ep, c, buf, (size_t)r);
            if ((size_t)r < sizeof buf) break;
            continue;
          }
          if (r < 0 && errno == EAGAIN) break;
          if (r < 0 && errno == EINTR) continue;
          errors++;  // the server closed a connection during the run
          close(c->fd);
          c->fd = -1;
          closed++;
          break;
        }
      }
    }
  }
  double t1 = now();
  double sys1 = 0, cpu1 = proc_cpu(pid, &sys1);
  double self1 = self_cpu();
  double secs = measuring ? t1 - tstart : 0;
  for (int i = 0; i < nconns; i++)
    if (conns[i].fd >= 0) close(conns[i].fd);
  double server_cpu = (cpu0 >= 0 && cpu1 >= 0) ? cpu1 - cpu0 : -1;
  printf(
      "{\"connections\":%d,\"size\":%ld,\"opcode\":%d,\"seconds\":%.3f,\"messages\":%ld,\"messages_total\":%ld,"
      "\"msgs_per_s\":%.1f,\"server_pid\":%d,\"server_cpu_s\":%.3f,\"server_sys_s\":%.3f,"
      "\"msgs_per_server_cpu_s\":%.1f,\"client_cpu_s\":%.3f,\"errors\":%ld,\"closed\":%d}\n",
      nconns, size, expect_op, secs, counted, total, secs > 0 ? counted / secs : 0, pid, server_cpu,
      server_cpu >= 0 ? sys1 - sys0 : -1,
      server_cpu > 0 ? counted / server_cpu : 0, measuring ? self1 - self0 : 0, errors, closed);
  return errors > 0 ? 1 : 0;
}
