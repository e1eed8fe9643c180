#include "request_parser.h"

#include <arpa/inet.h>

#include <cstring>

#include "ascii.h"

namespace gts {
namespace {

using ascii::is_ctl;  // control bytes in field values are rejected, as Gunicorn does
using ascii::is_ows;
using ascii::is_tchar;
using ascii::upper;

// True when no byte of p[0..n) is_ctl(). Eight bytes at a time: a word with no
// byte below 0x20 and none equal to 0x7f is clean (exact: no borrow crosses a
// byte unless some byte is below 0x20, and bytes >= 0x80 never flag); a word
// that flags (a tab, or a real control byte) is checked byte by byte.
inline bool value_clean(const char* p, size_t n) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL, kHigh = 0x8080808080808080ULL;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t x;
    std::memcpy(&x, p + i, 8);
    const uint64_t below = (x - 0x20 * kOnes) & ~x & kHigh;
    const uint64_t y = x ^ (0x7f * kOnes);
    const uint64_t del = (y - kOnes) & ~y & kHigh;
    if ((below | del) != 0) {
      for (size_t k = i; k < i + 8; k++) {
        if (is_ctl(static_cast<unsigned char>(p[k]))) return false;
      }
    }
  }
  for (; i < n; i++) {
    if (is_ctl(static_cast<unsigned char>(p[i]))) return false;
  }
  return true;
}
// s equals a lower-case literal, ignoring ASCII case.
inline bool ieq(const Slice& s, const char* lit) { return ascii::ieq_lower(s.p, s.n, lit); }

constexpr uint32_t kMaxRequestLine = 8190;       // Gunicorn's MAX_REQUEST_LINE
constexpr uint32_t kMaxHeaders = 32768;          // MAX_HEADERS
constexpr uint32_t kMaxFieldSize = 8190;         // MAX_HEADERFIELD_SIZE
constexpr uint32_t kUnlimitedLineBound = 65536;  // our own bound when limit_request_line = 0
constexpr uint32_t kFieldSizeBound = 1u << 20;   // our own bound on one header line
constexpr size_t kHeadBound = 64u << 20;         // our own bound on a whole head

const char kCanonicalLine11[] = "GET / HTTP/1.1\r\n";
const char kCanonicalLine10[] = "GET / HTTP/1.0\r\n";

}  // namespace

uint32_t ParserConfig::request_line_limit() const {
  // Gunicorn: 0 means no limit; anything above MAX_REQUEST_LINE is capped to it.
  if (limit_request_line == 0) return kUnlimitedLineBound;
  return limit_request_line > kMaxRequestLine ? kMaxRequestLine : limit_request_line;
}
uint32_t ParserConfig::fields_limit() const {
  if (limit_request_fields == 0 || limit_request_fields > kMaxHeaders) return kMaxHeaders;
  return limit_request_fields;
}
uint32_t ParserConfig::field_size_limit() const {
  // Gunicorn 26 maps values <= 0 back to the default rather than "unlimited",
  // and honours values above 8190. Our own bound: 1 MiB per header line.
  if (limit_request_field_size == 0) return kMaxFieldSize;
  return limit_request_field_size > kFieldSizeBound ? kFieldSizeBound : limit_request_field_size;
}
size_t ParserConfig::max_head_bytes() const {
  // Gunicorn's max_buffer_headers plus the request line (and a PROXY v1 line),
  // within our own 64 MiB bound (parser offsets are 32-bit).
  size_t n = static_cast<size_t>(fields_limit()) * (field_size_limit() + 2) + 4 + request_line_limit() + 2 + 108;
  return n > kHeadBound ? kHeadBound : n;
}

namespace {
int on_header_field(llhttp_t* p, const char* at, size_t len) {
  auto* sh = static_cast<ParserShared*>(p->data);
  if (sh->in_value) {
    sh->head.headers.push_back(HeaderField{sh->cur_name, sh->cur_value});
    sh->in_value = false;
    sh->cur_name = Slice{at, 0};
  }
  if (sh->cur_name.n == 0) sh->cur_name.p = at;
  sh->cur_name.n += static_cast<uint32_t>(len);
  return 0;
}

int on_header_value(llhttp_t* p, const char* at, size_t len) {
  auto* sh = static_cast<ParserShared*>(p->data);
  if (!sh->in_value) {
    sh->in_value = true;
    sh->cur_value = Slice{at, 0};
  }
  if (sh->cur_value.n == 0) sh->cur_value.p = at;
  sh->cur_value.n += static_cast<uint32_t>(len);
  return 0;
}

int on_headers_complete(llhttp_t* p) {
  auto* sh = static_cast<ParserShared*>(p->data);
  if (sh->in_value) {
    sh->head.headers.push_back(HeaderField{sh->cur_name, sh->cur_value});
  } else if (sh->cur_name.n != 0) {
    sh->head.headers.push_back(HeaderField{sh->cur_name, Slice{sh->cur_name.p, 0}});
  }
  sh->done = true;
  return 2;  // stop here: bodies are decoded by RequestParser::parse_body()
}
}  // namespace

