// nghttp2 as the addon uses it: the public header from libnghttp2-dev (1.52 on
// Debian 12), no libnghttp2 linked. Every nghttp2_* call binds at load time to
// the nghttp2 the node binary exports (Node 20: 1.61, 22: 1.69, 24: 1.70) or,
// for a distro node, to the libnghttp2.so.14 it already loaded; the ABI has
// been stable since 1.0 (docs/design/http2.md §1). Rules:
//  * call only functions of the 1.52 public header that every supported node
//    exports (not nghttp2_version(): the runtime version comes from JS);
//  * functions newer than the header are declared here, weak, and tested for
//    null before use;
//  * never call nghttp2_session_terminate_session() or nghttp2_submit_goaway()
//    from inside an nghttp2 callback (CVE-2026-27135 on Node 20's 1.61).
#pragma once

#ifndef GTS_NO_HTTP2

#include <nghttp2/nghttp2.h>

extern "C" {
// 1.65+ (Node 22, 24): the glitch limiter. Null on Node 20.
int nghttp2_option_set_glitch_rate_limit(nghttp2_option* option, uint64_t burst, uint64_t rate) __attribute__((weak));
}
// Null when the process exports no nghttp2 at all (a node built without it):
// then HTTP/2 is refused at startup.
#pragma weak nghttp2_session_server_new2

namespace gts {
inline bool h2_runtime_available() { return &nghttp2_session_server_new2 != nullptr; }
}  // namespace gts

#endif  // GTS_NO_HTTP2
