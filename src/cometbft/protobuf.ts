// A small proto3 wire-format writer and reader, just what the privval messages and CometBFT's
// canonical sign bytes need (https://protobuf.dev/programming-guides/encoding/).
//
// Why our own: the sign bytes must equal what CometBFT's gogoproto encoder produces, byte for
// byte, and the decoder faces whatever arrives on the signer's socket. Both are easier to audit
// when every rule is spelled out here. The writer never decides to omit a field: proto3's "zero
// values are not written" rule lives in the message encoders, next to the Go code they follow.
//
// Decoding rules, after gogoproto's generated Unmarshal (e.g. tendermint/types/types.pb.go):
// - a field number of 0, or an end-group tag outside a group, is an error;
// - a known field with the wrong wire type is an error (checked by the callers via `expect`);
// - unknown fields of every wire type are skipped, groups included;
// - int32/uint32/enum/bool values are read as 64-bit varints and truncated like Go's casts.
// Stricter than gogoproto, never looser: a varint longer than 64 bits is an error (as in the
// protowire package), strings must be valid UTF-8 so that they re-encode to the same bytes.
// Every malformed input ends in a ProtobufDecodeError, never a RangeError or a loop.

import { RaftSignerError } from '../util/errors';

/** Wire types (protobuf encoding spec, "Message Structure"). 6 and 7 are invalid. */
export const WireType = {
  Varint: 0,
  Fixed64: 1,
  LengthDelimited: 2,
  StartGroup: 3,
  EndGroup: 4,
  Fixed32: 5,
} as const;
export type WireType = (typeof WireType)[keyof typeof WireType];

/** The largest field number protobuf allows (2^29 - 1). */
export const MAX_FIELD_NUMBER = 0x1fffffff;

const UINT64_MAX = (1n << 64n) - 1n;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;
const UINT32_MAX = 0xffffffff;

/** Unknown groups nested deeper than this are refused; the privval protocol has none at all. */
const MAX_GROUP_DEPTH = 64;

/** Input that is not a well-formed protobuf message of the expected type. */
export class ProtobufDecodeError extends RaftSignerError<{ code: 'PROTOBUF_DECODE'; offset: number }> {
  constructor(
    message: string,
    /** Byte offset in the buffer being decoded where the problem was found. */
    readonly offset: number,
  ) {
    super({ code: 'PROTOBUF_DECODE', offset }, message);
    this.name = 'ProtobufDecodeError';
  }
}

/** A value that cannot be encoded as the field's protobuf type (out of range, not an integer). */
export class ProtobufEncodeError extends RaftSignerError<{ code: 'PROTOBUF_ENCODE' }> {
  constructor(message: string) {
    super({ code: 'PROTOBUF_ENCODE' }, message);
    this.name = 'ProtobufEncodeError';
  }
}

export interface FieldTag {
  fieldNumber: number;
  wireType: WireType;
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

function checkFieldNumber(fieldNumber: number): void {
  if (!Number.isInteger(fieldNumber) || fieldNumber < 1 || fieldNumber > MAX_FIELD_NUMBER) {
    throw new ProtobufEncodeError(`invalid field number ${fieldNumber}`);
  }
}

function checkInt32(value: number, what: string): void {
  if (!Number.isInteger(value) || value < INT32_MIN || value > INT32_MAX) {
    throw new ProtobufEncodeError(`${what} must be an int32, got ${value}`);
  }
}

function checkUint32(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > UINT32_MAX) {
    throw new ProtobufEncodeError(`${what} must be a uint32, got ${value}`);
  }
}

function checkInt64(value: bigint, what: string): void {
  if (typeof value !== 'bigint' || value < INT64_MIN || value > INT64_MAX) {
    throw new ProtobufEncodeError(`${what} must be an int64, got ${String(value)}`);
  }
}

/** The unsigned varint encoding of a uint64 (given as a non-negative bigint or safe integer). */
export function encodeUvarint(value: bigint | number): Uint8Array {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) {
    throw new ProtobufEncodeError(`uvarint must be a safe integer, got ${value}`);
  }
  let v = typeof value === 'bigint' ? value : BigInt(value);
  if (v < 0n || v > UINT64_MAX) {
    throw new ProtobufEncodeError(`uvarint out of uint64 range: ${String(value)}`);
  }
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Uint8Array.from(out);
}