ParserShared::ParserShared() {
  llhttp_settings_init(&settings);
  settings.on_header_field = on_header_field;
  settings.on_header_value = on_header_value;
  settings.on_headers_complete = on_headers_complete;
  llhttp_init(&llhttp, HTTP_REQUEST, &settings);
  // Framing is decided by apply_framing_rules() (Gunicorn's rules): llhttp must
  // not pre-empt it for Transfer-Encoding + Content-Length or non-chunked codings.
  llhttp_set_lenient_chunked_length(&llhttp, 1);
  llhttp_set_lenient_transfer_encoding(&llhttp, 1);
  llhttp.data = this;
  head.headers.reserve(32);
}

RequestParser::RequestParser(const ParserConfig* cfg, ParserShared* shared) : cfg_(cfg), sh_(shared) {}

void RequestParser::reset_connection(bool peer_trusted, bool proxy_allowed) {
  trusted_ = peer_trusted;
  proxy_allowed_ = proxy_allowed;
  first_request_ = true;
  proxy_.reset();
  reset_request();
}

void RequestParser::reset_request() {
  pos_ = line_start_ = reqline_start_ = headers_start_ = head_len_ = 0;
  nfields_ = field_bytes_ = 0;
  phase_ = 0;
  need_normalize_ = false;
  m_off_ = m_len_ = t_off_ = t_len_ = 0;
  err_ = Err::kOk;
  detail_ = "";
  body_kind_ = BodyKind::kNone;
  body_left_ = body_received_ = 0;
  body_done_ = true;
  chunked_.reset();
}

RequestParser::Status RequestParser::fail(Err e, const char* detail) {
  err_ = e;
  detail_ = detail;
  return Status::kError;
}

