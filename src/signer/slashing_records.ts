// The slashing records' layout in the store's state-machine keyspace, in one place: the node
// process reads it from LevelDB (SignerStateMachine.load) and the simulator from its in-memory
// disk, through the same decoder, so a restarted simulated node finds exactly what a real one does.
//
//   0x00                                   -> the applied index (uvarint)
//   0x01 | uvarint(len) | chain id | key   -> one StoredRecord per (chain, key)

import { encodeUvarint, ProtoReader } from '../cometbft/protobuf';
import type { StateMachineOp } from '../raft/state_machine';
import { decodeStoredRecord, encodeStoredRecord, StoredRecord } from './signer_codec';

export const APPLIED_KEY = Uint8Array.of(0x00);
export const RECORD_PREFIX = Uint8Array.of(0x01);

export function recordStoreKey(chainId: string, pubKey: Uint8Array): Uint8Array {
  const id = Buffer.from(chainId, 'utf8');
  return Buffer.concat([RECORD_PREFIX, encodeUvarint(id.length), id, pubKey]);
}

export function putRecord(r: StoredRecord): StateMachineOp {
  return { type: 'put', key: recordStoreKey(r.chainId, r.pubKey), value: encodeStoredRecord(r) };
}

export function putApplied(index: number): StateMachineOp {
  return { type: 'put', key: APPLIED_KEY, value: encodeUvarint(index) };
}

/** What a store's keyspace holds: its applied index and its records. */
export interface LoadedRecords {
  applied: number;
  records: StoredRecord[];
}

function startsWith(key: Uint8Array, prefix: Uint8Array): boolean {
  return key.length >= prefix.length && prefix.every((b, i) => key[i] === b);
}

/** Reads the layout from key/value pairs (any order); keys outside it are ignored. */
export function decodeRecords(pairs: Iterable<[Uint8Array, Uint8Array]>): LoadedRecords {
  let applied = 0;
  const records: StoredRecord[] = [];
  for (const [key, value] of pairs) {
    if (key.length === 1 && key[0] === APPLIED_KEY[0]) applied = Number(new ProtoReader(value, 'applied index').uint64());
    else if (startsWith(key, RECORD_PREFIX)) records.push(decodeStoredRecord(value));
  }
  return { applied, records };
}
