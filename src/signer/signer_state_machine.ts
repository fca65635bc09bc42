// The replicated state machine of the signer: one slashing-protection record per (chain id,
// public key), changed only by applying committed log entries, in log order, with CometBFT's
// FilePV rules (filepv_rules.ts). Every node applies the same entries to the same records and so
// reaches the same decision for every request: that is what lets a later leader refuse anything
// that conflicts with what an earlier leader released (docs/design.md, "the one rule").
//
// The driver (replica/driver.ts) writes the ops returned by apply/restore in the same fsynced
// batch as the log, and only then resolves waitApplied: so a decision read after waitApplied(i)
// is durable on this node. In-memory records may run ahead of the disk between apply and that
// write; a caller releasing a signature on a record must first wait until the record's index is
// applied (see recordOf and replica/release_rule.ts).

import { Entry, EntryType } from '../raft/types';
import { StateMachine, StateMachineOp } from '../raft/state_machine';
import { StateMachineReader } from '../storage/raft_storage';
import { Logger } from '../log/logger';
import { decideFilePv, FilePvDecision, SlashingRecord } from '../cometbft/filepv_rules';
import { KeyRing } from './key_ring';
import {
  decodeSignerCommand,
  decodeSignerSnapshot,
  encodeSignerSnapshot,
  ImportStateCommand,
  importProblem,
  StoredRecord,
} from './signer_codec';
import { SignOutcome, SignRequest } from '../cometbft/sign_types';
import { APPLIED_KEY, decodeRecords, LoadedRecords, putApplied, putRecord, RECORD_PREFIX } from './slashing_records';

/**
 * What applying one imported state did: raised the watermark, left it (not above the record), or
 * refused it (it fails importProblem: only an entry an older or crafted leader wrote gets here).
 */
export type ImportOutcome = { kind: 'imported'; message: string } | { kind: 'ignored'; message: string } | { kind: 'refused'; message: string };

/** The decisions made when one log entry was applied, in the order of its requests. */
export interface EntryDecision {
  term: number;
  /** A sign entry's requests, each with its outcome, in entry order (empty for other entries). */
  signs: { request: SignRequest; outcome: SignOutcome }[];
  /** An import entry's outcomes, in entry order (empty for other entries). */
  imports: ImportOutcome[];
}

/**
 * How many recent entries' decisions are kept for releasing nodes to read. A release reads the
 * decision right after its index is applied (within milliseconds), and gives up at the signing
 * deadline (3 s by default): under the heaviest load measured (docs/benchmarks.md) a node applies
 * a few hundred entries a second, so 1024 entries outlast a deadline. Every decision holds its
 * requests (sign bytes and all), so keeping many more only costs memory: with 65536 a node's
 * resident set grew past 200 MB under load. A release that finds its decision gone
 * answers from this node's record instead (release_rule.ts), which refuses rather than
 * guesses when the record has moved on.
 */
const DECISIONS_KEPT = 1024;

function recordMapKey(chainId: string, pubKey: Uint8Array): string {
  // The hex key is fixed-width, so "key:chain" cannot be ambiguous whatever the chain id holds.
  return `${Buffer.from(pubKey).toString('hex')}:${chainId}`;
}