RequestParser::Status RequestParser::parse_head(const char* buf, size_t len, bool eof) {
  if (err_ != Err::kOk) return Status::kError;
  // PROXY protocol v2 starts with a binary signature, not a line.
  if (first_request_ && phase_ == 0 && pos_ == 0 &&
      (cfg_->proxy_protocol == ProxyMode::kV2 || cfg_->proxy_protocol == ProxyMode::kAuto)) {
    ProxyInfo info;
    Err e = Err::kOk;
    const char* detail = "";
    int r = parse_proxy_v2(buf, len, proxy_allowed_, &info, &e, &detail);
    if (r == -1) return fail(e, detail);
    if (r == 0 && !eof) return Status::kNeedMore;
    if (r > 0) {
      proxy_.reset(new ProxyInfo(std::move(info)));
      pos_ = line_start_ = reqline_start_ = static_cast<size_t>(r);
    }
  }
  const size_t line_limit = cfg_->request_line_limit();
  const size_t field_limit = cfg_->field_size_limit();
  while (pos_ < len) {
    const char* lf = static_cast<const char*>(std::memchr(buf + pos_, '\n', len - pos_));
    if (lf == nullptr) {
      pos_ = static_cast<uint32_t>(len);  // callers hold at most 1 GiB unconsumed (Connection::keep_input)
      size_t partial = len - line_start_;
      // Reject an over-long line as soon as it is known to be over-long.
      if (phase_ == 0 && partial > line_limit + 2) return fail(Err::kLimitRequestLine, "request line too long");
      if (phase_ == 1 && partial > field_limit) return fail(Err::kLimitRequestHeaders, "header line too long");
      break;
    }
    size_t lf_at = static_cast<size_t>(lf - buf);
    // Size limits first, judged on the bytes before the LF exactly as the
    // partial-line checks below judge a line whose LF has not arrived yet, so that
    // the verdict (Gunicorn's LimitRequestLine 400 / LimitRequestHeaders 431) does
    // not depend on how TCP split the head (found by test/native/fuzz_parser.cc).
    if (phase_ == 0 && lf_at - line_start_ > line_limit + 2)
      return fail(Err::kLimitRequestLine, "request line too long");
    if (phase_ == 1 && lf_at - line_start_ > field_limit)
      return fail(Err::kLimitRequestHeaders, "header line too long");
    if (lf_at - reqline_start_ > cfg_->max_head_bytes()) return fail(Err::kLimitRequestHeaders, "head too large");
    // RFC 9112 §2.2: lines end with CRLF. A bare LF is not a line terminator here.
    if (lf_at == line_start_ || buf[lf_at - 1] != '\r') {
      return fail(phase_ == 0 ? Err::kInvalidRequestLine : Err::kInvalidHeader, "bare LF in head");
    }
    const char* line = buf + line_start_;
    size_t n = lf_at - 1 - line_start_;
    // RFC 9112 §2.2: a bare CR inside a line must be rejected (CVE-2023-30589:
    // llhttp 8.1 treated it as a line end, letting a second header hide behind it).
    if (std::memchr(line, '\r', n) != nullptr) {
      return fail(phase_ == 0 ? Err::kInvalidRequestLine : Err::kInvalidHeader, "bare CR in head");
    }
    pos_ = static_cast<uint32_t>(lf_at + 1);
    if (phase_ == 0) {
      if (n > line_limit) return fail(Err::kLimitRequestLine, "request line too long");
      if (first_request_ && !proxy_ && n >= 6 && std::memcmp(line, "PROXY ", 6) == 0 &&
          (cfg_->proxy_protocol == ProxyMode::kV1 || cfg_->proxy_protocol == ProxyMode::kAuto)) {
        if (!proxy_allowed_) return fail(Err::kForbiddenProxyRequest, "PROXY line from a peer not in proxy_allow_ips");
        ProxyInfo info;
        const char* detail = "";
        if (!parse_proxy_v1(line, n, &info, &detail)) return fail(Err::kInvalidProxyLine, detail);
        proxy_.reset(new ProxyInfo(std::move(info)));
        line_start_ = reqline_start_ = pos_;
        continue;
      }
      if (!scan_request_line(line, n)) return Status::kError;
      phase_ = 1;
      line_start_ = headers_start_ = pos_;
      continue;
    }
    // header section
    if (n == 0) {  // empty line: end of head
      head_len_ = pos_;
      if (!finish_head(buf)) return Status::kError;
      first_request_ = false;
      return Status::kDone;
    }
    bool normalize = false;
    if (!scan_header_line(line, n, &normalize)) return Status::kError;
    need_normalize_ = need_normalize_ || normalize;
    line_start_ = pos_;
    if (pos_ - reqline_start_ > cfg_->max_head_bytes()) return fail(Err::kLimitRequestHeaders, "head too large");
  }
  if (len - reqline_start_ > cfg_->max_head_bytes()) return fail(Err::kLimitRequestHeaders, "head too large");
  if (eof && len > 0) return fail(Err::kIncompleteRequest, "stream ended inside the request head");
  return Status::kNeedMore;
}

