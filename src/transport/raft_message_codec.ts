// Converts Raft core messages (src/raft/types.ts) to and from the RaftMessage of proto/raft.proto.
// Both directions validate: the encoder catches a core bug before it reaches the wire, the decoder
// makes sure nothing a peer sends can put a lossy number, an unknown enum or a missing snapshot
// into the core. Numbers travel as uint64 and must stay within 2^53 - 1 to be exact in JS.

import type * as grpc from '@grpc/grpc-js';
import {
  EntryType,
  MessageType,
  type ConfState,
  incarnationOf as incarnationOfConf,
  type Entry,
  type Message,
  type NodeId,
  type Snapshot,
} from '../raft/types';
import { raftServiceDefinition } from './proto_loader';
import { RaftSignerError } from '../util/errors';

export class RaftMessageCodecError extends RaftSignerError<{ code: 'RAFT_MESSAGE_CODEC' }> {
  constructor(message: string) {
    super({ code: 'RAFT_MESSAGE_CODEC' }, message);
    this.name = 'RaftMessageCodecError';
  }
}

/** The longest node id accepted on the wire (a DNS name; see certs/certificate_identity.ts). */
export const MAX_NODE_ID_LENGTH = 253;

/** uint64 fields as proto-loader hands them over (longs: String) or accepts them (number). */
type WireUint64 = string | number;

/** RaftMessage as proto-loader represents it; see PROTO_LOADER_OPTIONS. */
export interface RaftMessageWire {
  type: number;
  from: string;
  to: string;
  term: WireUint64;
  logTerm: WireUint64;
  index: WireUint64;
  entries: EntryWire[];
  commit: WireUint64;
  reject: boolean;
  rejectHint: WireUint64;
  snapshot: SnapshotWire | null;
  transfer: boolean;
  incarnation: string;
}

export interface EntryWire {
  term: WireUint64;
  index: WireUint64;
  type: number;
  data: Uint8Array;
}

export interface SnapshotWire {
  metadata: { index: WireUint64; term: WireUint64; confState: ConfStateWire | null } | null;
  data: Uint8Array;
}

export interface ConfStateWire {
  voters: string[];
  learners: string[];
  /** Voters' then learners' incarnations, in order; empty when none is recorded. */
  incarnations: string[];
}

let cachedMethod: grpc.MethodDefinition<unknown, unknown> | undefined;
function streamMethod(): grpc.MethodDefinition<unknown, unknown> {
  cachedMethod ??= raftServiceDefinition().Stream as grpc.MethodDefinition<unknown, unknown>;
  return cachedMethod;
}

/** Validates `message` and encodes it as RaftMessage bytes. Throws RaftMessageCodecError. */
export function encodeRaftMessage(message: Message): Buffer {
  const wire = toWire(message);
  let bytes: Buffer;
  try {
    bytes = streamMethod().requestSerialize(wire);
  } catch (err) {
    throw new RaftMessageCodecError(`cannot encode ${describeMessage(message)}: ${(err as Error).message}`);
  }
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
}

/** Decodes RaftMessage bytes (as a stream carries them). Throws RaftMessageCodecError. */
export function decodeRaftMessageBytes(bytes: Buffer): Message {
  let wire: unknown;
  try {
    wire = streamMethod().requestDeserialize(bytes);
  } catch (err) {
    throw new RaftMessageCodecError(`malformed RaftMessage: ${(err as Error).message}`);
  }
  return decodeRaftMessage(wire);
}

