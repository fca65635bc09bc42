// The proto3 wire primitives: varints at their edges, sign extension of negative int32, sfixed64,
// unknown-field skipping for every wire type, and typed errors for every malformation.

import {
  ProtoReader,
  ProtoWriter,
  ProtobufDecodeError,
  ProtobufEncodeError,
  WireType,
  encodeUvarint,
} from '../../src/cometbft/protobuf';
import { hex, unhex } from '../privval/vectors_fixture';

const reader = (h: string) => new ProtoReader(unhex(h), 'test');

describe('uvarint', () => {
  // Values from the protobuf encoding guide, and the edges of 7-bit groups and of uint64.
  it.each([
    [0n, '00'],
    [1n, '01'],
    [127n, '7f'],
    [128n, '8001'],
    [150n, '9601'],
    [300n, 'ac02'],
    [16383n, 'ff7f'],
    [16384n, '808001'],
    [(1n << 63n) - 1n, 'ffffffffffffffff7f'],
    [(1n << 64n) - 1n, 'ffffffffffffffffff01'],
  ])('%s encodes as %s and reads back', (value, encoded) => {
    expect(hex(encodeUvarint(value))).toBe(encoded);
    const r = reader(encoded);
    expect(r.uint64()).toBe(value);
    expect(r.atEnd).toBe(true);
  });

  it('refuses negative and over-64-bit values on encode', () => {
    expect(() => encodeUvarint(-1n)).toThrow(ProtobufEncodeError);
    expect(() => encodeUvarint(1n << 64n)).toThrow(ProtobufEncodeError);
    expect(() => encodeUvarint(2 ** 53)).toThrow(ProtobufEncodeError);
    expect(() => encodeUvarint(1.5)).toThrow(ProtobufEncodeError);
    expect(() => encodeUvarint(Number.NaN)).toThrow(ProtobufEncodeError);
  });

  it.each([
    ['truncated', '80'],
    ['truncated after 9 bytes', 'ffffffffffffffffff'],
    ['a tenth byte above 1 (more than 64 bits)', 'ffffffffffffffffff02'],
    ['eleven bytes', 'ffffffffffffffffff8001'],
    ['empty input', ''],
  ])('refuses %s', (_what, encoded) => {
    expect(() => reader(encoded).uint64()).toThrow(ProtobufDecodeError);
  });

  it('accepts a non-minimal encoding as the same value', () => {
    expect(reader('8100').uint64()).toBe(1n);
  });
});

describe('scalar fields', () => {
  it('writes a negative int32 as a 10-byte sign-extended varint', () => {
    expect(hex(new ProtoWriter().int32(1, -1).finish())).toBe('08ffffffffffffffffff01');
    const r = reader('08ffffffffffffffffff01');
    r.tag();
    expect(r.int32()).toBe(-1);
  });

  it('int32 reads truncate to the low 32 bits (Go int32(v))', () => {
    const r = reader(hex(encodeUvarint((1n << 32n) + 7n)));
    expect(r.int32()).toBe(7);
    const r2 = reader(hex(encodeUvarint(0xffffffffn)));
    expect(r2.int32()).toBe(-1);
    const r3 = reader(hex(encodeUvarint(0x1_0000_0002n)));
    expect(r3.uint32()).toBe(2);
  });

  it('int64 round-trips its extremes', () => {
    for (const v of [-(1n << 63n), -1n, 0n, 1n, (1n << 63n) - 1n]) {
      const r = new ProtoReader(new ProtoWriter().int64(2, v).finish(), 'test');
      expect(r.tag()).toEqual({ fieldNumber: 2, wireType: WireType.Varint });
      expect(r.int64()).toBe(v);
    }
  });

  it('sfixed64 is 8 bytes little-endian two’s complement', () => {
    expect(hex(new ProtoWriter().sfixed64(2, 1n).finish())).toBe('110100000000000000');
    expect(hex(new ProtoWriter().sfixed64(3, -1n).finish())).toBe('19ffffffffffffffff');
    for (const v of [-(1n << 63n), -2n, 0n, 12345678901234n, (1n << 63n) - 1n]) {
      const r = new ProtoReader(new ProtoWriter().sfixed64(2, v).finish(), 'test');
      r.tag();
      expect(r.sfixed64()).toBe(v);
    }
  });

  it('bool: any non-zero varint is true', () => {
    expect(reader('02').bool()).toBe(true);
    expect(reader('00').bool()).toBe(false);
    expect(hex(new ProtoWriter().bool(3, true).finish())).toBe('1801');
  });

  it('refuses out-of-range values on encode', () => {
    const w = new ProtoWriter();
    expect(() => w.int32(1, 2 ** 31)).toThrow(ProtobufEncodeError);
    expect(() => w.int32(1, -(2 ** 31) - 1)).toThrow(ProtobufEncodeError);
    expect(() => w.int32(1, Number.NaN)).toThrow(ProtobufEncodeError);
    expect(() => w.uint32(1, -1)).toThrow(ProtobufEncodeError);
    expect(() => w.int64(1, 1n << 63n)).toThrow(ProtobufEncodeError);
    expect(() => w.sfixed64(1, -(1n << 63n) - 1n)).toThrow(ProtobufEncodeError);
    expect(() => w.uint64(1, -1n)).toThrow(ProtobufEncodeError);
    expect(() => w.bytes(0, new Uint8Array(0))).toThrow(ProtobufEncodeError);
    expect(() => w.bytes(1 << 29, new Uint8Array(0))).toThrow(ProtobufEncodeError);
  });

  it('strings are UTF-8 and invalid UTF-8 is refused', () => {
    const bytes = new ProtoWriter().string(1, 'héllo').finish();
    expect(hex(bytes)).toBe('0a0668c3a96c6c6f');
    const r = new ProtoReader(bytes, 'test');
    r.tag();
    expect(r.string()).toBe('héllo');
    const bad = reader('0a02c328');
    bad.tag();
    expect(() => bad.string()).toThrow(ProtobufDecodeError);
  });

  it('bytes are copied out of the input', () => {
    const input = unhex('0a03010203');
    const r = new ProtoReader(input, 'test');
    r.tag();
    const out = r.bytes();
    input[2] = 9;
    expect(hex(out)).toBe('010203');
  });
});

