// Deterministic fuzzing of SecretConnection: a hostile or broken peer must only ever produce a
// SecretConnectionError (never another exception, a crash or a hang), and after the handshake
// nothing but an exact prefix of what the honest peer sent may come out of the connection.
//
// The mutations are driven by a seeded generator; every failure names the seed and the case so
// it replays (ephemeral keys are fresh each run, but which bytes are broken, and how, is fixed).
// Streams are in-memory pairs so that hundreds of cases run concurrently in well under 10 s.

import { generateKeyPairSync, KeyObject } from 'node:crypto';
import { fuzzRandom, FuzzRandom } from '../support/fuzz_input';
import { Duplex } from 'node:stream';

import {
  SEALED_FRAME_BYTES,
  SecretConnection,
  SecretConnectionError,
  SecretConnectionErrorCode,
  makeSecretConnection,
} from '../../src/privval/secret_connection';

const SEED = 0x5ec12e7;
const HANDSHAKE_WIRE_BYTES = 35 + SEALED_FRAME_BYTES; // ephemeral key message + auth frame
const SHORT_TIMEOUT_MS = 200;
const CASE_DEADLINE_MS = 3000;


/**
 * One end of an in-memory connection. What it writes reaches its peer on a later turn of the
 * event loop, through `transform` (which sees each chunk and its offset in the stream, and may
 * change, drop or add bytes, or cut the stream by returning { end: true }).
 */
type Transform = (chunk: Buffer, offset: number) => { bytes: Buffer; end?: boolean };

class MemoryEnd extends Duplex {
  peer!: MemoryEnd;
  transform: Transform | undefined;
  private sent = 0;
  private peerInputEnded = false;

  constructor() {
    super({ allowHalfOpen: false });
  }

  override _read(): void {
    // Data is pushed by the peer's _write.
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const result = this.transform ? this.transform(chunk, this.sent) : { bytes: chunk };
    this.sent += chunk.length;
    setImmediate(() => {
      if (!this.peer.destroyed && !this.peerInputEnded) {
        if (result.bytes.length > 0) this.peer.push(result.bytes);
        if (result.end) this.endPeerInput();
      }
      callback();
    });
  }

  override _final(callback: (error?: Error | null) => void): void {
    setImmediate(() => {
      this.endPeerInput();
      callback();
    });
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    setImmediate(() => {
      if (!this.peer.destroyed) this.peer.destroy();
    });
    callback(error);
  }

  private endPeerInput(): void {
    if (this.peerInputEnded || this.peer.destroyed) return;
    this.peerInputEnded = true;
    this.peer.push(null);
  }
}

function memoryPair(): [MemoryEnd, MemoryEnd] {
  const a = new MemoryEnd();
  const b = new MemoryEnd();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

function identity(): KeyObject {
  return generateKeyPairSync('ed25519').privateKey;
}

type Outcome = { ok: true; conn: SecretConnection } | { ok: false; error: unknown };

async function settle(promise: Promise<SecretConnection>, what: string): Promise<Outcome> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`HANG: ${what} did not settle in ${CASE_DEADLINE_MS} ms`)), CASE_DEADLINE_MS);
  });
  try {
    return { ok: true, conn: await Promise.race([promise, deadline]) };
  } catch (error) {
    return { ok: false, error };
  } finally {
    clearTimeout(timer);
  }
}

function describeError(error: unknown): string {
  if (error instanceof SecretConnectionError) return `SecretConnectionError(${error.code})`;
  return `${(error as Error)?.name ?? typeof error}: ${(error as Error)?.message ?? String(error)}`;
}

/** Runs the cases a batch at a time (all at once would only measure the event loop). */
async function runCases(count: number, runCase: (index: number) => Promise<string | undefined>): Promise<string[]> {
  const failures: string[] = [];
  const batch = 40;
  for (let start = 0; start < count; start += batch) {
    const results = await Promise.all(
      Array.from({ length: Math.min(batch, count - start) }, (_, k) => runCase(start + k).catch((err: unknown) => `threw ${describeError(err)}`)),
    );
    results.forEach((r, k) => {
      if (r !== undefined) failures.push(`seed ${SEED.toString(16)} case ${start + k}: ${r}`);
    });
  }
  return failures;
}

