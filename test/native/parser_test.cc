// Plain unit driver for the pure C++ request parser (g++, no sanitizer needed;
// built by scripts/fuzz-unit.sh, run by test/native-parser.test.mjs).
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
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
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

bool apply_settings(const std::string& s, Options* o) {
  std::stringstream ss(s);
  std::string kv;
  while (std::getline(ss, kv, ',')) {
    if (kv.empty()) continue;
    size_t eq = kv.find('=');
    if (eq == std::string::npos) return false;
    std::string k = kv.substr(0, eq), v = kv.substr(eq + 1);
    auto& c = o->cfg;
    if (k == "limit_request_line") c.limit_request_line = static_cast<uint32_t>(std::stoul(v));
    else if (k == "limit_request_fields") c.limit_request_fields = static_cast<uint32_t>(std::stoul(v));
    else if (k == "limit_request_field_size") c.limit_request_field_size = static_cast<uint32_t>(std::stoul(v));
    else if (k == "limit_request_body") c.limit_request_body = std::stoull(v);
    else if (k == "permit_obsolete_folding") c.permit_obsolete_folding = truthy(v);
    else if (k == "strip_header_spaces") c.strip_header_spaces = truthy(v);
    else if (k == "permit_unconventional_http_method") c.permit_unconventional_http_method = truthy(v);
    else if (k == "casefold_http_method") c.casefold_http_method = truthy(v);
    else if (k == "permit_unconventional_http_version") c.permit_unconventional_http_version = truthy(v);
    else if (k == "header_map") {
      if (v == "drop") c.header_map = gts::HeaderMap::kDrop;
      else if (v == "refuse") c.header_map = gts::HeaderMap::kRefuse;
      else if (v == "dangerous") c.header_map = gts::HeaderMap::kDangerous;
      else return false;
    } else if (k == "proxy_protocol") {
      if (v == "off" || v == "false") c.proxy_protocol = gts::ProxyMode::kOff;
      else if (v == "v1") c.proxy_protocol = gts::ProxyMode::kV1;
      else if (v == "v2") c.proxy_protocol = gts::ProxyMode::kV2;
      else if (v == "auto" || v == "true") c.proxy_protocol = gts::ProxyMode::kAuto;
      else return false;
    } else {
      return false;
    }
  }
  return true;
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
  std::fprintf(stderr, "usage: parser_test replay FILE... | parser_test corpus < cases\n");
  return 2;
}