function compareRecords(a: StoredRecord, b: StoredRecord): number {
  const ka = recordMapKey(a.chainId, a.pubKey);
  const kb = recordMapKey(b.chainId, b.pubKey);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** Whether an imported record lies strictly above the current one in (height, round, step). */
function isAbove(a: SlashingRecord, b: SlashingRecord): boolean {
  if (a.height !== b.height) return a.height > b.height;
  if (a.round !== b.round) return a.round > b.round;
  return a.step > b.step;
}

function hrsText(r: SlashingRecord): string {
  return `${r.height}/${r.round}/${r.step}`;
}

export class SignerStateMachine implements StateMachine {
  private readonly records = new Map<string, StoredRecord>();
  private readonly decisions = new Map<number, EntryDecision>();
  private appliedIndex = 0;

  constructor(
    private readonly keys: KeyRing,
    private readonly logger: Logger,
  ) {}

  /** Loads the records and applied index the store holds (written by earlier apply/restore calls). */
  static async load(reader: StateMachineReader, keys: KeyRing, logger: Logger): Promise<SignerStateMachine> {
    const pairs: [Uint8Array, Uint8Array][] = [];
    const applied = await reader.get(APPLIED_KEY);
    if (applied) pairs.push([APPLIED_KEY, applied]);
    for await (const { key, value } of reader.iterate(RECORD_PREFIX)) pairs.push([key, value]);
    return SignerStateMachine.fromRecords(decodeRecords(pairs), keys, logger);
  }

  /** The machine as the records a store holds make it (slashing_records.ts), with no decisions kept. */
  static fromRecords(loaded: LoadedRecords, keys: KeyRing, logger: Logger): SignerStateMachine {
    const machine = new SignerStateMachine(keys, logger);
    machine.appliedIndex = loaded.applied;
    for (const rec of loaded.records) machine.records.set(recordMapKey(rec.chainId, rec.pubKey), rec);
    return machine;
  }

  /** The last log index whose effects the records include. */
  get applied(): number {
    return this.appliedIndex;
  }

  apply(entries: Entry[]): StateMachineOp[] {
    const dirty = new Map<string, StoredRecord>();
    for (const entry of entries) {
      if (entry.type !== EntryType.Normal || entry.data.length === 0) {
        this.appliedIndex = entry.index;
        continue;
      }
      // A command this version cannot decode throws: the driver then stops this node, because
      // applying the log differently from its peers could sign what they refuse.
      const command = decodeSignerCommand(entry.data);
      this.decisions.set(entry.index, {
        term: entry.term,
        signs: command.kind === 'sign' ? command.requests.map((request) => ({ request, outcome: this.applySign(request, entry.index, dirty) })) : [],
        imports: command.kind === 'import-state' ? command.imports.map((i) => this.applyImport(i, entry.index, dirty)) : [],
      });
      this.appliedIndex = entry.index;
    }
    this.trimDecisions();
    const ops: StateMachineOp[] = [...dirty.values()].map(putRecord);
    ops.push(putApplied(this.appliedIndex));
    return ops;
  }

  restore(data: Uint8Array, index: number): StateMachineOp[] {
    const records = decodeSignerSnapshot(data);
    this.records.clear();
    this.decisions.clear();
    this.appliedIndex = index;
    const ops: StateMachineOp[] = [];
    for (const r of records) {
      // Durable (and so releasable) once this restore's batch is written, i.e. at `index`.
      const rec: StoredRecord = { ...r, index };
      this.records.set(recordMapKey(r.chainId, r.pubKey), rec);
      ops.push(putRecord(rec));
    }
    ops.push(putApplied(index));
    return ops;
  }

  snapshot(): Uint8Array {
    return encodeSignerSnapshot([...this.records.values()].sort(compareRecords));
  }

  /**
   * The record for (chain, key) as applied in memory, exactly as the log made it: its signature is
   * the one a committed entry produced (or imported), never one made now; nothing is signed when a
   * record is read. It may be ahead of the disk: release only after waiting for `index` to be
   * applied.
   */
  recordOf(chainId: string, pubKey: Uint8Array): StoredRecord | null {
    const rec = this.records.get(recordMapKey(chainId, pubKey));
    return rec ? { ...rec, record: { ...rec.record } } : null;
  }

  allRecords(): StoredRecord[] {
    return [...this.records.values()].sort(compareRecords);
  }

  /** The decisions made when entry `index` was applied, if it is recent enough to be kept. */
  decisionAt(index: number): EntryDecision | undefined {
    return this.decisions.get(index);
  }

  /** The FilePV outcome of a request against the current record, without changing anything. */
  evaluate(request: SignRequest): { outcome: SignOutcome | null; recordIndex: number } {
    const rec = this.records.get(recordMapKey(request.chainId, request.pubKey)) ?? null;
    const decision = decideFilePv(rec ? rec.record : null, request);
    return { outcome: decision.kind === 'sign' ? null : this.outcomeOf(decision), recordIndex: rec?.index ?? 0 };
  }

  private applySign(request: SignRequest, index: number, dirty: Map<string, StoredRecord>): SignOutcome {
    const mapKey = recordMapKey(request.chainId, request.pubKey);
    const rec = this.records.get(mapKey) ?? null;
    const decision = decideFilePv(rec ? rec.record : null, request);
    if (decision.kind !== 'sign') return this.outcomeOf(decision);
    const key = this.keys.keyMatching(request.chainId, request.pubKey);
    // Ed25519 is deterministic, so every node holding the key stores the same signature. A node
    // without the key (misconfigured) keeps the same record with no signature: it can release
    // nothing for that record, and a repeat at that HRS is refused there even once the key is
    // configured (FilePV's "signature is nil but sign bytes are not"), since nothing is signed
    // outside applying an entry. That costs at most the one vote; the other nodes answer it.
    const signature = key ? key.sign(request.signBytes) : new Uint8Array(0);
    if (!key) {
      this.logger.error('applied a signature for a chain whose key this node does not have; it cannot sign for that chain', {
        chainId: request.chainId,
      });
    }
    const next: StoredRecord = {
      chainId: request.chainId,
      pubKey: request.pubKey,
      record: { height: request.height, round: request.round, step: request.step, signBytes: request.signBytes, signature },
      index,
    };
    this.records.set(mapKey, next);
    dirty.set(mapKey, next);
    return { kind: 'signed', signature };
  }

  private applyImport(imp: ImportStateCommand, index: number, dirty: Map<string, StoredRecord>): ImportOutcome {
    // The same check the leader made before proposing, made again here on every node alike: an
    // entry written by an older leader (or crafted) takes effect only if it passes.
    const problem = importProblem(imp);
    if (problem) {
      this.logger.warn('refused an imported state from the log; the record is unchanged', { chainId: imp.chainId, index, problem });
      return { kind: 'refused', message: `imported state refused: ${problem}` };
    }
    const mapKey = recordMapKey(imp.chainId, imp.pubKey);
    const rec = this.records.get(mapKey);
    if (rec && !isAbove(imp.record, rec.record)) {
      return {
        kind: 'ignored',
        message: `imported state ${hrsText(imp.record)} is not above the current record ${hrsText(rec.record)}: the watermark only rises`,
      };
    }
    const next: StoredRecord = { chainId: imp.chainId, pubKey: imp.pubKey, record: imp.record, index };
    this.records.set(mapKey, next);
    dirty.set(mapKey, next);
    return { kind: 'imported', message: `watermark raised to ${hrsText(imp.record)}` };
  }

  private outcomeOf(decision: Exclude<FilePvDecision, { kind: 'sign' }>): SignOutcome {
    switch (decision.kind) {
      case 'same':
        return { kind: 'signed', signature: decision.signature };
      case 'same-but-timestamp':
        return { kind: 'signed-with-stored-timestamp', signature: decision.signature, timestamp: decision.timestamp };
      case 'refuse':
        return { kind: 'refused', reason: decision.reason, message: decision.message };
    }
  }

  private trimDecisions(): void {
    const excess = this.decisions.size - DECISIONS_KEPT;
    if (excess <= 0) return;
    let n = 0;
    for (const index of this.decisions.keys()) {
      if (n++ >= excess) break;
      this.decisions.delete(index);
    }
  }
}