/** A mutation of a byte stream at one offset, chosen by the generator. */
function pickMutation(rng: FuzzRandom, start: number, end: number): { name: string; transform: Transform } {
  const at = start + rng.int(end - start);
  const kind = rng.int(6);
  const bit = 1 << rng.int(8);
  const filler = rng.bytes(1 + rng.int(40));
  const span = 1 + rng.int(60);
  const touches = (chunk: Buffer, offset: number): boolean => at >= offset && at < offset + chunk.length;
  switch (kind) {
    case 0:
      return {
        name: `flip bit ${bit} at ${at}`,
        transform: (chunk, offset) => {
          if (!touches(chunk, offset)) return { bytes: chunk };
          const copy = Buffer.from(chunk);
          copy[at - offset] ^= bit;
          return { bytes: copy };
        },
      };
    case 1:
      return {
        name: `insert ${filler.length} bytes at ${at}`,
        transform: (chunk, offset) =>
          touches(chunk, offset)
            ? { bytes: Buffer.concat([chunk.subarray(0, at - offset), filler, chunk.subarray(at - offset)]) }
            : { bytes: chunk },
      };
    case 2:
      return {
        name: `delete ${span} bytes at ${at}`,
        transform: (chunk, offset) =>
          touches(chunk, offset)
            ? { bytes: Buffer.concat([chunk.subarray(0, at - offset), chunk.subarray(at - offset + span)]) }
            : { bytes: chunk },
      };
    case 3:
      return {
        name: `cut the stream at ${at}`,
        transform: (chunk, offset) => {
          if (offset >= at) return { bytes: Buffer.alloc(0), end: true };
          if (touches(chunk, offset)) return { bytes: chunk.subarray(0, at - offset), end: true };
          return { bytes: chunk };
        },
      };
    case 4:
      return {
        name: `overwrite ${filler.length} bytes at ${at}`,
        transform: (chunk, offset) => {
          if (!touches(chunk, offset)) return { bytes: chunk };
          const copy = Buffer.from(chunk);
          filler.copy(copy, at - offset);
          return { bytes: copy };
        },
      };
    default:
      // Replay: repeat up to one sealed frame's worth of what this write already carried before
      // `at` (a whole earlier frame when there is one), or the whole write if `at` starts it.
      return {
        name: `replay up to ${SEALED_FRAME_BYTES} bytes before ${at}`,
        transform: (chunk, offset) => {
          if (!touches(chunk, offset)) return { bytes: chunk };
          const cut = at - offset;
          const replayed = cut === 0 ? chunk : chunk.subarray(Math.max(0, cut - SEALED_FRAME_BYTES), cut);
          return { bytes: Buffer.concat([chunk.subarray(0, cut), replayed, chunk.subarray(cut)]) };
        },
      };
  }
}

const HANDSHAKE_FAILURE_CODES: SecretConnectionErrorCode[] = [
  'BAD_EPHEMERAL_KEY_MESSAGE',
  'LOW_ORDER_DH',
  'BAD_AUTH_MESSAGE',
  'AUTH_SIGNATURE_INVALID',
  'FRAME_AUTH_FAILED',
  'FRAME_TOO_LONG',
  'HANDSHAKE_TIMEOUT',
  'CLOSED_DURING_HANDSHAKE',
  'CLOSED_MID_FRAME',
];