bool RequestParser::scan_request_line(const char* line, size_t n) {
  // request-line = method SP request-target SP HTTP-version (RFC 9112 §3), split
  // on single spaces as Gunicorn does.
  const char* sp1 = static_cast<const char*>(std::memchr(line, ' ', n));
  if (sp1 == nullptr) {
    fail(Err::kInvalidRequestLine, "malformed request line");
    return false;
  }
  size_t mlen = static_cast<size_t>(sp1 - line);
  const char* rest = sp1 + 1;
  size_t rn = n - mlen - 1;
  const char* sp2 = static_cast<const char*>(std::memchr(rest, ' ', rn));
  if (sp2 == nullptr) {
    fail(Err::kInvalidRequestLine, "malformed request line");
    return false;
  }
  size_t tlen = static_cast<size_t>(sp2 - rest);
  const char* ver = sp2 + 1;
  size_t vlen = rn - tlen - 1;

  // Method: a token (RFC 9110 §9.1). Gunicorn also requires 3-20 characters and
  // no lower-case letters or '#', unless permit_unconventional_http_method.
  if (mlen == 0) {
    fail(Err::kInvalidRequestMethod, "empty method");
    return false;
  }
  for (size_t i = 0; i < mlen; i++) {
    if (!is_tchar(static_cast<unsigned char>(line[i]))) {
      fail(Err::kInvalidRequestMethod, "method is not a token");
      return false;
    }
  }
  if (!cfg_->permit_unconventional_http_method) {
    if (mlen < 3 || mlen > 20) {
      fail(Err::kInvalidRequestMethod, "method length outside 3..20");
      return false;
    }
    for (size_t i = 0; i < mlen; i++) {
      char c = line[i];
      if ((c >= 'a' && c <= 'z') || c == '#') {
        fail(Err::kInvalidRequestMethod, "unconventional method");
        return false;
      }
    }
  }
  // Target: never empty; no control bytes or spaces (RFC 9112 §3.2).
  if (tlen == 0) {
    fail(Err::kInvalidRequestLine, "empty request target");
    return false;
  }
  for (size_t i = 0; i < tlen; i++) {
    unsigned char c = static_cast<unsigned char>(rest[i]);
    if (c < 0x21 || c == 0x7f) {
      fail(Err::kInvalidRequestLine, "control byte in request target");
      return false;
    }
  }
  // Version: HTTP/DIGIT.DIGIT (RFC 9112 §2.3); only 1.0 and 1.1 unless permitted.
  if (vlen != 8 || std::memcmp(ver, "HTTP/", 5) != 0 || ver[5] < '0' || ver[5] > '9' || ver[6] != '.' || ver[7] < '0' ||
      ver[7] > '9') {
    fail(Err::kInvalidHttpVersion, "malformed HTTP version");
    return false;
  }
  // Kept per connection: the shared head belongs to whichever connection
  // finishes a head next.
  ver_major_ = static_cast<uint8_t>(ver[5] - '0');
  ver_minor_ = static_cast<uint8_t>(ver[7] - '0');
  // Gunicorn accepts 1.0 <= version < 2.0; 1.2-1.9 are served as HTTP/1.1
  // (RFC 9110 §2.5: same major version, higher minor).
  if (!cfg_->permit_unconventional_http_version && ver_major_ != 1) {
    fail(Err::kInvalidHttpVersion, "unsupported HTTP version");
    return false;
  }
  // Offsets relative to the start of the request line (the buffer may move).
  m_off_ = static_cast<uint32_t>(line_start_);
  m_len_ = static_cast<uint32_t>(mlen);
  t_off_ = static_cast<uint32_t>(line_start_ + mlen + 1);
  t_len_ = static_cast<uint32_t>(tlen);
  return true;
}

bool RequestParser::scan_header_line(const char* line, size_t n, bool* normalize) {
  const size_t field_limit = cfg_->field_size_limit();
  if (is_ows(line[0])) {
    // obs-fold (RFC 9112 §5.2): rejected unless permit_obsolete_folding. Even
    // when permitted, llhttp never sees a fold: the continuation is joined into
    // the previous value in a normalised copy (closing CVE-2024-27982).
    if (!cfg_->permit_obsolete_folding) {
      fail(Err::kObsoleteFolding, "obsolete line folding");
      return false;
    }
    if (nfields_ == 0) {
      fail(Err::kInvalidHeader, "continuation line without a field");
      return false;
    }
    for (size_t i = 0; i < n; i++) {
      if (is_ctl(static_cast<unsigned char>(line[i]))) {
        fail(Err::kInvalidHeader, "control byte in field value");
        return false;
      }
    }
    field_bytes_ += static_cast<uint32_t>(n + 2);
    if (field_bytes_ > field_limit) {
      fail(Err::kLimitRequestHeaders, "header field too large");
      return false;
    }
    *normalize = true;
    return true;
  }
  if (++nfields_ > cfg_->fields_limit()) {
    fail(Err::kLimitRequestHeaders, "too many header fields");
    return false;
  }
  field_bytes_ = static_cast<uint32_t>(n + 2);
  if (field_bytes_ > field_limit) {
    fail(Err::kLimitRequestHeaders, "header field too large");
    return false;
  }
  const char* colon = static_cast<const char*>(std::memchr(line, ':', n));
  if (colon == nullptr) {
    fail(Err::kInvalidHeader, "header line without a colon");
    return false;
  }
  size_t name_len = static_cast<size_t>(colon - line);
  size_t name_end = name_len;
  if (name_end > 0 && is_ows(line[name_end - 1])) {
    // RFC 9112 §5.1: no whitespace between field name and colon (a classic
    // smuggling shape). Gunicorn's strip_header_spaces strips it instead.
    if (!cfg_->strip_header_spaces) {
      fail(Err::kInvalidHeaderName, "whitespace before colon");
      return false;
    }
    while (name_end > 0 && is_ows(line[name_end - 1])) name_end--;
    *normalize = true;
  }
  if (name_end == 0) {
    fail(Err::kInvalidHeaderName, "empty header name");
    return false;
  }
  for (size_t i = 0; i < name_end; i++) {
    if (!is_tchar(static_cast<unsigned char>(line[i]))) {
      fail(Err::kInvalidHeaderName, "header name is not a token");
      return false;
    }
  }
  if (!value_clean(line + name_len + 1, n - name_len - 1)) {
    fail(Err::kInvalidHeader, "control byte in field value");
    return false;
  }
  return true;
}

