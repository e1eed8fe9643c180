// Plain unit driver for the pure C++ request parser (g++, no sanitizer needed;
// built by scripts/unit.sh, run by test/native-parser.test.mjs).
//
//   parser_test replay FILE...   fuzz-format files (test/native/regressions/*):
//                                byte 0 config, byte 1 delivery, rest = bytes.
//                                Each is run under every split mode, with and
//                                without interleaving and separate EOF, against
//                                the whole-input reference (parser_harness.h).
//   parser_test corpus           stdin: one case per line, "SETTINGS<TAB>HEX<TAB>EOF"
//                                (SETTINGS = name=value,... in Gunicorn's names).
//                                Each case is fed whole, byte by byte, in random
//                                and fixed pieces, interleaved with another
//                                connection; all must agree. Prints one JSON line
//                                per case (strings as hex) for the tap test to
//                                compare with the corpus's expectations.
//   parser_test config NAME=VALUE...  checks harness::base_config() against the
//                                registry's defaults (one argument per parser
//                                setting; lists '|'-separated).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "parser_harness.h"

namespace {

using harness::Options;
using harness::Outcome;
using harness::Split;

std::string hex(const std::string& s) {
  static const char* d = "0123456789abcdef";
  std::string o;
  for (unsigned char c : s) {
    o.push_back(d[c >> 4]);
    o.push_back(d[c & 15]);
  }
  return o;
}

bool unhex(const std::string& h, std::string* out) {
  auto v = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (h.size() % 2) return false;
  out->clear();
  for (size_t i = 0; i < h.size(); i += 2) {
    int a = v(h[i]), b = v(h[i + 1]);
    if (a < 0 || b < 0) return false;
    out->push_back(static_cast<char>(a * 16 + b));
  }
  return true;
}

bool truthy(const std::string& v) { return v == "true" || v == "1"; }

// One setting from its text form, generically over GTS_PARSER_SETTINGS: lists
// are '|'-separated, enums take the registry's value names.
bool set_value(const std::string& v, uint32_t* out) {
  char* e = nullptr;
  unsigned long long x = std::strtoull(v.c_str(), &e, 10);
  if (v.empty() || *e != '\0' || x > 0xffffffffull) return false;
  *out = static_cast<uint32_t>(x);
  return true;
}
bool set_value(const std::string& v, uint64_t* out) {
  char* e = nullptr;
  unsigned long long x = std::strtoull(v.c_str(), &e, 10);
  if (v.empty() || *e != '\0') return false;
  *out = x;
  return true;
}
bool set_value(const std::string& v, bool* out) {
  *out = truthy(v);
  return true;
}
bool set_value(const std::string& v, std::vector<std::string>* out) {
  out->clear();
  std::stringstream ss(v);
  std::string item;
  while (std::getline(ss, item, '|')) {
    if (!item.empty()) out->push_back(item);
  }
  return true;
}
template <typename E, typename = std::enable_if_t<std::is_enum<E>::value>>
bool set_value(const std::string& v, E* out) {
  return gts::enum_from_name(v, out);
}

bool set_setting(gts::ParserConfig* c, const std::string& k, std::string v) {
  if (k == "proxy_protocol") {  // Gunicorn's boolean spelling
    if (v == "false") v = "off";
    else if (v == "true") v = "auto";
  }
#define GTS_SET_SETTING(type, name) \
  if (k == #name) return set_value(v, &c->name);
  GTS_PARSER_SETTINGS(GTS_SET_SETTING)
#undef GTS_SET_SETTING
  return false;
}

bool apply_settings(const std::string& s, Options* o) {
  std::stringstream ss(s);
  std::string kv;
  while (std::getline(ss, kv, ',')) {
    if (kv.empty()) continue;
    size_t eq = kv.find('=');
    if (eq == std::string::npos) return false;
    if (!set_setting(&o->cfg, kv.substr(0, eq), kv.substr(eq + 1))) return false;
  }
  return true;
}

// parser_test config NAME=VALUE...: every parser setting must be given (the
// registry's defaults, from test/native-parser.test.mjs) and must equal
// harness::base_config(), the configuration the other modes start from.
int config(int argc, char** argv) {
  gts::ParserConfig got;
  std::vector<std::string> seen;
  for (int i = 2; i < argc; i++) {
    std::string kv = argv[i];
    size_t eq = kv.find('=');
    if (eq == std::string::npos || !set_setting(&got, kv.substr(0, eq), kv.substr(eq + 1))) {
      std::printf("bad %s\n", argv[i]);
      return 1;
    }
    seen.push_back(kv.substr(0, eq));
  }
  const gts::ParserConfig want = harness::base_config();
  int bad = 0;
#define GTS_CHECK_SETTING(type, name)                             \
  if (std::find(seen.begin(), seen.end(), #name) == seen.end()) { \
    std::printf("missing %s\n", #name);                           \
    bad++;                                                        \
  } else if (!(got.name == want.name)) {                          \
    std::printf("differs %s\n", #name);                           \
    bad++;                                                        \
  }
  GTS_PARSER_SETTINGS(GTS_CHECK_SETTING)
#undef GTS_CHECK_SETTING
  if (bad == 0) std::printf("ok\n");
  return bad == 0 ? 0 : 1;
}

std::string json(const Outcome& o) {
  std::string s = "{\"end\":\"";
  s += o.end == harness::End::kClean ? "clean" : o.end == harness::End::kNeedMore ? "need-more" : "error";
  s += "\",\"err\":\"";
  s += gts::err_info(o.err).name;
  s += "\",\"status\":" + std::to_string(o.end == harness::End::kError ? gts::err_info(o.err).status : 0);
  s += ",\"in_body\":";
  s += o.err_in_body ? "true" : "false";
  s += ",\"reqs\":[";
  for (size_t i = 0; i < o.reqs.size(); i++) {
    const auto& r = o.reqs[i];
    if (i) s += ",";
    s += "{\"method\":\"" + hex(r.method) + "\",\"target\":\"" + hex(r.target) + "\",\"path\":\"" + hex(r.path) +
         "\",\"query\":\"" + hex(r.query) + "\",\"version\":\"" + std::to_string(r.vmaj) + "." +
         std::to_string(r.vmin) + "\",\"headers\":[";
    for (size_t j = 0; j < r.headers.size(); j++) {
      if (j) s += ",";
      s += "[\"" + hex(r.headers[j].first) + "\",\"" + hex(r.headers[j].second) + "\"]";
    }
    s += "],\"body\":\"" + hex(r.body) + "\",\"complete\":";
    s += r.body_complete ? "true" : "false";
    s += ",\"keep_alive\":";
    s += r.keep_alive ? "true" : "false";
    s += ",\"must_close\":";
    s += r.must_close ? "true" : "false";
    s += ",\"proxy\":\"" + hex(r.proxy) + "\"}";
  }
  s += "]}";
  return s;
}

// Every delivery of the same bytes must agree with the whole-input reference.
Outcome all_splits(Options o, const uint8_t* p, size_t n) {
  Options ref = o;
  ref.split = Split::kWhole;
  ref.interleave = false;
  ref.eof_separate = false;
  Outcome a = harness::run(ref, p, n);
  for (int split = 0; split < 4; split++) {
    for (int inter = 0; inter < 2; inter++) {
      for (int sep = 0; sep < 2; sep++) {
        for (uint32_t seed = 1; seed <= (split >= 2 ? 4u : 1u); seed++) {
          Options v = o;
          v.split = static_cast<Split>(split);
          v.interleave = inter;
          v.eof_separate = sep && o.eof;
          v.seed = seed * 2654435761u;
          harness::check_same(a, harness::run(v, p, n), "unit driver");
        }
      }
    }
  }
  return a;
}

int replay(int argc, char** argv) {
  int n = 0;
  for (int i = 2; i < argc; i++) {
    std::ifstream f(argv[i], std::ios::binary);
    if (!f) {
      std::fprintf(stderr, "cannot read %s\n", argv[i]);
      return 2;
    }
    std::string d((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    const auto* p = reinterpret_cast<const uint8_t*>(d.data());
    harness::fuzz_one(p, d.size());  // exactly as the fuzzer ran it
    if (d.size() >= 2) {
      Options o = harness::decode_options(p[0], p[1]);
      Outcome a = all_splits(o, p + 2, d.size() - 2);
      std::printf("ok %s: %s\n", argv[i], harness::describe(a).c_str());
    }
    n++;
  }
  std::printf("replayed %d file(s)\n", n);
  return 0;
}

int corpus() {
  std::string line;
  int n = 0;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    size_t t1 = line.find('\t'), t2 = line.find('\t', t1 + 1);
    if (t1 == std::string::npos || t2 == std::string::npos) {
      std::fprintf(stderr, "bad input line\n");
      return 2;
    }
    Options o;
    if (!apply_settings(line.substr(0, t1), &o)) {
      std::fprintf(stderr, "bad settings: %s\n", line.substr(0, t1).c_str());
      return 2;
    }
    std::string raw;
    if (!unhex(line.substr(t1 + 1, t2 - t1 - 1), &raw)) {
      std::fprintf(stderr, "bad hex\n");
      return 2;
    }
    o.eof = line.substr(t2 + 1) == "1";
    Outcome a = all_splits(o, reinterpret_cast<const uint8_t*>(raw.data()), raw.size());
    std::printf("%s\n", json(a).c_str());
    n++;
  }
  std::fflush(stdout);
  std::fprintf(stderr, "%d case(s)\n", n);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "replay") return replay(argc, argv);
  if (mode == "corpus") return corpus();
  if (mode == "config") return config(argc, argv);
  std::fprintf(stderr,
               "usage: parser_test replay FILE... | parser_test corpus < cases | parser_test config NAME=VALUE...\n");
  return 2;
}