describe('SecretConnection under fuzzed input (seeded)', () => {
  test('random bytes as the handshake peer: only typed errors, never a connection', async () => {
    const rng = fuzzRandom(SEED);
    const failures = await runCases(240, async (i) => {
      const [ours, peer] = memoryPair();
      const style = rng.int(4);
      const length = rng.int(3000);
      let script: Buffer;
      if (style === 0) script = rng.bytes(length);
      else if (style === 1) script = Buffer.concat([Buffer.from('220a20', 'hex'), rng.bytes(32), rng.bytes(length)]);
      else if (style === 2) script = Buffer.concat([Buffer.from([rng.int(256), rng.int(256)]), rng.bytes(length)]);
      else script = Buffer.concat([Buffer.from('220a20', 'hex'), rng.bytes(32), rng.bytes(SEALED_FRAME_BYTES * (1 + rng.int(2)))]);
      const endAfterScript = rng.int(2) === 0;
      const result = settle(makeSecretConnection(ours, identity(), { handshakeTimeoutMs: SHORT_TIMEOUT_MS }), `case ${i}`);
      peer.on('data', () => undefined);
      peer.on('error', () => undefined);
      peer.write(script);
      if (endAfterScript) peer.end();
      const outcome = await result;
      peer.destroy();
      if (outcome.ok) {
        outcome.conn.destroy();
        return `style ${style}: a random peer completed the handshake`;
      }
      if (!(outcome.error instanceof SecretConnectionError) || !HANDSHAKE_FAILURE_CODES.includes(outcome.error.code)) {
        return `style ${style}: ${describeError(outcome.error)}`;
      }
      if (!ours.destroyed) return `style ${style}: socket left open after ${describeError(outcome.error)}`;
      return undefined;
    });
    expect(failures).toEqual([]);
  });

  test('a genuine handshake with one mutation on the wire always fails, with typed errors on both sides', async () => {
    const rng = fuzzRandom(SEED + 1);
    const failures = await runCases(200, async (i) => {
      const [endA, endB] = memoryPair();
      const mutation = pickMutation(rng, 0, HANDSHAKE_WIRE_BYTES);
      // The mutation hits what B sends to A.
      endB.transform = mutation.transform;
      const opts = { handshakeTimeoutMs: SHORT_TIMEOUT_MS };
      const [a, b] = await Promise.all([
        settle(makeSecretConnection(endA, identity(), opts), `A in case ${i}`),
        settle(makeSecretConnection(endB, identity(), opts), `B in case ${i}`),
      ]);
      const problems: string[] = [];
      if (a.ok) {
        problems.push('A accepted a tampered handshake');
        a.conn.destroy();
      } else if (!(a.error instanceof SecretConnectionError)) {
        problems.push(`A: ${describeError(a.error)}`);
      }
      // B's input is intact, so B may finish (A then hangs up on it) or fail; never untyped.
      if (b.ok) b.conn.destroy();
      else if (!(b.error instanceof SecretConnectionError)) problems.push(`B: ${describeError(b.error)}`);
      return problems.length ? `${mutation.name}: ${problems.join('; ')}` : undefined;
    });
    expect(failures).toEqual([]);
  });

  test('tampered frames after the handshake: only an exact prefix is delivered, then a typed error or a clean end', async () => {
    const rng = fuzzRandom(SEED + 2);
    const failures = await runCases(200, async (i) => {
      const [endA, endB] = memoryPair();
      const [aOutcome, bOutcome] = await Promise.all([
        settle(makeSecretConnection(endA, identity()), `A in case ${i}`),
        settle(makeSecretConnection(endB, identity()), `B in case ${i}`),
      ]);
      if (!aOutcome.ok || !bOutcome.ok) {
        return `clean handshake failed: ${describeError(aOutcome.ok ? undefined : aOutcome.error)} / ${describeError(bOutcome.ok ? undefined : bOutcome.error)}`;
      }
      const a = aOutcome.conn;
      const b = bOutcome.conn;
      const message = rng.bytes(1 + rng.int(6000));
      const frames = Math.ceil(message.length / 1024);
      const mutation = pickMutation(rng, HANDSHAKE_WIRE_BYTES, HANDSHAKE_WIRE_BYTES + frames * SEALED_FRAME_BYTES);
      endB.transform = mutation.transform;

      const received: Buffer[] = [];
      const closed = new Promise<Error | null>((resolve) => {
        let error: Error | null = null;
        a.on('data', (chunk: Buffer) => received.push(chunk));
        a.on('error', (err) => {
          error = err;
        });
        a.on('close', () => resolve(error));
        a.on('end', () => resolve(error));
      });
      b.on('error', () => undefined);
      // Split the message into a few writes, as a real sender might.
      for (let offset = 0; offset < message.length; ) {
        const size = 1 + rng.int(2500);
        b.write(message.subarray(offset, offset + size));
        offset += size;
      }
      b.end();
      let timer: NodeJS.Timeout | undefined;
      const error = await Promise.race([
        closed,
        new Promise<'HANG'>((resolve) => {
          timer = setTimeout(() => resolve('HANG'), CASE_DEADLINE_MS);
        }),
      ]);
      clearTimeout(timer);
      a.destroy();
      b.destroy();
      const delivered = Buffer.concat(received);
      if (error === 'HANG') return `${mutation.name}: the receiver neither failed nor ended`;
      if (!message.subarray(0, delivered.length).equals(delivered)) {
        return `${mutation.name}: delivered ${delivered.length} bytes that are not a prefix of what was sent`;
      }
      if (error !== null && !(error instanceof SecretConnectionError)) return `${mutation.name}: ${describeError(error)}`;
      if (error === null && delivered.length === message.length) return `${mutation.name}: the tampering went unnoticed`;
      return undefined;
    });
    expect(failures).toEqual([]);
  });

  test('random bytes injected after a genuine handshake fail authentication', async () => {
    const rng = fuzzRandom(SEED + 3);
    const failures = await runCases(100, async (i) => {
      const [endA, endB] = memoryPair();
      const [aOutcome, bOutcome] = await Promise.all([
        settle(makeSecretConnection(endA, identity()), `A in case ${i}`),
        settle(makeSecretConnection(endB, identity()), `B in case ${i}`),
      ]);
      if (!aOutcome.ok || !bOutcome.ok) return 'clean handshake failed';
      const a = aOutcome.conn;
      const closed = new Promise<Error | null>((resolve) => {
        let error: Error | null = null;
        a.on('data', () => undefined);
        a.on('error', (err) => {
          error = err;
        });
        a.on('close', () => resolve(error));
      });
      // Bypass B's SecretConnection: raw garbage of at least one frame on the wire.
      endB.write(rng.bytes(SEALED_FRAME_BYTES + rng.int(4000)));
      const error = await closed;
      bOutcome.conn.destroy();
      if (!(error instanceof SecretConnectionError) || error.code !== 'FRAME_AUTH_FAILED') return describeError(error);
      return undefined;
    });
    expect(failures).toEqual([]);
  });
});