namespace {
bool valid_ip(int af, const std::string& s) {
  unsigned char tmp[16];
  return inet_pton(af, s.c_str(), tmp) == 1;
}
}  // namespace

// Splits the target like Python's urlsplit (what Gunicorn's environ is built
// from), and applies RFC 9112 §3.2's form rules that Gunicorn enforces.
bool RequestParser::parse_target() {
  RequestHead& head = sh_->head;  // shared per server (ParserShared), filled per request
  const char* t = head.target.p;
  size_t n = head.target.n;
  if (n == 1 && t[0] == '*') {
    // asterisk-form only for OPTIONS (RFC 9112 §3.2.4)
    if (!ieq(head.method, "options")) {
      fail(Err::kInvalidRequestLine, "'*' target outside OPTIONS");
      return false;
    }
    head.path = head.target;
    head.query = Slice{t + n, 0};
    return true;
  }
  // RFC 9112 §3.2: origin-form starts with '/', absolute-form has a scheme,
  // authority-form is only for CONNECT (Gunicorn 26 rejects the rest, e.g. "foo").
  if (!head.is_connect && t[0] != '/') {
    bool absolute = false;
    for (size_t i = 0; i + 2 < n; i++) {
      if (t[i] == ':' && t[i + 1] == '/' && t[i + 2] == '/') {
        absolute = true;
        break;
      }
    }
    if (!absolute) {
      fail(Err::kInvalidRequestLine, "request target is neither origin- nor absolute-form");
      return false;
    }
  }
  const char* url = t;
  size_t un = n;
  if (!(n >= 2 && t[0] == '/' && t[1] == '/')) {
    // scheme (urlsplit: first char alpha, then alnum or "+-.", up to ':')
    const char* colon = static_cast<const char*>(std::memchr(t, ':', n));
    if (colon != nullptr && colon > t && ((t[0] | 0x20) >= 'a' && (t[0] | 0x20) <= 'z')) {
      bool scheme = true;
      for (const char* c = t; c < colon; c++) {
        char x = *c;
        if (!((x >= 'a' && x <= 'z') || (x >= 'A' && x <= 'Z') || (x >= '0' && x <= '9') || x == '+' || x == '-' ||
              x == '.')) {
          scheme = false;
          break;
        }
      }
      if (scheme) {
        url = colon + 1;
        un = n - static_cast<size_t>(url - t);
      }
    }
    if (un >= 2 && url[0] == '/' && url[1] == '/') {
      // authority: up to the first '/', '?' or '#'
      size_t end = 2;
      while (end < un && url[end] != '/' && url[end] != '?' && url[end] != '#') end++;
      const char* auth = url + 2;
      size_t an = end - 2;
      const char* ob = static_cast<const char*>(std::memchr(auth, '[', an));
      const char* cb = static_cast<const char*>(std::memchr(auth, ']', an));
      if ((ob == nullptr) != (cb == nullptr)) {
        fail(Err::kInvalidRequestLine, "invalid IPv6 authority");
        return false;
      }
      if (ob != nullptr) {
        // host part after any userinfo must be "[IPv6]" optionally followed by ":port"
        const char* at = nullptr;
        for (const char* c = auth + an; c > auth; c--)
          if (c[-1] == '@') {
            at = c;
            break;
          }
        const char* host = at ? at : auth;
        if (ob != host || cb < ob) {
          fail(Err::kInvalidRequestLine, "invalid IPv6 authority");
          return false;
        }
        if (cb + 1 < auth + an && cb[1] != ':') {
          fail(Err::kInvalidRequestLine, "invalid IPv6 authority");
          return false;
        }
        std::string ip(ob + 1, static_cast<size_t>(cb - ob - 1));
        bool vfuture = !ip.empty() && (ip[0] == 'v' || ip[0] == 'V');
        if (!vfuture && !valid_ip(AF_INET6, ip)) {
          fail(Err::kInvalidRequestLine, "invalid IPv6 address");
          return false;
        }
      }
      url += end;
      un -= end;
    }
  }
  const char* hash = static_cast<const char*>(std::memchr(url, '#', un));
  size_t before_frag = hash ? static_cast<size_t>(hash - url) : un;
  const char* q = static_cast<const char*>(std::memchr(url, '?', before_frag));
  if (q != nullptr) {
    head.path = Slice{url, static_cast<uint32_t>(q - url)};
    head.query = Slice{q + 1, static_cast<uint32_t>(before_frag - static_cast<size_t>(q - url) - 1)};
  } else {
    head.path = Slice{url, static_cast<uint32_t>(before_frag)};
    head.query = Slice{url + before_frag, 0};
  }
  return true;
}