describe('tags and skipping', () => {
  it('reads field numbers up to 2^29 - 1 and refuses 0 and larger', () => {
    const max = new ProtoWriter().uint32((1 << 29) - 1, 1).finish();
    expect(new ProtoReader(max, 'test').tag()).toEqual({ fieldNumber: (1 << 29) - 1, wireType: 0 });
    expect(() => reader('00').tag()).toThrow(/illegal field number 0/);
    expect(() => new ProtoReader(encodeUvarint(1n << 32n), 'test').tag()).toThrow(ProtobufDecodeError);
  });

  it('refuses wire types 4 (outside a group), 6 and 7', () => {
    expect(() => reader('0c').tag()).toThrow(/end-group/);
    expect(() => reader('0e').tag()).toThrow(/wire type 6/);
    expect(() => reader('0f').tag()).toThrow(/wire type 7/);
  });

  it('skips each wire type and lands on the next field', () => {
    const input =
      '0896' + '01' + // varint
      '11' + '0102030405060708' + // fixed64
      '1a03' + 'aabbcc' + // length-delimited
      '23' + '0801' + '2b' + '1a00' + '2c' + '24' + // group 4 holding a varint and group 5
      '2d' + '01020304' + // fixed32
      '3001'; // field 6 varint: the marker
    const r = reader(input);
    for (let i = 0; i < 5; i++) r.skip(r.tag());
    expect(r.tag()).toEqual({ fieldNumber: 6, wireType: 0 });
    expect(r.uint64()).toBe(1n);
    expect(r.atEnd).toBe(true);
  });

  it.each([
    ['an unterminated group', '23' + '0801'],
    ['a group closed by another field number', '23' + '0801' + '2c'],
    ['a group holding wire type 7', '23' + '0f'],
    ['truncated fixed64', '11' + '01020304'],
    ['truncated fixed32', '2d' + '0102'],
    ['a length past the end', '1a05' + 'aabb'],
    ['a length of 2^64 - 1', '1a' + 'ffffffffffffffffff01'],
  ])('refuses %s', (_what, input) => {
    const r = reader(input);
    expect(() => r.skip(r.tag())).toThrow(ProtobufDecodeError);
  });

  it('refuses groups nested deeper than 64', () => {
    const deep = '23'.repeat(70) + '24'.repeat(70);
    const r = reader(deep);
    expect(() => r.skip(r.tag())).toThrow(/nested too deeply/);
    const ok = '23'.repeat(64) + '24'.repeat(64);
    const r2 = reader(ok);
    r2.skip(r2.tag());
    expect(r2.atEnd).toBe(true);
  });

  it('expect() refuses a known field with another wire type', () => {
    const r = reader('0801');
    const tag = r.tag();
    expect(() => r.expect(tag, WireType.LengthDelimited, 'x')).toThrow(/field x \(1\) has wire type 0, expected 2/);
  });

  it('errors carry the offset', () => {
    const r = reader('0801' + '1a05aa');
    r.skip(r.tag());
    try {
      r.skip(r.tag());
      throw new Error('no error');
    } catch (e) {
      expect(e).toBeInstanceOf(ProtobufDecodeError);
      expect((e as ProtobufDecodeError).offset).toBe(3);
    }
  });
});
