// libFuzzer target over the h2c pieces that need no nghttp2 (native/src/h2c.cc).
// Byte 0 % 3 chooses what the rest of the input is:
//  0: the first bytes of a connection: preface_match() of every prefix (an
//     exactly sized copy each) agrees with a plain comparison against the
//     24-byte preface (kNeedMore only for a proper prefix of it);
//  1: an HTTP2-Settings value: decode_http2_settings() accepts exactly what a
//     reference decoder written here from RFC 4648 §5 and RFC 9113 §6.5.2
//     accepts, with the same payload;
//  2: an HTTP/1.1 head: byte 1 the version (bit 0: 1.0, bit 1: 2.0) and body
//     (bits 2-3: none, length, chunked), byte 2 the Content-Length (x 512),
//     then "name:value" fields separated by '\n'. h2c_upgrade_request() agrees
//     with a reference (Upgrade lists h2c, Connection lists upgrade and
//     http2-settings, one HTTP2-Settings field, HTTP/1.1, a length body of at
//     most 64 KiB) and its settings slice is that field's value; an accepted
//     value then goes through mode 1's comparison.
// Built and run by scripts/fuzz.sh (FUZZ_TARGET=h2c).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "h2c.h"

#define FUZZ_NAME "fuzz_h2c"
#include "fuzz_check.h"

namespace {

void preface(const uint8_t* p, size_t n) {
  const size_t upto = n < gts::kH2PrefaceLen + 8 ? n : gts::kH2PrefaceLen + 8;
  for (size_t m = 0; m <= upto; m++) {
    std::unique_ptr<char[]> copy(new char[m == 0 ? 1 : m]);  // ASan: a read past m bytes is caught
    if (m > 0) std::memcpy(copy.get(), p, m);
    gts::PrefaceMatch got = gts::preface_match(copy.get(), m);
    size_t k = m < gts::kH2PrefaceLen ? m : gts::kH2PrefaceLen;
    bool same = true;
    for (size_t i = 0; i < k; i++) same = same && copy[i] == gts::kH2Preface[i];
    gts::PrefaceMatch want = !same                     ? gts::PrefaceMatch::kMismatch
                             : m >= gts::kH2PrefaceLen ? gts::PrefaceMatch::kMatch
                                                       : gts::PrefaceMatch::kNeedMore;
    CHECK(got == want, "preface_match disagrees with a byte comparison");
  }
}

// RFC 4648 §5 base64url, unpadded or padded at the end; leftover bits ignored.
bool ref_settings(const std::string& in, std::string* out) {
  static const std::string kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string s = in;
  while (!s.empty() && s.back() == '=') s.pop_back();
  out->clear();
  std::vector<uint32_t> six;
  for (char c : s) {
    size_t v = kAlphabet.find(c);
    if (c == '\0' || v == std::string::npos) return false;
    six.push_back(static_cast<uint32_t>(v));
  }
  if (six.size() % 4 == 1) return false;
  for (size_t i = 0; i < six.size(); i += 4) {
    size_t k = six.size() - i < 4 ? six.size() - i : 4;  // 2, 3 or 4 characters
    uint32_t g = 0;
    for (size_t j = 0; j < 4; j++) g = g << 6 | (j < k ? six[i + j] : 0);
    for (size_t j = 0; j + 1 < k; j++) out->push_back(static_cast<char>(g >> (16 - 8 * j) & 0xff));
  }
  if (out->size() % 6 != 0) return false;
  for (size_t i = 0; i < out->size(); i += 6) {
    auto b = [&](size_t j) { return static_cast<uint32_t>(static_cast<unsigned char>((*out)[i + j])); };
    uint32_t id = b(0) << 8 | b(1);
    uint32_t v = b(2) << 24 | b(3) << 16 | b(4) << 8 | b(5);
    if (id == 2 && v > 1) return false;                        // ENABLE_PUSH
    if (id == 4 && v > 0x7fffffffu) return false;              // SETTINGS_INITIAL_WINDOW_SIZE
    if (id == 5 && (v < 16384 || v > 16777215)) return false;  // MAX_FRAME_SIZE
  }
  return true;
}

void settings(const char* p, size_t n) {
  std::unique_ptr<char[]> copy(new char[n == 0 ? 1 : n]);
  if (n > 0) std::memcpy(copy.get(), p, n);
  std::string got, want;
  bool ok = gts::decode_http2_settings(copy.get(), n, &got);
  bool ref = ref_settings(std::string(p, n), &want);
  CHECK(ok == ref, "decode_http2_settings accepts what the reference refuses, or the reverse");
  if (ok) CHECK(got == want, "decode_http2_settings payload differs from the reference");
}

std::string lower_trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) b++;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) e--;
  std::string r = s.substr(b, e - b);
  for (char& c : r)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return r;
}