bool RequestParser::finish_head(const char* buf) {
  RequestHead& head = sh_->head;  // shared per server (ParserShared), filled per request
  head.version_major = ver_major_;
  head.version_minor = ver_minor_;
  head.headers.clear();
  head.body = BodyKind::kNone;
  head.content_length = 0;
  head.keep_alive = head.must_close = head.expect_continue = false;
  head.is_head = head.is_connect = head.upgrade = head.websocket = false;
  head.method = Slice{buf + m_off_, m_len_};
  head.target = Slice{buf + t_off_, t_len_};
  if (cfg_->casefold_http_method) {
    head.casefolded_method.assign(head.method.p, head.method.n);
    for (auto& c : head.casefolded_method) c = upper(c);
    head.method = Slice{head.casefolded_method.data(), m_len_};
  }
  head.is_head = m_len_ == 4 && std::memcmp(head.method.p, "HEAD", 4) == 0;
  head.is_connect = m_len_ == 7 && std::memcmp(head.method.p, "CONNECT", 7) == 0;
  if (!parse_target()) return false;

  // Header section [headers_start_, head_len_) has been validated line by line.
  const char* hs = buf + headers_start_;
  size_t hn = head_len_ - headers_start_;
  if (need_normalize_) {
    // Join obs-fold continuation lines into the previous value with one SP and
    // drop whitespace before colons (both only reachable when permitted).
    sh_->scratch.clear();
    sh_->scratch.reserve(hn);
    size_t i = 0;
    while (i < hn) {
      const char* le = static_cast<const char*>(std::memchr(hs + i, '\n', hn - i));
      size_t end = static_cast<size_t>(le - hs) - 1;  // index of CR
      const char* ln = hs + i;
      size_t n = end - i;
      if (n > 0 && is_ows(ln[0])) {
        // continuation: trim the previous value's trailing OWS, append SP + trimmed text
        sh_->scratch.resize(sh_->scratch.size() - 2);  // remove previous CRLF
        while (!sh_->scratch.empty() && is_ows(sh_->scratch.back())) sh_->scratch.pop_back();
        size_t a = 0;
        while (a < n && is_ows(ln[a])) a++;
        sh_->scratch.push_back(' ');
        sh_->scratch.append(ln + a, n - a);
        sh_->scratch.append("\r\n");
      } else if (n > 0) {
        const char* colon = static_cast<const char*>(std::memchr(ln, ':', n));
        size_t ne = static_cast<size_t>(colon - ln);
        size_t k = ne;
        while (k > 0 && is_ows(ln[k - 1])) k--;
        sh_->scratch.append(ln, k);
        sh_->scratch.append(colon, n - ne);
        sh_->scratch.append("\r\n");
      } else {
        sh_->scratch.append("\r\n");
      }
      i = end + 2;
    }
    hs = sh_->scratch.data();
    hn = sh_->scratch.size();
  }

  llhttp_t* lh = &sh_->llhttp;
  llhttp_reset(lh);
  lh->data = sh_;
  sh_->cur_name = Slice{};
  sh_->cur_value = Slice{};
  sh_->in_value = false;
  sh_->done = false;
  const bool v10 = head.version_major == 1 && head.version_minor == 0;
  const char* canon = v10 ? kCanonicalLine10 : kCanonicalLine11;
  llhttp_errno_t e = llhttp_execute(lh, canon, sizeof(kCanonicalLine11) - 1);
  if (e == HPE_OK) e = llhttp_execute(lh, hs, hn);
  if (e != HPE_PAUSED_UPGRADE || !sh_->done) {
    switch (e) {
      case HPE_INVALID_HEADER_TOKEN: fail(Err::kInvalidHeader, "invalid header (llhttp)"); break;
      case HPE_INVALID_CONTENT_LENGTH:
      case HPE_UNEXPECTED_CONTENT_LENGTH: fail(Err::kInvalidHeader, "invalid Content-Length"); break;
      default:
        fail(Err::kInvalidHeader, llhttp_get_error_reason(lh) ? llhttp_get_error_reason(lh) : "invalid header section");
    }
    return false;
  }
  if (head.headers.size() != nfields_) {
    fail(Err::kInvalidHeader, "header section mis-tokenised");
    return false;
  }
  for (auto& h : head.headers) {
    while (h.value.n > 0 && is_ows(h.value.p[h.value.n - 1])) h.value.n--;
  }
  // Connection semantics from llhttp's token parsing of Connection.
  const bool close = (lh->flags & F_CONNECTION_CLOSE) != 0;
  const bool ka = (lh->flags & F_CONNECTION_KEEP_ALIVE) != 0;
  head.keep_alive = v10 ? (ka && !close) : !close;
  if (head.version_major != 1) head.keep_alive = false;
  return apply_framing_rules();
}

