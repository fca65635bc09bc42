// Shared pieces of the signer tests: fixed validator keys, log entries carrying encoded signer
// commands, an in-memory state-machine store that replays the ops apply/restore return, and
// small assertions on sign outcomes.

import { ValidatorKey, verifyEd25519 } from '../../src/keys/validator_key';
import { Entry, EntryType } from '../../src/raft/types';
import { StateMachineOp, StateMachineReader, StateMachineRecord } from '../../src/storage/raft_storage';
import { KeyRing } from '../../src/signer/key_ring';
import { encodeSignerCommand, ImportStateCommand } from '../../src/signer/signer_codec';
import { SlashingRecord } from '../../src/cometbft/filepv_rules';
import { SignOutcome, SignRefusalReason, SignRequest } from '../../src/cometbft/sign_types';

export const CHAIN_A = 'chain-a';
export const CHAIN_B = 'chain-b';

/** Fixed keys, so that every run (and every machine in a run) signs with the same keys. */
export const KEY_A = ValidatorKey.fromSeed(new Uint8Array(32).fill(1));
export const KEY_B = ValidatorKey.fromSeed(new Uint8Array(32).fill(2));

/** chain-a signed with KEY_A, chain-b with KEY_B. */
export function bothChains(): KeyRing {
  return new KeyRing([
    [CHAIN_A, KEY_A],
    [CHAIN_B, KEY_B],
  ]);
}

export function signEntry(index: number, term: number, requests: SignRequest[]): Entry {
  return { index, term, type: EntryType.Normal, data: encodeSignerCommand({ kind: 'sign', requests }) };
}

export function importEntry(index: number, term: number, imports: ImportStateCommand[]): Entry {
  return { index, term, type: EntryType.Normal, data: encodeSignerCommand({ kind: 'import-state', imports }) };
}

export function noopEntry(index: number, term: number): Entry {
  return { index, term, type: EntryType.Normal, data: new Uint8Array(0) };
}

/** A watermark record as an imported priv_validator_state.json gives it (no sign bytes). */
export function watermark(height: bigint, round: number, step: 0 | 1 | 2 | 3): SlashingRecord {
  return { height, round, step, signBytes: new Uint8Array(0), signature: new Uint8Array(0) };
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/**
 * The state-machine keyspace of a store, in memory: ops applied in order (with the store's
 * "clear everything first" for a snapshot install), read back in key order like LevelDB.
 */
export class MemoryMachineStore implements StateMachineReader {
  private readonly values = new Map<string, Uint8Array>();

  write(ops: StateMachineOp[], options: { clear?: boolean } = {}): void {
    if (options.clear) this.values.clear();
    for (const op of ops) {
      if (op.type === 'put') this.values.set(hex(op.key), op.value.slice());
      else this.values.delete(hex(op.key));
    }
  }

  get(key: Uint8Array): Promise<Uint8Array | undefined> {
    return Promise.resolve(this.values.get(hex(key)));
  }

  async *iterate(prefix: Uint8Array = new Uint8Array(0)): AsyncGenerator<StateMachineRecord> {
    const p = hex(prefix);
    const keys = [...this.values.keys()].filter((k) => k.startsWith(p)).sort();
    for (const k of keys) {
      await Promise.resolve();
      yield { key: Uint8Array.from(Buffer.from(k, 'hex')), value: this.values.get(k) as Uint8Array };
    }
  }
}

export function signatureOf(o: SignOutcome | undefined): Uint8Array {
  if (!o) throw new Error('expected an outcome, got none');
  if (o.kind === 'refused') throw new Error(`expected a signature, got a refusal (${o.reason}): ${o.message}`);
  return o.signature;
}

/** A 'signed' outcome whose signature verifies for the request's key and bytes. */
export function expectSignedAndValid(o: SignOutcome | undefined, request: SignRequest): Uint8Array {
  expect(o?.kind).toBe('signed');
  const sig = signatureOf(o);
  expect(sig.length).toBe(64);
  expect(verifyEd25519(request.pubKey, request.signBytes, sig)).toBe(true);
  return sig;
}

export function expectRefused(o: SignOutcome | null | undefined, reason: SignRefusalReason, message?: RegExp): void {
  expect(o).toBeDefined();
  expect(o?.kind).toBe('refused');
  if (o?.kind !== 'refused') return;
  expect(o.reason).toBe(reason);
  if (message) expect(o.message).toMatch(message);
}

/** Records compared as plain data (bigints as strings, bytes as hex, Buffer or Uint8Array alike). */
export function plain(value: unknown): unknown {
  if (value === undefined) return undefined;
  return JSON.parse(
    JSON.stringify(value, function (this: Record<string, unknown>, key: string, v: unknown) {
      const original = this[key];
      if (typeof original === 'bigint') return `${original}n`;
      if (original instanceof Uint8Array) return `0x${hex(original)}`;
      return v;
    }),
  );
}