bool lists(const std::string& value, const char* token) {
  size_t i = 0;
  for (;;) {
    size_t comma = value.find(',', i);
    std::string item = value.substr(i, comma == std::string::npos ? std::string::npos : comma - i);
    if (lower_trim(item) == token) return true;
    if (comma == std::string::npos) return false;
    i = comma + 1;
  }
}

void upgrade(const uint8_t* p, size_t n) {
  if (n < 2) return;
  gts::RequestHead h;
  h.version_major = (p[0] & 2) ? 2 : 1;
  h.version_minor = (p[0] & 1) ? 0 : 1;
  const int body = (p[0] >> 2) & 3;
  h.body = body == 1 ? gts::BodyKind::kLength : body == 2 ? gts::BodyKind::kChunked : gts::BodyKind::kNone;
  h.content_length = static_cast<uint64_t>(p[1]) * 512;
  // every name and value in its own exactly sized heap block
  std::vector<std::pair<std::string, std::string>> fields;
  const std::string rest(reinterpret_cast<const char*>(p + 2), n - 2);
  for (size_t i = 0; i <= rest.size();) {
    size_t nl = rest.find('\n', i);
    if (nl == std::string::npos) nl = rest.size();
    std::string line = rest.substr(i, nl - i);
    size_t colon = line.find(':');
    if (!line.empty()) {
      fields.emplace_back(line.substr(0, colon), colon == std::string::npos ? "" : line.substr(colon + 1));
    }
    i = nl + 1;
  }
  std::vector<std::unique_ptr<char[]>> blocks;
  auto block = [&](const std::string& s) {
    blocks.emplace_back(new char[s.empty() ? 1 : s.size()]);
    std::memcpy(blocks.back().get(), s.data(), s.size());
    return gts::Slice{blocks.back().get(), static_cast<uint32_t>(s.size())};
  };
  for (const auto& f : fields) h.headers.push_back(gts::HeaderField{block(f.first), block(f.second)});

  bool up = false, conn_up = false, conn_settings = false;
  int nsettings = 0;
  size_t which = 0;
  for (size_t i = 0; i < fields.size(); i++) {
    std::string lname = fields[i].first;  // names compare case-insensitively, untrimmed
    for (char& c : lname)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (lname == "upgrade") {
      up = up || lists(fields[i].second, "h2c");
    } else if (lname == "connection") {
      conn_up = conn_up || lists(fields[i].second, "upgrade");
      conn_settings = conn_settings || lists(fields[i].second, "http2-settings");
    } else if (lname == "http2-settings") {
      nsettings++;
      which = i;
    }
  }
  const bool version_ok = h.version_major == 1 && h.version_minor == 1;
  const bool body_ok =
      h.body == gts::BodyKind::kNone || (h.body == gts::BodyKind::kLength && h.content_length <= 64 * 1024);
  const bool want = version_ok && body_ok && up && conn_up && conn_settings && nsettings == 1;
  gts::Slice st;
  const bool got = gts::h2c_upgrade_request(h, &st);
  CHECK(got == want, "h2c_upgrade_request disagrees with the reference");
  if (got) {
    CHECK(st.p == h.headers[which].value.p && st.n == h.headers[which].value.n,
          "the settings slice is not the HTTP2-Settings field's value");
    settings(st.p, st.n);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  switch (data[0] % 3) {
    case 0: preface(data + 1, size - 1); break;
    case 1: settings(reinterpret_cast<const char*>(data + 1), size - 1); break;
    default: upgrade(data + 1, size - 1); break;
  }
  return 0;
}