bool RequestParser::apply_framing_rules() {
  RequestHead& head = sh_->head;  // shared per server (ParserShared), filled per request
  int n_cl = 0, n_host = 0, n_ctype = 0;
  bool has_te = false, chunked = false, chunked_seen = false, close_codings = false;
  Slice cl_value;
  bool upgrade_hdr = false;
  auto& hs = head.headers;
  size_t w = 0;
  for (size_t r = 0; r < hs.size(); r++) {
    HeaderField h = hs[r];
    if (std::memchr(h.name.p, '_', h.name.n) != nullptr) {
      // Names with '_' can collide with '-' names once mapped into the CGI
      // environ (Content_Length vs Content-Length): Gunicorn's header_map.
      bool forwarder = false;
      if (trusted_) {
        for (const auto& f : cfg_->forwarder_headers) {
          if (ascii::ieq(h.name.p, h.name.n, f.data(), f.size())) {
            forwarder = true;
            break;
          }
        }
      }
      if (!forwarder) {
        if (cfg_->header_map == HeaderMap::kRefuse) {
          fail(Err::kInvalidHeaderName, "header name contains '_'");
          return false;
        }
        if (cfg_->header_map == HeaderMap::kDrop) continue;  // dropped silently
      }
      hs[w++] = h;
      continue;  // an underscore name is never a framing header
    }
    hs[w++] = h;
    if (ieq(h.name, "content-length")) {
      n_cl++;
      cl_value = h.value;
    } else if (ieq(h.name, "transfer-encoding")) {
      has_te = true;
      // RFC 9112 §6.1: a comma-separated list; chunked must be the final coding
      // and appear once. Gunicorn: identity is ignored, gzip/deflate/compress
      // before chunked force the connection closed, any other coding is 501.
      const char* v = h.value.p;
      size_t i = 0, n = h.value.n;
      while (i <= n) {
        size_t j = i;
        while (j < n && v[j] != ',') j++;
        size_t a = i, b = j;
        while (a < b && is_ows(v[a])) a++;
        while (b > a && is_ows(v[b - 1])) b--;
        Slice tok{v + a, static_cast<uint32_t>(b - a)};
        bool known = true;
        if (ieq(tok, "chunked")) {
          if (chunked_seen) {
            fail(Err::kInvalidHeader, "chunked transfer coding applied twice");
            return false;
          }
          chunked_seen = true;
        } else if (ieq(tok, "identity")) {
          // no-op (Gunicorn); but nothing may follow chunked (RFC 9112 §6.3 rule 4)
          if (chunked_seen) {
            fail(Err::kInvalidHeader, "chunked is not the final transfer coding");
            return false;
          }
        } else if (ieq(tok, "gzip") || ieq(tok, "x-gzip") || ieq(tok, "deflate") || ieq(tok, "compress") ||
                   ieq(tok, "x-compress")) {
          if (chunked_seen) {
            fail(Err::kInvalidHeader, "chunked is not the final transfer coding");
            return false;
          }
          close_codings = true;  // never decoded; Gunicorn forces the connection closed
        } else {
          known = false;  // includes empty list elements ("chunked,") and parameters
        }
        if (!known) {
          fail(Err::kUnsupportedTransferCoding, "unsupported transfer coding");
          return false;
        }
        i = j + 1;
      }
    } else if (ieq(h.name, "host")) {
      n_host++;
    } else if (ieq(h.name, "content-type")) {
      n_ctype++;
    } else if (ieq(h.name, "expect")) {
      // RFC 9110 §10.1.1: only 100-continue is defined; anything else is 417.
      // HTTP/1.0 senders cannot use it, so it is ignored there.
      if (!(head.version_major == 1 && head.version_minor == 0)) {
        if (ieq(h.value, "100-continue")) head.expect_continue = true;
        else {
          fail(Err::kExpectationFailed, "unsupported expectation");
          return false;
        }
      }
    } else if (ieq(h.name, "upgrade")) {
      upgrade_hdr = true;
    }
  }
  hs.resize(w);
  chunked = chunked_seen;
  // Singleton fields whose duplicates make the request ambiguous (Gunicorn).
  if (n_host > 1) {
    fail(Err::kInvalidHeader, "duplicate Host");
    return false;
  }
  if (n_ctype > 1) {
    fail(Err::kInvalidHeader, "duplicate Content-Type");
    return false;
  }
  if (n_cl > 1) {
    fail(Err::kInvalidHeader, "duplicate Content-Length");
    return false;
  }
  if (has_te && chunked && (head.version_major == 1 && head.version_minor == 0)) {
    // RFC 9112 §6.1: chunked is not defined for HTTP/1.0 (a CL.TE vector).
    fail(Err::kInvalidHeader, "chunked transfer coding in HTTP/1.0");
    return false;
  }
  if (chunked && n_cl > 0) {
    // RFC 9112 §6.3 rule 3: TE + CL is a smuggling attempt; reject it.
    fail(Err::kInvalidHeader, "Content-Length with chunked Transfer-Encoding");
    return false;
  }
  if (has_te && !chunked && close_codings) {
    // a compressed body without chunked framing has no defined length
    fail(Err::kInvalidHeader, "transfer coding without chunked");
    return false;
  }
  head.must_close = close_codings;
  head.upgrade = upgrade_hdr && (sh_->llhttp.flags & F_CONNECTION_UPGRADE) != 0;
  if (chunked) {
    head.body = BodyKind::kChunked;
  } else if (n_cl == 1) {
    // RFC 9110 §8.6: 1*DIGIT. llhttp has already rejected signs, lists and
    // non-digits; re-check so that the rule does not depend on llhttp's version.
    if (cl_value.n == 0 || cl_value.n > 18) {
      fail(Err::kInvalidHeader, "invalid Content-Length");
      return false;
    }
    uint64_t v = 0;
    for (uint32_t i = 0; i < cl_value.n; i++) {
      char c = cl_value.p[i];
      if (c < '0' || c > '9') {
        fail(Err::kInvalidHeader, "invalid Content-Length");
        return false;
      }
      v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    head.content_length = v;
    head.body = v > 0 ? BodyKind::kLength : BodyKind::kNone;
  } else {
    head.body = BodyKind::kNone;  // a request without CL or TE has no body (RFC 9112 §6.3 rule 7)
  }
  if (cfg_->limit_request_body > 0 && head.body == BodyKind::kLength &&
      head.content_length > cfg_->limit_request_body) {
    fail(Err::kRequestBodyTooLarge, "request body larger than limit_request_body");
    return false;
  }
  body_kind_ = head.body;
  body_left_ = head.body == BodyKind::kLength ? head.content_length : 0;
  body_done_ = head.body == BodyKind::kNone;
  if (head.body == BodyKind::kChunked) chunked_.reset();
  return true;
}

Err RequestParser::body_eof() {
  if (body_done_) return Err::kOk;
  if (body_kind_ == BodyKind::kLength) {
    // Gunicorn hands a short body to the application when the client half-closes.
    body_done_ = true;
    return Err::kOk;
  }
  fail(chunked_.eof_error(), "stream ended inside a chunked body");
  return err_;
}

}  // namespace gts
