#include "response.h"

#include <cstdio>
#include <cstring>

#include "ascii.h"

namespace gts {
namespace {

using ascii::is_tchar;
using ascii::lower;

// HTAB, SP, VCHAR and obs-text: what a reason phrase or field value may hold
// (RFC 9112 §4, RFC 9110 §5.5). No CR, LF, NUL or other CTL (response
// splitting), and only latin-1, which is all that can be written (PEP 3333).
inline bool is_text(char16_t c) { return c <= 0xff && (c >= 0x20 || c == '\t') && c != 0x7f; }

// A field name (already checked to be a token) equals a lower-case literal.
inline bool name_is(const char16_t* p, size_t n, const char* lit) { return ascii::ieq_lower(p, n, lit); }

// Hop-by-hop fields (RFC 9110 §7.6.1) are the server's business, not the
// application's: Gunicorn drops them, and also drops Server and Date because
// it always writes its own.
bool is_dropped(const char16_t* p, size_t n) {
  if (n < 2 || n > 19) return false;
  switch (lower(p[0])) {
    case 'c': return name_is(p, n, "connection");
    case 'k': return name_is(p, n, "keep-alive");
    case 'p': return name_is(p, n, "proxy-authenticate") || name_is(p, n, "proxy-authorization");
    case 't': return name_is(p, n, "te") || name_is(p, n, "trailers") || name_is(p, n, "transfer-encoding");
    case 'u': return name_is(p, n, "upgrade");
    case 's': return name_is(p, n, "server");
    case 'd': return name_is(p, n, "date");
    default: return false;
  }
}

// Decimal digits of v written backwards into the end of buf; returns the start.
char* format_u64(char* end, uint64_t v) {
  char* p = end;
  do {
    *--p = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  return p;
}

// Narrows UTF-16 code units already checked to be <= 0xFF.
inline char* narrow(char* dst, const char16_t* src, size_t n) {
  for (size_t i = 0; i < n; i++) dst[i] = static_cast<char>(src[i]);
  return dst + n;
}

inline char* put(char* dst, const char* src, size_t n) {
  std::memcpy(dst, src, n);
  return dst + n;
}

// String literals: the length comes from the array type, never from counting.
template <size_t N>
inline char* put(char* dst, const char (&lit)[N]) {
  return put(dst, lit, N - 1);
}

}  // namespace

const std::string& DateCache::get() {
  time_t now = time(nullptr);
  if (now != last_ || value_.empty()) {
    last_ = now;
    struct tm tmv;
    gmtime_r(&now, &tmv);
    char buf[64];
    size_t k = strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tmv);
    value_.assign(buf, k);
  }
  return value_;
}

void append_chunk_header(std::string& out, size_t n) {
  static const char kHex[] = "0123456789ABCDEF";
  char tmp[24];
  char* end = tmp + sizeof tmp;
  char* p = end;
  *--p = '\n';
  *--p = '\r';
  do {
    *--p = kHex[n & 15];
    n >>= 4;
  } while (n != 0);
  out.append(p, static_cast<size_t>(end - p));
}

HeadError prepare_head(const char16_t* status, size_t slen, const char16_t* hdrs, size_t hlen, uint32_t nhdrs,
                       AppHead* app) {
  app->status = 0;
  // Status: "NNN" [SP reason-phrase]; reason = *( HTAB / SP / VCHAR / obs-text ) (RFC 9112 §4).
  if (slen < 3 || status[0] < '1' || status[0] > '9' || status[1] < '0' || status[1] > '9' || status[2] < '0' ||
      status[2] > '9' || (slen > 3 && status[3] != ' ')) {
    return HeadError::kBadStatus;
  }
  for (size_t i = 3; i < slen; i++) {
    if (!is_text(status[i])) return HeadError::kBadStatus;
  }
  const int code = (status[0] - '0') * 100 + (status[1] - '0') * 10 + (status[2] - '0');
  // Gunicorn removes Content-Length for 1xx and 204
  const bool drop_app_length = (code >= 100 && code < 200) || code == 204;

  // One pass: validate each header, note Content-Length, and write the line
  // unless it is dropped. On an error the partly written `lines` do not matter:
  // the head stays invalid (status 0).
  if (nhdrs > hlen) return HeadError::kBadHeader;  // every entry takes at least NAME '\0' '\n'
  app->status_text.resize(slen == 3 ? 4 : slen);
  narrow(&app->status_text[0], status, slen);
  if (slen == 3) app->status_text[3] = ' ';
  std::string& l = app->lines;
  l.resize(hlen + 2 * static_cast<size_t>(nhdrs));  // each entry grows by 2 at most: ": " and CRLF for '\0' and '\n'
  char* w = &l[0];
  int64_t app_length = -1;
  uint32_t seen = 0;
  size_t i = 0;
  while (i < hlen) {
    size_t ns = i;
    while (i < hlen && hdrs[i] != 0) i++;
    if (i == hlen) return HeadError::kBadHeader;
    size_t nl = i - ns;
    i++;  // '\0'
    size_t vs = i;
    while (i < hlen && hdrs[i] != '\n') i++;
    if (i == hlen) return HeadError::kBadHeader;
    size_t vl = i - vs;
    i++;                                               // '\n'
    if (++seen > nhdrs) return HeadError::kBadHeader;  // a separator smuggled inside a name or value
    if (nl == 0) return HeadError::kBadHeader;
    for (size_t k = 0; k < nl; k++) {
      if (!is_tchar(hdrs[ns + k])) return HeadError::kBadHeader;  // RFC 9110 §5.1 field-name = token
    }
    for (size_t k = 0; k < vl; k++) {
      if (!is_text(hdrs[vs + k])) return HeadError::kBadHeader;
    }
    // values are OWS-trimmed (Gunicorn)
    size_t a = vs, b = vs + vl;
    while (a < b && (hdrs[a] == ' ' || hdrs[a] == '\t')) a++;
    while (b > a && (hdrs[b - 1] == ' ' || hdrs[b - 1] == '\t')) b--;
    const bool is_length = name_is(hdrs + ns, nl, "content-length");
    if (is_length) {
      // 1*DIGIT
      if (a == b || b - a > 18) return HeadError::kBadContentLength;
      int64_t v = 0;
      for (size_t k = a; k < b; k++) {
        if (hdrs[k] < '0' || hdrs[k] > '9') return HeadError::kBadContentLength;
        v = v * 10 + (hdrs[k] - '0');
      }
      if (app_length >= 0 && app_length != v) return HeadError::kBadContentLength;
      app_length = v;
    }
    if (is_dropped(hdrs + ns, nl) || (is_length && drop_app_length)) continue;
    w = narrow(w, hdrs + ns, nl);
    *w++ = ':';
    *w++ = ' ';
    w = narrow(w, hdrs + a, b - a);
    *w++ = '\r';
    *w++ = '\n';
  }
  if (seen != nhdrs) return HeadError::kBadHeader;
  l.resize(static_cast<size_t>(w - l.data()));
  app->app_length = drop_app_length ? -1 : app_length;
  app->status = code;
  return HeadError::kOk;
}

void emit_head(std::string& out, const RequestFacts& req, const AppHead& app, int64_t known_length, bool want_close,
               const std::string& date, ResponsePlan* plan) {
  // Framing (RFC 9112 §6.3, RFC 9110 §6.4.1).
  const int code = app.status;
  const bool v11 = req.version_major == 1 && req.version_minor >= 1;
  const bool bodyless_status = (code >= 100 && code < 200) || code == 204 || code == 304;
  ResponsePlan p;
  p.status = code;
  p.keep_alive = req.keep_alive && !want_close;
  bool add_length = false;
  if (bodyless_status) {
    p.framing = Framing::kNone;
  } else if (app.app_length >= 0) {
    p.framing = req.is_head ? Framing::kNone : Framing::kLength;
    p.length = static_cast<uint64_t>(app.app_length);
  } else if (known_length >= 0) {
    p.framing = req.is_head ? Framing::kNone : Framing::kLength;
    p.length = static_cast<uint64_t>(known_length);
    add_length = true;
  } else if (req.is_head) {
    p.framing = Framing::kNone;
  } else if (v11) {
    p.framing = Framing::kChunked;
  } else {
    p.framing = Framing::kClose;
    p.keep_alive = false;
  }
  p.send_body = p.framing == Framing::kLength || p.framing == Framing::kChunked || p.framing == Framing::kClose;

  // Status line with the request's version, as Gunicorn does; the head is
  // written into a stack buffer when it fits and appended with one copy.
  static constexpr char kServer[] = "\r\nServer: gunicorn-ts\r\nDate: ";
  char tmp[1024];
  const size_t need = 160 + app.status_text.size() + date.size() + app.lines.size();
  std::string big;
  char* const base = need <= sizeof tmp ? tmp : (big.resize(need), &big[0]);
  char* w = base;
  w = put(w, "HTTP/1.");
  *w++ = req.version_minor >= 1 ? '1' : '0';
  *w++ = ' ';
  w = put(w, app.status_text.data(), app.status_text.size());
  w = put(w, kServer);
  w = put(w, date.data(), date.size());
  if (p.keep_alive) w = put(w, "\r\nConnection: keep-alive\r\n");
  else w = put(w, "\r\nConnection: close\r\n");
  if (p.framing == Framing::kChunked) w = put(w, "Transfer-Encoding: chunked\r\n");
  w = put(w, app.lines.data(), app.lines.size());
  if (add_length) {
    w = put(w, "Content-Length: ");
    char digits[24];
    char* d = format_u64(digits + sizeof digits, p.length);
    w = put(w, d, static_cast<size_t>(digits + sizeof digits - d));
    *w++ = '\r';
    *w++ = '\n';
  }
  *w++ = '\r';
  *w++ = '\n';
  out.append(base, static_cast<size_t>(w - base));
  *plan = p;
}

HeadError build_head(std::string& out, const RequestFacts& req, const char16_t* status, size_t slen,
                     const char16_t* hdrs, size_t hlen, uint32_t nhdrs, int64_t known_length, bool want_close,
                     const std::string& date, ResponsePlan* plan) {
  AppHead app;
  HeadError e = prepare_head(status, slen, hdrs, hlen, nhdrs, &app);
  if (e != HeadError::kOk) return e;
  emit_head(out, req, app, known_length, want_close, date, plan);
  return HeadError::kOk;
}

void build_error(std::string& out, int status, const char* reason, const char* message) {
  // HTML-escape the message like Python's html.escape.
  std::string esc;
  for (const char* m = message; *m; m++) {
    switch (*m) {
      case '&': esc += "&amp;"; break;
      case '<': esc += "&lt;"; break;
      case '>': esc += "&gt;"; break;
      case '"': esc += "&quot;"; break;
      case '\'': esc += "&#x27;"; break;
      default: esc.push_back(*m);
    }
  }
  std::string body = "<html>\n  <head>\n    <title>";
  body += reason;
  body += "</title>\n  </head>\n  <body>\n    <h1><p>";
  body += reason;
  body += "</p></h1>\n    ";
  body += esc;
  body += "\n  </body>\n</html>\n";
  char head[160];
  int k = std::snprintf(head, sizeof head,
                        "HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Type: text/html\r\nContent-Length: %zu\r\n\r\n",
                        status, reason, body.size());
  out.append(head, static_cast<size_t>(k));
  out.append(body);
}

}  // namespace gts