/**
 * Builds one message. Every method writes its field unconditionally; callers omit proto3 zero
 * values themselves, so that each encoder reads like the Go Marshal code it mirrors.
 */
export class ProtoWriter {
  private buf = new Uint8Array(64);
  private len = 0;

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  private rawByte(b: number): void {
    this.reserve(1);
    this.buf[this.len++] = b;
  }

  private rawBytes(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  /** A raw varint of a value already reduced to uint64 (two's complement for negatives). */
  private rawVarint(value: bigint): void {
    let v = value;
    while (v >= 0x80n) {
      this.rawByte(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.rawByte(Number(v));
  }

  private tag(fieldNumber: number, wireType: WireType): void {
    checkFieldNumber(fieldNumber);
    this.rawVarint(BigInt(fieldNumber * 8 + wireType));
  }

  /** int32 and enums: a negative value is sign-extended to 64 bits, so it takes 10 bytes. */
  int32(fieldNumber: number, value: number): this {
    checkInt32(value, `field ${fieldNumber}`);
    this.tag(fieldNumber, WireType.Varint);
    this.rawVarint(BigInt.asUintN(64, BigInt(value)));
    return this;
  }

  uint32(fieldNumber: number, value: number): this {
    checkUint32(value, `field ${fieldNumber}`);
    this.tag(fieldNumber, WireType.Varint);
    this.rawVarint(BigInt(value));
    return this;
  }

  int64(fieldNumber: number, value: bigint): this {
    checkInt64(value, `field ${fieldNumber}`);
    this.tag(fieldNumber, WireType.Varint);
    this.rawVarint(BigInt.asUintN(64, value));
    return this;
  }

  uint64(fieldNumber: number, value: bigint): this {
    if (typeof value !== 'bigint' || value < 0n || value > UINT64_MAX) {
      throw new ProtobufEncodeError(`field ${fieldNumber} must be a uint64, got ${String(value)}`);
    }
    this.tag(fieldNumber, WireType.Varint);
    this.rawVarint(value);
    return this;
  }

  bool(fieldNumber: number, value: boolean): this {
    this.tag(fieldNumber, WireType.Varint);
    this.rawByte(value ? 1 : 0);
    return this;
  }

  /** sfixed64: 8 bytes, little-endian two's complement. */
  sfixed64(fieldNumber: number, value: bigint): this {
    checkInt64(value, `field ${fieldNumber}`);
    this.tag(fieldNumber, WireType.Fixed64);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigInt64(0, value, true);
    this.rawBytes(b);
    return this;
  }

  bytes(fieldNumber: number, value: Uint8Array): this {
    this.tag(fieldNumber, WireType.LengthDelimited);
    this.rawVarint(BigInt(value.length));
    this.rawBytes(value);
    return this;
  }

  string(fieldNumber: number, value: string): this {
    return this.bytes(fieldNumber, utf8Encoder.encode(value));
  }

  /** An embedded message, already encoded. */
  message(fieldNumber: number, encoded: Uint8Array): this {
    return this.bytes(fieldNumber, encoded);
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

/** Reads one message's fields in order. `context` names the message in error messages. */
export class ProtoReader {
  private pos = 0;

  constructor(
    private readonly buf: Uint8Array,
    private readonly context: string,
  ) {}

  get atEnd(): boolean {
    return this.pos >= this.buf.length;
  }

  get offset(): number {
    return this.pos;
  }

  private fail(message: string, at: number = this.pos): never {
    throw new ProtobufDecodeError(`${this.context}: ${message} (at byte ${at})`, at);
  }

  /** A varint as uint64. More than 64 bits of value is an error, as in Go's protowire. */
  uint64(): bigint {
    const start = this.pos;
    let result = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) this.fail('truncated varint', start);
      const b = this.buf[this.pos++] as number;
      if (i === 9 && b > 1) this.fail('varint overflows 64 bits', start);
      result |= BigInt(b & 0x7f) << BigInt(7 * i);
      if (b < 0x80) return result;
    }
    // Unreachable: the tenth byte either ends the varint or fails the check above.
    return this.fail('varint longer than 10 bytes', start);
  }

  int64(): bigint {
    return BigInt.asIntN(64, this.uint64());
  }

  /** int32 and enums: Go truncates the 64-bit varint with int32(v). */
  int32(): number {
    return Number(BigInt.asIntN(32, this.uint64()));
  }

  /** uint32: Go truncates with uint32(v). */
  uint32(): number {
    return Number(BigInt.asUintN(32, this.uint64()));
  }

  /** bool: any non-zero varint is true, as in gogoproto's `bool(v != 0)`. */
  bool(): boolean {
    return this.uint64() !== 0n;
  }

  private fixed(n: number): DataView {
    if (this.buf.length - this.pos < n) this.fail(`truncated ${n * 8}-bit fixed value`);
    const view = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, n);
    this.pos += n;
    return view;
  }

  sfixed64(): bigint {
    return this.fixed(8).getBigInt64(0, true);
  }

  fixed64(): bigint {
    return this.fixed(8).getBigUint64(0, true);
  }

  fixed32(): number {
    return this.fixed(4).getUint32(0, true);
  }

  /** A length-delimited field's contents, copied out of the input buffer. */
  bytes(): Uint8Array {
    return this.lengthDelimited().slice();
  }

  /** Like `bytes`, but a view into the input (for sub-messages decoded at once). */
  lengthDelimited(): Uint8Array {
    const start = this.pos;
    const len = this.uint64();
    if (len > BigInt(this.buf.length - this.pos)) {
      this.fail(`length ${len} runs past the end of the message`, start);
    }
    const n = Number(len);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  string(): string {
    const start = this.pos;
    const raw = this.lengthDelimited();
    try {
      return utf8Decoder.decode(raw);
    } catch {
      return this.fail('string is not valid UTF-8', start);
    }
  }

  /** The next field's tag. An end-group tag here is an error: groups are only ever skipped. */
  tag(): FieldTag {
    const start = this.pos;
    const key = this.uint64();
    const wireType = Number(key & 7n);
    const fieldNumber = key >> 3n;
    if (fieldNumber < 1n || fieldNumber > BigInt(MAX_FIELD_NUMBER)) {
      this.fail(`illegal field number ${fieldNumber}`, start);
    }
    if (wireType === WireType.EndGroup) this.fail('end-group tag outside a group', start);
    if (wireType > WireType.Fixed32) this.fail(`illegal wire type ${wireType}`, start);
    return { fieldNumber: Number(fieldNumber), wireType: wireType as WireType };
  }

  /** Refuses a known field sent with another wire type, as gogoproto does ("wrong wireType"). */
  expect(tag: FieldTag, wireType: WireType, fieldName: string): void {
    if (tag.wireType !== wireType) {
      this.fail(`field ${fieldName} (${tag.fieldNumber}) has wire type ${tag.wireType}, expected ${wireType}`);
    }
  }

  /** Skips the value of an unknown field, whatever its wire type; groups to their matching end. */
  skip(tag: FieldTag): void {
    const openGroups: number[] = [];
    let current = tag;
    for (;;) {
      switch (current.wireType) {
        case WireType.Varint:
          this.uint64();
          break;
        case WireType.Fixed64:
          this.fixed(8);
          break;
        case WireType.LengthDelimited:
          this.lengthDelimited();
          break;
        case WireType.Fixed32:
          this.fixed(4);
          break;
        case WireType.StartGroup:
          if (openGroups.length >= MAX_GROUP_DEPTH) this.fail('groups nested too deeply');
          openGroups.push(current.fieldNumber);
          break;
        case WireType.EndGroup:
          // Only reached for tags read inside a group (see below).
          if (openGroups.pop() !== current.fieldNumber) {
            this.fail(`end-group tag for field ${current.fieldNumber} does not match the open group`);
          }
          break;
      }
      if (openGroups.length === 0) return;
      if (this.atEnd) this.fail('unterminated group');
      const start = this.pos;
      const key = this.uint64();
      const wireType = Number(key & 7n);
      const fieldNumber = key >> 3n;
      if (fieldNumber < 1n || fieldNumber > BigInt(MAX_FIELD_NUMBER)) {
        this.fail(`illegal field number ${fieldNumber}`, start);
      }
      if (wireType > WireType.Fixed32) this.fail(`illegal wire type ${wireType}`, start);
      current = { fieldNumber: Number(fieldNumber), wireType: wireType as WireType };
    }
  }
}
