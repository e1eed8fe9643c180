#include "h2_head.h"

#include <cstring>

#include "ascii.h"

namespace gts {
namespace {

bool is(const char* p, size_t n, const char* lit) {
  size_t m = std::strlen(lit);
  return n == m && std::memcmp(p, lit, n) == 0;
}

// nghttp2 hands us lower-case names (RFC 9113 §8.2.1 forbids others), so exact comparisons suffice.
bool connection_specific(const char* p, size_t n) {
  return is(p, n, "connection") || is(p, n, "keep-alive") || is(p, n, "proxy-connection") ||
         is(p, n, "transfer-encoding") || is(p, n, "upgrade");
}

}  // namespace

void H2HeadBuilder::reset() {
  arena_.clear();
  fields_.clear();
  cookies_.clear();
  has_method_ = has_path_ = has_authority_ = false;
  list_size_ = 0;
  nfields_ = 0;
  content_length_ = -1;
  err_ = Err::kOk;
  detail_ = "";
}

void H2HeadBuilder::add(const char* name, size_t nlen, const char* value, size_t vlen, const H2HeadLimits& lim) {
  list_size_ += nlen + vlen + 32;
  if (lim.max_header_list > 0 && list_size_ > lim.max_header_list) {
    fail(Err::kLimitRequestHeaders, "header list larger than http2_max_header_list_size");
  }
  if (err_ != Err::kOk) return;  // only counted from here on
  if (nlen > 0 && name[0] == ':') {
    Field f{0, 0, put(value, vlen), static_cast<uint32_t>(vlen)};
    if (is(name, nlen, ":method")) {
      method_ = f;
      has_method_ = true;
    } else if (is(name, nlen, ":path")) {
      path_ = f;
      has_path_ = true;
    } else if (is(name, nlen, ":authority")) {
      authority_ = f;
      has_authority_ = true;
    }
    // :scheme is not used: the scheme comes from the transport (wsgi.url_scheme), as in Gunicorn
    return;
  }
  const ParserConfig* pc = lim.parser;
  if (++nfields_ > pc->fields_limit()) {
    fail(Err::kLimitRequestHeaders, "too many header fields");
    return;
  }
  if (nlen + vlen + 4 > pc->field_size_limit()) {  // as the HTTP/1 line "Name: value\r\n"
    fail(Err::kLimitRequestHeaders, "header field too large");
    return;
  }
  if (std::memchr(name, '_', nlen) != nullptr) {
    bool forwarder = false;
    if (lim.trusted) {
      for (const auto& f : pc->forwarder_headers) {
        if (ascii::ieq(name, nlen, f.data(), f.size())) {
          forwarder = true;
          break;
        }
      }
    }
    if (!forwarder) {
      if (pc->header_map == HeaderMap::kRefuse) {
        fail(Err::kInvalidHeaderName, "header name contains '_'");
        return;
      }
      if (pc->header_map == HeaderMap::kDrop) return;
    }
  }
  if (is(name, nlen, "cookie")) {  // crumbs joined with "; " (RFC 9113 §8.2.3); an empty one carries nothing
    if (vlen == 0) return;
    if (!cookies_.empty()) cookies_.append("; ");
    cookies_.append(value, vlen);
    return;
  }
  if (is(name, nlen, "host") && has_authority_) return;  // :authority wins (RFC 9113 §8.3.1)
  if (is(name, nlen, "content-length")) {
    // nghttp2 has checked it is digits and matches the DATA that follows
    uint64_t v = 0;
    bool ok = vlen > 0 && vlen <= 18;
    for (size_t i = 0; ok && i < vlen; i++) {
      if (value[i] < '0' || value[i] > '9') ok = false;
      else v = v * 10 + static_cast<uint64_t>(value[i] - '0');
    }
    if (ok) content_length_ = static_cast<int64_t>(v);
  }
  uint32_t no = put(name, nlen);
  uint32_t vo = put(value, vlen);
  fields_.push_back(Field{no, static_cast<uint32_t>(nlen), vo, static_cast<uint32_t>(vlen)});
}

bool H2HeadBuilder::finish(RequestHead* out) {
  if (err_ != Err::kOk) return false;
  if (!has_method_ || (!has_path_ && !is(arena_.data() + method_.vo, method_.vl, "CONNECT"))) {
    fail(Err::kInvalidRequestLine, "missing :method or :path");
    return false;
  }
  uint32_t cookie_o = 0;
  if (!cookies_.empty()) cookie_o = put(cookies_.data(), cookies_.size());
  static const char kHost[] = "host";
  static const char kCookie[] = "cookie";
  RequestHead& h = *out;
  h.method = at(method_.vo, method_.vl);
  h.target = has_path_ ? at(path_.vo, path_.vl) : Slice{};
  h.path = h.target;
  h.query = Slice{};
  for (uint32_t i = 0; i < h.target.n; i++) {
    if (h.target.p[i] == '?' || h.target.p[i] == '#') {
      h.path.n = i;
      if (h.target.p[i] == '?') {
        uint32_t e = i + 1;
        while (e < h.target.n && h.target.p[e] != '#') e++;
        h.query = Slice{h.target.p + i + 1, e - i - 1};
      }
      break;
    }
  }
  h.version_major = 2;
  h.version_minor = 0;
  h.headers.clear();
  if (has_authority_) h.headers.push_back(HeaderField{Slice{kHost, 4}, at(authority_.vo, authority_.vl)});
  for (const Field& f : fields_) h.headers.push_back(HeaderField{at(f.no, f.nl), at(f.vo, f.vl)});
  if (!cookies_.empty()) {
    h.headers.push_back(HeaderField{Slice{kCookie, 6}, at(cookie_o, static_cast<uint32_t>(cookies_.size()))});
  }
  h.body = content_length_ >= 0 ? BodyKind::kLength : BodyKind::kNone;
  h.content_length = content_length_ >= 0 ? static_cast<uint64_t>(content_length_) : 0;
  h.keep_alive = true;
  h.must_close = false;
  h.expect_continue = false;  // Gunicorn: no 100-continue on HTTP/2
  h.is_head = is(h.method.p, h.method.n, "HEAD");
  h.is_connect = is(h.method.p, h.method.n, "CONNECT");
  h.upgrade = false;
  return true;
}

void h2_app_fields(const AppHead& app, std::string* text, std::vector<H2Field>* fields) {
  text->clear();
  fields->clear();
  const std::string& l = app.lines;
  size_t i = 0;
  while (i < l.size()) {
    size_t eol = l.find("\r\n", i);
    if (eol == std::string::npos) eol = l.size();
    size_t colon = l.find(':', i);
    if (colon != std::string::npos && colon < eol) {
      size_t vs = colon + 1;
      while (vs < eol && ascii::is_ows(l[vs])) vs++;
      const size_t nl = colon - i;
      const uint32_t no = static_cast<uint32_t>(text->size());
      for (size_t k = i; k < colon; k++) text->push_back(ascii::lower(l[k]));
      const char* lname = text->data() + no;
      if (connection_specific(lname, nl) || is(lname, nl, "content-length")) {
        text->resize(no);
      } else {
        const uint32_t vo = static_cast<uint32_t>(text->size());
        text->append(l, vs, eol - vs);
        fields->push_back(H2Field{no, static_cast<uint32_t>(nl), vo, static_cast<uint32_t>(eol - vs)});
      }
    }
    i = eol + 2;
  }
}

}  // namespace gts
