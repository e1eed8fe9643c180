#include "ws_deflate.h"

#include <cstring>
#include <new>

namespace gts {
namespace {

bool tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}
bool ows(char c) { return c == ' ' || c == '\t'; }
bool ieq(const std::string& a, const char* b) {
  size_t n = std::strlen(b);
  if (a.size() != n) return false;
  for (size_t i = 0; i < n; i++) {
    char x = a[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
    if (x != b[i]) return false;
  }
  return true;
}

// "8".."15" exactly (RFC 7692 §7.1.2.1: no leading zeros, no sign)
int window_bits(const std::string& v) {
  if (v.size() == 1 && (v[0] == '8' || v[0] == '9')) return v[0] - '0';
  if (v.size() == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5') return 10 + (v[1] - '0');
  return -1;
}

struct Offer {
  bool snct = false, cnct = false, smwb = false, cmwb = false;
  int smwb_v = 0, cmwb_v = 0;  // cmwb_v 0: client_max_window_bits without a value
  bool bad = false;
  bool deflate = false;  // the extension is permessage-deflate
};

void apply_param(Offer& o, const std::string& name, bool has_value, const std::string& value) {
  if (ieq(name, "server_no_context_takeover")) {
    if (o.snct || has_value) o.bad = true;
    o.snct = true;
  } else if (ieq(name, "client_no_context_takeover")) {
    if (o.cnct || has_value) o.bad = true;
    o.cnct = true;
  } else if (ieq(name, "server_max_window_bits")) {
    if (o.smwb || !has_value) o.bad = true;
    o.smwb = true;
    o.smwb_v = has_value ? window_bits(value) : -1;
    if (o.smwb_v < 0) o.bad = true;
  } else if (ieq(name, "client_max_window_bits")) {
    if (o.cmwb) o.bad = true;
    o.cmwb = true;
    if (has_value) {
      o.cmwb_v = window_bits(value);
      if (o.cmwb_v < 0) o.bad = true;
    }
  } else {
    o.bad = true;
  }
}

// One offer from p[*i..n): up to the ',' that ends it (outside quotes). Syntax errors make it bad.
Offer parse_offer(const char* p, size_t n, size_t* pi) {
  Offer o;
  size_t i = *pi;
  auto skip_ows = [&] {
    while (i < n && ows(p[i])) i++;
  };
  auto fail_to_comma = [&] {
    o.bad = true;
    bool q = false;
    while (i < n && (q || p[i] != ',')) {
      if (q && p[i] == '\\' && i + 1 < n) i++;
      else if (p[i] == '"') q = !q;
      i++;
    }
  };
  skip_ows();
  std::string name;
  while (i < n && tchar(p[i])) name.push_back(p[i++]);
  if (name.empty()) {
    fail_to_comma();
  } else {
    o.deflate = ieq(name, "permessage-deflate");
    skip_ows();
    while (i < n && p[i] == ';' && !o.bad) {
      i++;
      skip_ows();
      std::string pn, pv;
      bool has_value = false;
      while (i < n && tchar(p[i])) pn.push_back(p[i++]);
      if (pn.empty()) {
        fail_to_comma();
        break;
      }
      skip_ows();
      if (i < n && p[i] == '=') {
        i++;
        skip_ows();
        has_value = true;
        if (i < n && p[i] == '"') {
          i++;
          bool closed = false;
          while (i < n) {
            char c = p[i++];
            if (c == '"') {
              closed = true;
              break;
            }
            if (c == '\\') {
              if (i >= n) break;
              c = p[i++];
            }
            pv.push_back(c);
          }
          if (!closed) {
            fail_to_comma();
            break;
          }
        } else {
          while (i < n && tchar(p[i])) pv.push_back(p[i++]);
        }
        if (pv.empty()) {
          fail_to_comma();
          break;
        }
        skip_ows();
      }
      apply_param(o, pn, has_value, pv);
    }
    if (i < n && p[i] != ',') fail_to_comma();
  }
  if (i < n && p[i] == ',') i++;
  *pi = i;
  return o;
}

}  // namespace

bool ws_negotiate(const char* header, size_t n, WsCompression mode, int max_bits, WsDeflateParams* out) {
  if (mode == WsCompression::kOff || header == nullptr) return false;
  if (max_bits < 9) max_bits = 9;
  if (max_bits > 15) max_bits = 15;
  bool shared = mode == WsCompression::kShared;
  size_t i = 0;
  while (i < n) {
    size_t before = i;
    Offer o = parse_offer(header, n, &i);
    if (i == before) i++;  // never stall (cannot happen: a non-empty rest always moves)
    if (o.bad || !o.deflate) continue;
    if (o.smwb && o.smwb_v == 8) continue;  // zlib refuses raw deflate with 8 (design §0)
    WsDeflateParams r;
    r.server_no_context_takeover = o.snct || shared;
    r.client_no_context_takeover = o.cnct || shared;
    int dbits = o.smwb ? (o.smwb_v < max_bits ? o.smwb_v : max_bits) : max_bits;
    r.deflate_bits = static_cast<uint8_t>(dbits);
    // The client's window: what it offered, capped by ours when it lets us choose (client_max_window_bits).
    int ibits = 15;
    bool answer_cmwb = false;
    if (o.cmwb) {
      int offered = o.cmwb_v == 0 ? 15 : o.cmwb_v;
      ibits = offered < max_bits ? offered : max_bits;
      answer_cmwb = ibits < offered;
    }
    // In shared mode the one inflater has window 15 and reads any client window.
    r.inflate_bits = static_cast<uint8_t>(shared ? 15 : (ibits < 9 ? 9 : ibits));
    r.response = "permessage-deflate";
    if (r.server_no_context_takeover) r.response += "; server_no_context_takeover";
    if (r.client_no_context_takeover) r.response += "; client_no_context_takeover";
    if (o.smwb || dbits < 15) r.response += "; server_max_window_bits=" + std::to_string(dbits);
    if (answer_cmwb) r.response += "; client_max_window_bits=" + std::to_string(ibits);
    *out = std::move(r);
    return true;
  }
  return false;
}

// ---- inflate --------------------------------------------------------------------------------------

WsInflater::~WsInflater() {
  if (ready_) inflateEnd(&z_);
}

bool WsInflater::init() {
  std::memset(&z_, 0, sizeof z_);
  ready_ = inflateInit2(&z_, -bits_) == Z_OK;
  return ready_;
}

void WsInflater::reset() {
  if (ready_) inflateReset(&z_);
  ended_ = false;
  fed_ = 0;
}

WsInflater::Result WsInflater::inflate(const uint8_t* p, size_t n, bool end, std::string& out, uint64_t max) {
  if (!ready_ && !init()) return kNoMemory;
  static const uint8_t kTail[4] = {0x00, 0x00, 0xff, 0xff};
  for (int pass = 0; pass < 2 && !ended_; pass++) {
    const uint8_t* in = pass == 0 ? p : kTail;
    // An empty payload is an empty message: no tail then (alone it would open a stored block)
    size_t len = pass == 0 ? n : (end && fed_ > 0 ? 4 : 0);
    fed_ += pass == 0 ? n : 0;
    if (len == 0) continue;
    z_.next_in = const_cast<Bytef*>(in);
    z_.avail_in = static_cast<uInt>(len);
    for (;;) {
      size_t off = out.size();
      out.resize(off + kStep);
      z_.next_out = reinterpret_cast<Bytef*>(&out[off]);
      z_.avail_out = static_cast<uInt>(kStep);
      int r = ::inflate(&z_, Z_SYNC_FLUSH);
      out.resize(off + (kStep - z_.avail_out));
      // past the limit first: the outcome must not depend on how the input was cut (an error further on
      // may or may not be in this step's input)
      if (out.size() > max) return kTooBig;
      if (r == Z_STREAM_END) {
        // A final block (BFINAL = 1) ended the sender's stream (RFC 7692 §7.2.3.3): the rest of the message
        // (the 00 00 ff ff tail at least) is ignored, and the next message starts a new stream.
        ended_ = true;
        break;
      } else if (r == Z_MEM_ERROR) {
        return kNoMemory;
      } else if (r != Z_OK && r != Z_BUF_ERROR) {
        return kBad;  // Z_DATA_ERROR, Z_NEED_DICT, Z_STREAM_ERROR
      }
      if (z_.avail_in == 0 && z_.avail_out != 0) break;
      if (r == Z_BUF_ERROR && z_.avail_out != 0) break;  // no progress possible (cannot happen with input left)
    }
  }
  if (end) {
    fed_ = 0;
    if (ended_) {
      inflateReset(&z_);
      ended_ = false;
    }
  }
  return kOk;
}

// ---- deflate --------------------------------------------------------------------------------------

WsDeflater::~WsDeflater() {
  if (ready_) deflateEnd(&z_);
}

bool WsDeflater::init() {
  std::memset(&z_, 0, sizeof z_);
  ready_ = deflateInit2(&z_, kLevel, Z_DEFLATED, -bits_, mem_level(bits_), Z_DEFAULT_STRATEGY) == Z_OK;
  return ready_;
}

void WsDeflater::reset() {
  if (ready_) deflateReset(&z_);
}

bool WsDeflater::deflate(const char* p, size_t n, std::string& out) {
  if (!ready_ && !init()) return false;
  if (n == 0) {  // an empty message: one byte that starts an empty stored block (the tail completes it)
    out.push_back('\0');
    return true;
  }
  size_t start = out.size();
  z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(p));
  z_.avail_in = static_cast<uInt>(n);
  size_t step = deflateBound(&z_, static_cast<uLong>(n)) + 16;
  for (;;) {
    size_t off = out.size();
    out.resize(off + step);
    z_.next_out = reinterpret_cast<Bytef*>(&out[off]);
    z_.avail_out = static_cast<uInt>(step);
    int r = ::deflate(&z_, Z_SYNC_FLUSH);
    out.resize(off + (step - z_.avail_out));
    if (r != Z_OK && r != Z_BUF_ERROR) {
      out.resize(start);
      deflateReset(&z_);
      return false;
    }
    if (z_.avail_out != 0) break;  // all of it flushed
    step = 4096;
  }
  // a sync flush ends in an empty stored block, 00 00 ff ff: RFC 7692 §7.2.1 drops it
  size_t len = out.size() - start;
  if (len < 4 || std::memcmp(&out[out.size() - 4], "\x00\x00\xff\xff", 4) != 0) {
    out.resize(start);
    deflateReset(&z_);
    return false;
  }
  out.resize(out.size() - 4);
  return true;
}

// ---- shared mode ------------------------------------------------------------------------------------

WsDeflater* WsDeflatePool::deflater(int bits) {
  if (bits < 9) bits = 9;
  if (bits > 15) bits = 15;
  std::unique_ptr<WsDeflater>& d = deflaters[bits - 9];
  if (!d) d.reset(new (std::nothrow) WsDeflater(bits));
  return d.get();
}

WsInflater* WsDeflatePool::shared_inflater() {
  if (!inflater) inflater.reset(new (std::nothrow) WsInflater(15));
  return inflater.get();
}

}  // namespace gts
