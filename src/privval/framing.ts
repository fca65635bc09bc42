// Length-prefixed framing of privval messages: each protobuf `Message` is preceded by its length
// as an unsigned varint (CometBFT libs/protoio: NewDelimitedWriter / NewDelimitedReader).
//
// The reader is incremental (bytes arrive in arbitrary chunks, from a unix socket or from
// SecretConnection's 1024-byte frames) and bounded: a length over the limit, or a varint that is
// not one, fails as soon as the prefix shows it, before any of the body is buffered. After an
// error the stream cannot be resynchronised, so the reader stays failed and the connection must
// be closed.

import { encodeUvarint } from '../cometbft/protobuf';
import { RaftSignerError } from '../util/errors';

/**
 * Default largest message accepted: 1 MiB + 1 KiB. A SignVoteRequest can carry a vote
 * extension of up to 1 MiB (docs/privval/PROTOCOL.md, "Framing").
 */
export const DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024 + 1024;

/** A uvarint is at most 10 bytes (binary.MaxVarintLen64). */
const MAX_VARINT_BYTES = 10;

export type FramingErrorCode = 'message-too-large' | 'malformed-length' | 'truncated';

/** The base's stable code (RaftSignerError type.code) of each FramingErrorCode. */
const FRAMING_ERROR_TYPE_CODE: Record<FramingErrorCode, string> = {
  'message-too-large': 'FRAMING_MESSAGE_TOO_LARGE',
  'malformed-length': 'FRAMING_MALFORMED_LENGTH',
  truncated: 'FRAMING_TRUNCATED',
};

export class FramingError extends RaftSignerError<{ code: string; framingCode: FramingErrorCode }> {
  constructor(
    readonly code: FramingErrorCode,
    message: string,
  ) {
    super({ code: FRAMING_ERROR_TYPE_CODE[code], framingCode: code }, message);
    this.name = 'FramingError';
  }
}

/** uvarint(len(msg)) || msg. */
export function encodeFrame(msgBytes: Uint8Array): Uint8Array {
  const prefix = encodeUvarint(msgBytes.length);
  const out = new Uint8Array(prefix.length + msgBytes.length);
  out.set(prefix, 0);
  out.set(msgBytes, prefix.length);
  return out;
}

export interface LengthPrefixedReaderOptions {
  /** Largest message body accepted, in bytes. Default DEFAULT_MAX_MESSAGE_SIZE. */
  maxMessageSize?: number;
}

/**
 * Splits a byte stream into messages. `push` each chunk as it arrives and get back the messages
 * it completed (fresh copies: the caller may reuse its chunk buffers). Call `end` when the
 * stream ends, to learn whether it stopped inside a message.
 */
export class LengthPrefixedReader {
  readonly maxMessageSize: number;

  // Reading the prefix: its value so far and how many of its bytes have arrived.
  private prefixValue = 0;
  private prefixBytes = 0;
  // Reading a body: its buffer (allocated once the prefix is known) and bytes filled.
  private body: Uint8Array | null = null;
  private bodyFilled = 0;
  private failure: FramingError | null = null;

  constructor(options: LengthPrefixedReaderOptions = {}) {
    const max = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    if (!Number.isSafeInteger(max) || max < 0) {
      throw new RangeError(`maxMessageSize must be a non-negative safe integer, got ${max}`);
    }
    this.maxMessageSize = max;
  }

  /** Bytes held for an incomplete message (prefix and body). */
  get bufferedBytes(): number {
    return this.prefixBytes + this.bodyFilled;
  }

  /** True between messages: nothing of a next message has arrived yet. */
  get idle(): boolean {
    return this.prefixBytes === 0 && this.body === null;
  }

  private fail(code: FramingErrorCode, message: string): never {
    this.failure = new FramingError(code, message);
    throw this.failure;
  }

  push(chunk: Uint8Array): Uint8Array[] {
    if (this.failure !== null) throw this.failure;
    const messages: Uint8Array[] = [];
    let offset = 0;
    while (offset < chunk.length) {
      if (this.body === null) {
        const b = chunk[offset++] as number;
        if (this.prefixBytes === MAX_VARINT_BYTES - 1 && b > 1) {
          this.fail('malformed-length', 'length prefix is not a valid uvarint (overflows 64 bits)');
        }
        // Floating-point arithmetic is exact here: the value is checked against the limit (a
        // safe integer) after every byte, so it never grows past 2^53 before failing.
        this.prefixValue += (b & 0x7f) * 2 ** (7 * this.prefixBytes);
        this.prefixBytes++;
        if (this.prefixValue > this.maxMessageSize) {
          this.fail(
            'message-too-large',
            `message length ${b < 0x80 ? this.prefixValue : `at least ${this.prefixValue}`} exceeds the limit of ${this.maxMessageSize} bytes`,
          );
        }
        if (b >= 0x80) {
          if (this.prefixBytes >= MAX_VARINT_BYTES) {
            this.fail('malformed-length', 'length prefix is not a valid uvarint (longer than 10 bytes)');
          }
          continue;
        }
        const length = this.prefixValue;
        this.prefixValue = 0;
        this.prefixBytes = 0;
        if (length === 0) {
          messages.push(new Uint8Array(0));
        } else {
          this.body = new Uint8Array(length);
          this.bodyFilled = 0;
        }
        continue;
      }
      const take = Math.min(this.body.length - this.bodyFilled, chunk.length - offset);
      this.body.set(chunk.subarray(offset, offset + take), this.bodyFilled);
      this.bodyFilled += take;
      offset += take;
      if (this.bodyFilled === this.body.length) {
        messages.push(this.body);
        this.body = null;
        this.bodyFilled = 0;
      }
    }
    return messages;
  }

  /** The stream ended: throws FramingError('truncated') if it ended inside a message. */
  end(): void {
    if (this.failure !== null) throw this.failure;
    if (this.body !== null) {
      this.fail('truncated', `stream ended inside a message: ${this.bodyFilled} of ${this.body.length} bytes received`);
    }
    if (this.prefixBytes > 0) this.fail('truncated', 'stream ended inside a length prefix');
  }
}

/**
 * The messages of a byte stream (e.g. a net.Socket or stream.Readable), one by one. Throws
 * FramingError on a bad prefix, an over-limit length, or a stream that ends inside a message.
 */
export async function* readFrames(
  source: AsyncIterable<Uint8Array>,
  options: LengthPrefixedReaderOptions = {},
): AsyncGenerator<Uint8Array, void, undefined> {
  const reader = new LengthPrefixedReader(options);
  for await (const chunk of source) {
    if (!(chunk instanceof Uint8Array)) {
      throw new TypeError('readFrames needs a binary stream (no encoding set, not object mode)');
    }
    for (const message of reader.push(chunk)) yield message;
  }
  reader.end();
}