/** Validates a RaftMessage as proto-loader decoded it and converts it to a core Message. */
export function decodeRaftMessage(input: unknown): Message {
  if (typeof input !== 'object' || input === null) throw new RaftMessageCodecError('RaftMessage is not an object');
  const wire = input as RaftMessageWire;
  const type = messageTypeOf(wire.type);
  const message: Message = {
    type,
    from: nodeIdOf(wire.from, 'from'),
    to: nodeIdOf(wire.to, 'to'),
    term: uint(wire.term, 'term'),
    logTerm: uint(wire.logTerm, 'logTerm'),
    index: uint(wire.index, 'index'),
    entries: arrayOf(wire.entries, 'entries').map((entry, i) => entryOf(entry, `entries[${i}]`)),
    commit: uint(wire.commit, 'commit'),
    reject: booleanOf(wire.reject, 'reject'),
    rejectHint: uint(wire.rejectHint, 'rejectHint'),
  };
  if (wire.snapshot !== null && wire.snapshot !== undefined) {
    message.snapshot = snapshotOf(wire.snapshot);
  } else if (type === MessageType.InstallSnapshot) {
    throw new RaftMessageCodecError('InstallSnapshot without a snapshot');
  }
  if (booleanOf(wire.transfer, 'transfer')) message.transfer = true;
  const incarnation = incarnationOf(wire.incarnation, 'incarnation');
  if (incarnation !== '') message.incarnation = incarnation;
  return message;
}

/** A short description for log lines: never the payload. */
export function describeMessage(message: Pick<Message, 'type' | 'from' | 'to' | 'term'>): string {
  return `${MessageType[message.type] ?? `type ${String(message.type)}`} ${message.from}->${message.to} term ${message.term}`;
}

function toWire(message: Message): RaftMessageWire {
  // The decoder's checks double as the encoder's: run them on the object we are about to send.
  messageTypeOf(message.type);
  nodeIdOf(message.from, 'from');
  nodeIdOf(message.to, 'to');
  if (message.type === MessageType.InstallSnapshot && !message.snapshot) {
    throw new RaftMessageCodecError(`cannot encode ${describeMessage(message)}: InstallSnapshot without a snapshot`);
  }
  const wire: RaftMessageWire = {
    type: message.type,
    from: message.from,
    to: message.to,
    term: uint(message.term, 'term'),
    logTerm: uint(message.logTerm, 'logTerm'),
    index: uint(message.index, 'index'),
    entries: arrayOf(message.entries, 'entries').map((entry, i) => {
      entryTypeOf(entry.type, `entries[${i}].type`);
      return {
        term: uint(entry.term, `entries[${i}].term`),
        index: uint(entry.index, `entries[${i}].index`),
        type: entry.type,
        data: bytesOf(entry.data, `entries[${i}].data`),
      };
    }),
    commit: uint(message.commit, 'commit'),
    reject: booleanOf(message.reject, 'reject'),
    rejectHint: uint(message.rejectHint, 'rejectHint'),
    snapshot: null,
    transfer: message.transfer === true,
    incarnation: incarnationOf(message.incarnation ?? '', 'incarnation'),
  };
  if (message.snapshot) {
    const snapshot = snapshotOf(message.snapshot);
    wire.snapshot = {
      metadata: {
        index: snapshot.metadata.index,
        term: snapshot.metadata.term,
        confState: confStateToWire(snapshot.metadata.confState),
      },
      data: snapshot.data,
    };
  }
  return wire;
}

function snapshotOf(input: SnapshotWire | Snapshot): Snapshot {
  if (typeof input !== 'object' || input === null) throw new RaftMessageCodecError('snapshot is not an object');
  const metadata = input.metadata;
  if (!metadata) throw new RaftMessageCodecError('snapshot without metadata');
  const confState = metadata.confState;
  if (!confState) throw new RaftMessageCodecError('snapshot metadata without confState');
  return {
    metadata: {
      index: uint(metadata.index, 'snapshot.metadata.index'),
      term: uint(metadata.term, 'snapshot.metadata.term'),
      confState: confStateOf(confState),
    },
    data: bytesOf(input.data, 'snapshot.data'),
  };
}

