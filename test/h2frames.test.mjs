// The raw HTTP/2 helper the conformance and attack tests rely on (test/helpers/h2frames.mjs), checked
// against RFC 7541 Appendix C's examples and the frame layout of RFC 9113 §4.1. No server involved.
import t from 'tap';

import {
  F,
  HpackDecoder,
  T,
  frame,
  headers,
  hpack,
  huffmanDecode,
  huffmanEncode,
  settings,
} from './helpers/h2frames.mjs';

const hex = (s) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

t.test('RFC 7541 C.2.1-C.2.4: literal and indexed representations', async (t) => {
  t.same(
    hpack.literal('custom-key', 'custom-header', { mode: 'incremental' }),
    hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'),
    'C.2.1 literal with indexing',
  );
  t.same(hpack.literal(4, '/sample/path'), hex('040c 2f73 616d 706c 652f 7061 7468'), 'C.2.2 without indexing');
  t.same(
    hpack.literal('password', 'secret', { mode: 'never' }),
    hex('1008 7061 7373 776f 7264 0673 6563 7265 74'),
    'C.2.3 never indexed',
  );
  t.same(hpack.indexed(2), hex('82'), 'C.2.4 indexed');
});

t.test('RFC 7541 C.1: integers', async (t) => {
  t.same(hpack.int(10, 5), Buffer.from([10]), 'C.1.1 10 with a 5-bit prefix');
  t.same(hpack.int(1337, 5), Buffer.from([31, 154, 10]), 'C.1.2 1337 with a 5-bit prefix');
  t.same(hpack.int(42, 8), Buffer.from([42]), 'C.1.3 42 at an octet boundary');
});

t.test('RFC 7541 C.3 / C.4: three requests with the dynamic table, without and with Huffman', async (t) => {
  for (const [name, blocks] of [
    [
      'C.3 (no Huffman)',
      [
        '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
        '8286 84be 5808 6e6f 2d63 6163 6865',
        '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
      ],
    ],
    [
      'C.4 (Huffman)',
      [
        '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
        '8286 84be 5886 a8eb 1064 9cbf',
        '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
      ],
    ],
  ]) {
    const d = new HpackDecoder();
    t.same(
      d.decode(hex(blocks[0])),
      [
        [':method', 'GET'],
        [':scheme', 'http'],
        [':path', '/'],
        [':authority', 'www.example.com'],
      ],
      `${name}: first request`,
    );
    t.same(
      d.decode(hex(blocks[1])),
      [
        [':method', 'GET'],
        [':scheme', 'http'],
        [':path', '/'],
        [':authority', 'www.example.com'],
        ['cache-control', 'no-cache'],
      ],
      `${name}: second request (a dynamic table reference)`,
    );
    t.same(
      d.decode(hex(blocks[2])),
      [
        [':method', 'GET'],
        [':scheme', 'https'],
        [':path', '/index.html'],
        [':authority', 'www.example.com'],
        ['custom-key', 'custom-value'],
      ],
      `${name}: third request`,
    );
    t.equal(d.size, 164, `${name}: dynamic table size 164`);
  }
});

t.test('Huffman: RFC 7541 C.4.1 and the three errors of §5.2', async (t) => {
  t.same(huffmanEncode('www.example.com'), hex('f1e3 c2e5 f23a 6ba0 ab90 f4ff'), 'encodes');
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  t.same(huffmanDecode(huffmanEncode(all)), all, 'every octet round-trips');
  t.throws(() => huffmanDecode(Buffer.from([0x1f, 0xff])), /longer than 7 bits/, 'padding > 7 bits');
  t.throws(() => huffmanDecode(Buffer.from([0x18])), /not the EOS prefix/, 'padding of zeros');
  t.throws(() => huffmanDecode(Buffer.from([0xff, 0xff, 0xff, 0xff])), /EOS/, 'EOS in the string');
});

t.test('RFC 9113 §4.1 frame layout', async (t) => {
  t.same(frame(T.PING, 0, 0, Buffer.alloc(8)).subarray(0, 9), hex('000008 06 00 00000000'), 'PING header');
  t.same(frame(T.PING, 0, 0, Buffer.alloc(8), { reserved: true }).subarray(5, 9), hex('80000000'), 'R bit');
  t.same(settings([[4, 1]]), hex('000006 04 00 00000000 0004 00000001'), 'SETTINGS');
  const h = headers(3, hex('82'), { endStream: true, pad: 2, priority: { dep: 1, weight: 16, exclusive: true } });
  t.same(h, hex('000009 01 2d 00000003 02 80000001 0f 82 0000'), 'HEADERS with padding and priority');
  t.equal(h[4], F.END_STREAM | F.END_HEADERS | F.PADDED | F.PRIORITY, 'flags');
});
