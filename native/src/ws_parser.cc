#include "ws_parser.h"

#include <cstring>

namespace gts {

void ws_unmask(uint8_t* dst, const uint8_t* src, size_t n, const uint8_t mask[4], unsigned off) {
  uint8_t m[8];
  for (unsigned j = 0; j < 8; j++) m[j] = mask[(off + j) & 3];
  uint64_t m8;
  std::memcpy(&m8, m, 8);
  size_t i = 0;
  for (; n - i >= 8; i += 8) {
    uint64_t v;
    std::memcpy(&v, src + i, 8);
    v ^= m8;
    std::memcpy(dst + i, &v, 8);
  }
  // i is a multiple of 8, so the rotation is unchanged for the tail.
  for (; i < n; i++) dst[i] = src[i] ^ m[i & 7];
}

size_t ws_frame_header(uint8_t* dst, uint8_t op, uint64_t len, bool rsv1, bool fin) {
  dst[0] = static_cast<uint8_t>((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | (op & 0x0f));
  if (len < 126) {
    dst[1] = static_cast<uint8_t>(len);
    return 2;
  }
  if (len <= 0xffff) {
    dst[1] = 126;
    dst[2] = static_cast<uint8_t>(len >> 8);
    dst[3] = static_cast<uint8_t>(len);
    return 4;
  }
  dst[1] = 127;
  for (int k = 0; k < 8; k++) dst[2 + k] = static_cast<uint8_t>(len >> (56 - 8 * k));
  return 10;
}

// Size of the whole (masked) header once its first two bytes are known.
static inline size_t header_size(uint8_t b1) {
  uint8_t len7 = b1 & 0x7f;
  return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4;
}

WsClose WsParser::header_start(uint8_t b0, uint8_t b1) {
  bool fin = b0 & 0x80;
  bool rsv1 = b0 & 0x40;
  uint8_t op = b0 & 0x0f;
  if (!(b1 & 0x80)) return WsClose::kProtocol;  // client frames are masked
  if (b0 & 0x30) return WsClose::kProtocol;     // RSV2/RSV3: no extension defines them
  if ((op >= 3 && op <= 7) || op >= 11) return WsClose::kProtocol;
  if (op >= 8) {
    if (!fin || (b1 & 0x7f) > 125 || rsv1) return WsClose::kProtocol;
  } else if (op == kWsCont) {
    if (!msg_op_ || rsv1) return WsClose::kProtocol;
  } else {
    if (msg_op_) return WsClose::kProtocol;  // a new message inside a fragmented one
    if (rsv1 && !cfg_.deflate) return WsClose::kProtocol;
  }
  return WsClose::kNone;
}

WsClose WsParser::header_done(const uint8_t* h, size_t hlen, WsFrameSink& sink) {
  uint8_t b0 = h[0], len7 = h[1] & 0x7f;
  uint64_t len = len7;
  const uint8_t* mp = h + 2;
  if (len7 == 126) {
    len = (uint64_t(h[2]) << 8) | h[3];
    mp = h + 4;
  } else if (len7 == 127) {
    len = 0;
    for (int k = 0; k < 8; k++) len = (len << 8) | h[2 + k];
    if (len >> 63) return WsClose::kProtocol;
    mp = h + 10;
  }
  std::memcpy(mask_, mp, 4);
  mask_off_ = 0;
  frame_op_ = b0 & 0x0f;
  frame_fin_ = b0 & 0x80;
  frame_len_ = len;
  remaining_ = len;
  if (frame_op_ < 8) {
    if (frame_op_ != kWsCont) {
      msg_op_ = frame_op_;
      msg_compressed_ = b0 & 0x40;
      msg_len_ = 0;
      msg_fresh_ = true;
    }
    if (len > cfg_.max_message - msg_len_) return WsClose::kTooBig;
    msg_len_ += len;
    if (len == 0) {
      uint8_t* d = sink.data_dest(0, 0, msg_fresh_, msg_op_, msg_compressed_);
      msg_fresh_ = false;
      bool end = frame_fin_;
      if (end) msg_op_ = 0;
      WsClose r = sink.on_data(d, 0, end);
      if (r != WsClose::kNone) return r;
      state_ = kHeader;
      return WsClose::kNone;
    }
  } else {
    ctl_len_ = 0;
    if (len == 0) {
      WsClose r = sink.on_control(frame_op_, nullptr, 0);
      if (r != WsClose::kNone) return r;
      state_ = kHeader;
      return WsClose::kNone;
    }
  }
  state_ = kPayload;
  return WsClose::kNone;
}

WsClose WsParser::feed(const uint8_t* p, size_t n, WsFrameSink& sink) {
  size_t i = 0;
  while (i < n) {
    if (state_ == kFailed) return WsClose::kNone;
    if (state_ == kHeader) {
      const uint8_t* h;
      size_t need;
      if (hdr_len_ == 0) {
        if (n - i < 2) {
          hdr_[0] = p[i];
          hdr_len_ = 1;
          return WsClose::kNone;
        }
        WsClose r = header_start(p[i], p[i + 1]);
        if (r != WsClose::kNone) return fail(r);
        need = header_size(p[i + 1]);
        if (n - i < need) {
          std::memcpy(hdr_, p + i, n - i);
          hdr_len_ = static_cast<uint8_t>(n - i);
          return WsClose::kNone;
        }
        h = p + i;
        i += need;
      } else {
        if (hdr_len_ == 1) {
          hdr_[1] = p[i++];
          hdr_len_ = 2;
          WsClose r = header_start(hdr_[0], hdr_[1]);
          if (r != WsClose::kNone) return fail(r);
        }
        need = header_size(hdr_[1]);
        size_t take = need - hdr_len_;
        if (take > n - i) take = n - i;
        std::memcpy(hdr_ + hdr_len_, p + i, take);
        hdr_len_ = static_cast<uint8_t>(hdr_len_ + take);
        i += take;
        if (hdr_len_ < need) return WsClose::kNone;
        h = hdr_;
      }
      hdr_len_ = 0;
      WsClose r = header_done(h, need, sink);
      if (r != WsClose::kNone) return fail(r);
      continue;
    }
    // kPayload
    size_t k = n - i;
    if (k > remaining_) k = static_cast<size_t>(remaining_);
    if (frame_op_ < 8) {
      uint8_t* d = sink.data_dest(k, frame_len_, msg_fresh_, msg_op_, msg_compressed_);
      msg_fresh_ = false;
      ws_unmask(d, p + i, k, mask_, mask_off_);
      mask_off_ = static_cast<uint8_t>((mask_off_ + k) & 3);
      remaining_ -= k;
      i += k;
      bool end = remaining_ == 0 && frame_fin_;
      if (remaining_ == 0) {
        state_ = kHeader;
        if (end) msg_op_ = 0;
      }
      WsClose r = sink.on_data(d, k, end);
      if (r != WsClose::kNone) return fail(r);
      continue;
    }
    // A control payload (<= 125 bytes).
    if (ctl_len_ == 0 && k == frame_len_) {
      uint8_t buf[125];
      ws_unmask(buf, p + i, k, mask_, 0);
      i += k;
      remaining_ = 0;
      state_ = kHeader;
      WsClose r = sink.on_control(frame_op_, buf, k);
      if (r != WsClose::kNone) return fail(r);
      continue;
    }
    if (!ctl_) ctl_.reset(new uint8_t[125]);
    ws_unmask(ctl_.get() + ctl_len_, p + i, k, mask_, mask_off_);
    mask_off_ = static_cast<uint8_t>((mask_off_ + k) & 3);
    ctl_len_ = static_cast<uint8_t>(ctl_len_ + k);
    remaining_ -= k;
    i += k;
    if (remaining_ == 0) {
      state_ = kHeader;
      size_t len = ctl_len_;
      ctl_len_ = 0;
      WsClose r = sink.on_control(frame_op_, ctl_.get(), len);
      if (r != WsClose::kNone) return fail(r);
    }
  }
  return WsClose::kNone;
}

}  // namespace gts
