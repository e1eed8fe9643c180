{
  "targets": [
    {
      "target_name": "gunicorn_native",
      "sources": [
        "native/src/addon.cc",
        "native/src/balance.cc",
        "native/src/connection.cc",
        "native/src/environ.cc",
        "native/src/server.cc",
        "native/src/request_parser.cc",
        "native/src/chunked_decoder.cc",
        "native/src/proxy_protocol.cc",
        "native/src/reaper.cc",
        "native/src/response.cc",
        "native/src/platform.cc",
        "native/src/sockets.cc",
        "native/src/transport.cc",
        "native/src/tls.cc",
        "native/src/ws_deflate.cc",
        "native/src/ws_handshake.cc",
        "native/src/ws_parser.cc",
        "native/src/ws_session.cc",
        "<!@(node scripts/llhttp-sources.cjs sources)"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!(node scripts/llhttp-sources.cjs include)"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "OPENSSL_API_COMPAT=0x30000000L",
        "OPENSSL_NO_DEPRECATED"
      ],
      "cflags": ["-O3", "-fvisibility=hidden", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_cc": ["-O3", "-std=c++17", "-fvisibility=hidden", "-fno-exceptions", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags!": ["-fno-omit-frame-pointer"],
      "variables": {
        "gts_force_posix%": "<!(node -p \"process.env.GTS_FORCE_POSIX === '1' ? 1 : 0\")",
        "gts_http2%": "<!(node scripts/nghttp2-include.cjs enabled)"
      },
      "conditions": [
        ["gts_force_posix==1", { "defines": ["GTS_FORCE_POSIX=1"] }],
        ["gts_http2==1", {
          "sources": ["native/src/h2_head.cc", "native/src/h2_session.cc", "native/src/h2c.cc"],
          "include_dirs": ["<!@(node scripts/nghttp2-include.cjs include)"]
        }, {
          "defines": ["GTS_NO_HTTP2"]
        }],
        ["OS=='mac'", {
          "xcode_settings": {
            "GCC_SYMBOLS_PRIVATE_EXTERN": "YES",
            "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
            "OTHER_CFLAGS": ["-O3"]
          }
        }]
      ]
    }
  ]
}