function confStateToWire(cs: ConfState): ConfStateWire {
  const members = [...cs.voters, ...cs.learners];
  const incarnations = members.map((id) => incarnationOfConf(cs, id));
  return { voters: cs.voters, learners: cs.learners, incarnations: incarnations.every((i) => i === '') ? [] : incarnations };
}

function confStateOf(input: ConfStateWire | ConfState): ConfState {
  const voters = arrayOf(input.voters, 'voters').map((id, i) => nodeIdOf(id, `voters[${i}]`));
  const learners = arrayOf(input.learners, 'learners').map((id, i) => nodeIdOf(id, `learners[${i}]`));
  const raw = (input as { incarnations?: unknown }).incarnations;
  if (raw === undefined || (Array.isArray(raw) && raw.length === 0)) return { voters, learners };
  if (!Array.isArray(raw)) {
    // A core ConfState handed to the encoder's checks: its map form.
    const cs = input as ConfState;
    return { voters, learners, incarnations: Object.fromEntries([...voters, ...learners].map((id) => [id, incarnationOf(incarnationOfConf(cs, id), 'incarnation')])) };
  }
  const members = [...voters, ...learners];
  if (raw.length !== members.length) {
    throw new RaftMessageCodecError(`confState names ${members.length} members but ${raw.length} incarnations`);
  }
  return { voters, learners, incarnations: Object.fromEntries(members.map((id, i) => [id, incarnationOf(raw[i], `incarnations[${i}]`)])) };
}

function incarnationOf(v: unknown, field: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string' || v.length > 64) throw new RaftMessageCodecError(`${field} is not an incarnation (a string of at most 64 characters)`);
  return v;
}

function entryOf(input: EntryWire, field: string): Entry {
  if (typeof input !== 'object' || input === null) throw new RaftMessageCodecError(`${field} is not an object`);
  return {
    term: uint(input.term, `${field}.term`),
    index: uint(input.index, `${field}.index`),
    type: entryTypeOf(input.type, `${field}.type`),
    data: bytesOf(input.data, `${field}.data`),
  };
}

function messageTypeOf(value: unknown): MessageType {
  if (typeof value === 'number' && Number.isInteger(value) && value >= MessageType.PreVote && value <= MessageType.TimeoutNow) {
    return value as MessageType;
  }
  throw new RaftMessageCodecError(`unknown message type ${String(value)}`);
}

function entryTypeOf(value: unknown, field: string): EntryType {
  if (value === EntryType.Normal || value === EntryType.ConfChange) return value;
  throw new RaftMessageCodecError(`${field}: unknown entry type ${String(value)}`);
}

function nodeIdOf(value: unknown, field: string): NodeId {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_NODE_ID_LENGTH) {
    throw new RaftMessageCodecError(`${field}: node id must be a non-empty string of at most ${MAX_NODE_ID_LENGTH} characters`);
  }
  return value;
}

function uint(value: unknown, field: string): number {
  let n: number;
  if (typeof value === 'number') {
    n = value;
  } else if (typeof value === 'string' && /^(0|[1-9][0-9]{0,19})$/.test(value)) {
    n = Number(value);
  } else {
    throw new RaftMessageCodecError(`${field}: ${JSON.stringify(value)} is not an unsigned integer`);
  }
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RaftMessageCodecError(`${field}: ${String(value)} is outside 0..2^53-1`);
  }
  return n;
}

function booleanOf(value: unknown, field: string): boolean {
  if (typeof value !== 'boolean') throw new RaftMessageCodecError(`${field} is not a boolean`);
  return value;
}

function arrayOf<T>(value: T[] | undefined | null, field: string): T[] {
  if (!Array.isArray(value)) throw new RaftMessageCodecError(`${field} is not a list`);
  return value;
}

/** A plain Uint8Array view (no copy) so that the core never sees Buffer-specific behaviour. */
function bytesOf(value: unknown, field: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new RaftMessageCodecError(`${field} is not bytes`);
  return Buffer.isBuffer(value) ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength) : value;
}
