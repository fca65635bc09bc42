// Length-prefixed framing: messages split and joined across chunks in every way, limits enforced
// from the prefix alone, malformed prefixes refused, truncated streams reported.

import { Readable } from 'node:stream';

import {
  DEFAULT_MAX_MESSAGE_SIZE,
  FramingError,
  LengthPrefixedReader,
  encodeFrame,
  readFrames,
} from '../../src/privval/framing';
import { hex, unhex, MESSAGE_VECTORS_V038 } from './vectors_fixture';

function messageOf(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

describe('encodeFrame', () => {
  it('prefixes the uvarint length', () => {
    expect(hex(encodeFrame(unhex(MESSAGE_VECTORS_V038.pingRequest)))).toBe('023a00');
    expect(hex(encodeFrame(new Uint8Array(0)))).toBe('00');
    const big = encodeFrame(new Uint8Array(300));
    expect(hex(big.subarray(0, 2))).toBe('ac02');
    expect(big.length).toBe(302);
  });
});

describe('LengthPrefixedReader', () => {
  const messages = [
    unhex(MESSAGE_VECTORS_V038.signVoteRequest),
    new Uint8Array(0),
    unhex(MESSAGE_VECTORS_V038.pingRequest),
    messageOf(200, 1),
    messageOf(20000, 2),
  ];
  const stream = concat(messages.map(encodeFrame));

  it('returns every message when the stream comes in one chunk', () => {
    const r = new LengthPrefixedReader();
    expect(r.push(stream)).toEqual(messages);
    expect(r.idle).toBe(true);
    expect(() => r.end()).not.toThrow();
  });

  it('returns the same messages whatever the chunk boundaries', () => {
    for (const chunkSize of [1, 2, 3, 7, 128, 1024, 1044]) {
      const r = new LengthPrefixedReader();
      const out: Uint8Array[] = [];
      for (let i = 0; i < stream.length; i += chunkSize) out.push(...r.push(stream.subarray(i, i + chunkSize)));
      expect(out).toEqual(messages);
      r.end();
    }
  });

  it('returns copies that later chunk reuse cannot change', () => {
    const frame = encodeFrame(new Uint8Array([1, 2, 3]));
    const buffer = new Uint8Array(frame);
    const r = new LengthPrefixedReader();
    expect(r.push(buffer.subarray(0, 2))).toEqual([]);
    buffer[1] = 9; // the caller reuses its buffer
    const [msg] = r.push(frame.subarray(2));
    expect(Array.from(msg as Uint8Array)).toEqual([1, 2, 3]);
  });

  it('accepts exactly the maximum size and refuses one byte more, from the prefix alone', () => {
    const r = new LengthPrefixedReader({ maxMessageSize: 1000 });
    expect(r.push(encodeFrame(messageOf(1000, 3)))).toHaveLength(1);
    const r2 = new LengthPrefixedReader({ maxMessageSize: 1000 });
    const prefixOnly = encodeFrame(messageOf(1001, 3)).subarray(0, 2);
    expect(() => r2.push(prefixOnly)).toThrow(FramingError);
    expect(r2.bufferedBytes).toBeLessThanOrEqual(2);
  });

  it('defaults to 1 MiB + 1 KiB', () => {
    expect(DEFAULT_MAX_MESSAGE_SIZE).toBe(1024 * 1024 + 1024);
    const ok = new LengthPrefixedReader();
    expect(ok.push(encodeFrame(new Uint8Array(DEFAULT_MAX_MESSAGE_SIZE)))).toHaveLength(1);
    const tooBig = new LengthPrefixedReader();
    try {
      tooBig.push(new Uint8Array([0x81, 0x88, 0x40])); // 1 MiB + 1 KiB + 1
      throw new Error('no error');
    } catch (e) {
      expect(e).toBeInstanceOf(FramingError);
      expect((e as FramingError).code).toBe('message-too-large');
    }
  });

  it('refuses an over-limit length before its last prefix byte arrives', () => {
    const r = new LengthPrefixedReader({ maxMessageSize: 1000 });
    // 0xff 0xff ...: at least 127 after one byte, at least 16383 after the second.
    expect(r.push(new Uint8Array([0xff]))).toEqual([]);
    expect(() => r.push(new Uint8Array([0xff]))).toThrow(/at least 16383 exceeds the limit of 1000/);
  });

  it('refuses a prefix longer than 10 bytes or over 64 bits as malformed', () => {
    const eleven = new Uint8Array([...new Array(10).fill(0x80), 0x00]);
    const r = new LengthPrefixedReader();
    expect(() => r.push(eleven)).toThrow(expect.objectContaining({ code: 'malformed-length' }));
    const overflow = new Uint8Array([...new Array(9).fill(0x80), 0x02]);
    const r2 = new LengthPrefixedReader();
    expect(() => r2.push(overflow)).toThrow(expect.objectContaining({ code: 'malformed-length' }));
  });

  it('stays failed after an error', () => {
    const r = new LengthPrefixedReader({ maxMessageSize: 1 });
    expect(() => r.push(new Uint8Array([5]))).toThrow(FramingError);
    expect(() => r.push(encodeFrame(new Uint8Array(0)))).toThrow(FramingError);
    expect(() => r.end()).toThrow(FramingError);
  });

  it('end() reports a stream cut inside a prefix or a body', () => {
    const inBody = new LengthPrefixedReader();
    inBody.push(encodeFrame(messageOf(10, 4)).subarray(0, 5));
    expect(() => inBody.end()).toThrow(expect.objectContaining({ code: 'truncated' }));
    const inPrefix = new LengthPrefixedReader();
    inPrefix.push(new Uint8Array([0x80]));
    expect(() => inPrefix.end()).toThrow(expect.objectContaining({ code: 'truncated' }));
  });

  it('refuses a bad maximum', () => {
    expect(() => new LengthPrefixedReader({ maxMessageSize: -1 })).toThrow(RangeError);
    expect(() => new LengthPrefixedReader({ maxMessageSize: 1.5 })).toThrow(RangeError);
  });
});

describe('readFrames', () => {
  it('yields the messages of a Readable', async () => {
    const messages = [messageOf(5, 1), messageOf(3000, 2), new Uint8Array(0)];
    const bytes = Buffer.from(concat(messages.map(encodeFrame)));
    const chunks = [bytes.subarray(0, 3), bytes.subarray(3, 1500), bytes.subarray(1500)];
    const out: Uint8Array[] = [];
    for await (const m of readFrames(Readable.from(chunks))) out.push(new Uint8Array(m));
    expect(out).toEqual(messages);
  });

  it('throws truncated when the stream ends inside a message', async () => {
    const frame = Buffer.from(encodeFrame(messageOf(10, 1)));
    const run = async () => {
      for await (const _ of readFrames(Readable.from([frame.subarray(0, 4)]))) {
        // no message is complete
      }
    };
    await expect(run()).rejects.toMatchObject({ name: 'FramingError', code: 'truncated' });
  });

  it('throws message-too-large from the prefix without waiting for the body', async () => {
    async function* source(): AsyncGenerator<Uint8Array> {
      yield new Uint8Array([0xe8, 0x07]); // 1000
      throw new Error('the body was awaited');
    }
    const run = async () => {
      for await (const _ of readFrames(source(), { maxMessageSize: 999 })) {
        // nothing
      }
    };
    await expect(run()).rejects.toMatchObject({ code: 'message-too-large' });
  });
});
