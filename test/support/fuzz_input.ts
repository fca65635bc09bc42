// Seeded inputs for the fuzz tests: a small PRNG (mulberry32: spreads inputs, not for
// cryptography) and a mutator that makes the edits decoders get wrong most often.

export interface FuzzRandom {
  /** An integer in [0, n). */
  int(n: number): number;
  bytes(n: number): Buffer;
}

export function fuzzRandom(seed: number): FuzzRandom {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    int: (n) => Math.floor(next() * n),
    bytes: (n) => {
      const out = Buffer.alloc(n);
      for (let i = 0; i < n; i++) out[i] = Math.floor(next() * 256);
      return out;
    },
  };
}

/** Byte runs that stress varint and tag decoding: continuation, sign-extended -1, groups. */
export const INTERESTING_PROTOBUF_BYTES: readonly (readonly number[])[] = [[0x80], [0xff, 0xff, 0xff, 0xff, 0x0f], [0x7f], [0x00], [0x23], [0x24]];

/** One to four edits: bit flips, overwrites, inserts, deletes, truncation, repeats, interesting bytes. */
export function mutate(input: Uint8Array, rng: FuzzRandom, interesting: readonly (readonly number[])[] = INTERESTING_PROTOBUF_BYTES): Uint8Array {
  let b = Array.from(input);
  const edits = 1 + rng.int(4);
  for (let e = 0; e < edits; e++) {
    const at = b.length === 0 ? 0 : rng.int(b.length);
    switch (rng.int(7)) {
      case 0:
        if (b.length > 0) b[at] = (b[at] as number) ^ (1 << rng.int(8));
        break;
      case 1:
        if (b.length > 0) b[at] = rng.int(256);
        break;
      case 2:
        b.splice(at, 0, ...rng.bytes(1 + rng.int(3)));
        break;
      case 3:
        b.splice(at, 1 + rng.int(3));
        break;
      case 4:
        b = b.slice(0, at);
        break;
      case 5: {
        const len = 1 + rng.int(8);
        b.splice(at, 0, ...b.slice(at, at + len));
        break;
      }
      default:
        b.splice(at, 0, ...(interesting[rng.int(interesting.length)] as number[]));
    }
  }
  return Uint8Array.from(b);
}
