// The sign path of a node (sign_coordinator.ts) over a real cluster in this process: RaftNode
// drivers with LevelDB stores in temp dirs, gRPC Raft transports with mutual TLS on localhost,
// SignerStateMachine as the replicated machine. Forwarding to the leader is in-process (the
// LeaderForwarder calls the leader's coordinator directly), so the coordinator's own logic is what
// is tested: fast path on applied records, coalescing, conflicts, release on the node's own
// decision, refusals, deadlines and stopped nodes.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '../../src/log/logger';
import { RaftNode } from '../../src/node/raft_node';
import { ProposalRefusedError } from '../../src/raft/errors';
import { NodeId, Role } from '../../src/raft/types';
import { RaftStorage } from '../../src/storage/raft_storage';
import { KeyRing } from '../../src/signer/key_ring';
import { LeaderForwarder, SignCoordinator } from '../../src/node/sign_coordinator';
import type { LeaderAnswer } from '../../src/replica/leader_answer';
import { SignerStateMachine } from '../../src/signer/signer_state_machine';
import { SignOutcome, SignRequest } from '../../src/cometbft/sign_types';
import { ClusterFixture, TestNode, heartbeat, waitUntil } from '../transport/cluster_fixture';
import { proposalRequest, voteRequest } from '../support/sign_requests';
import { CHAIN_A, KEY_A, KEY_B, expectRefused, expectSignedAndValid, signEntry, signatureOf, watermark } from './signer_test_support';
import { InMemoryFounding, lonelyFounding } from '../support/in_memory_founding';

const timing = { heartbeatMs: 20, electionTimeoutMs: 200, snapshotEntries: 100_000, maxAppendEntries: 64, maxInflightAppends: 16 };
const DEADLINE_MS = 4000;
const SHORT_DEADLINE_MS = 300;
const pkA = KEY_A.publicKey;

function keys(): KeyRing {
  return new KeyRing([[CHAIN_A, KEY_A]]);
}

function vote(height: number, type: 'prevote' | 'precommit', block: string, extra: { round?: number; time?: number } = {}): SignRequest {
  return voteRequest(CHAIN_A, pkA, { height, type, block, ...extra });
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a).equals(Buffer.from(b));
}

function sameRequest(a: SignRequest, b: SignRequest): boolean {
  return a.chainId === b.chainId && a.height === b.height && a.round === b.round && a.step === b.step && sameBytes(a.pubKey, b.pubKey) && sameBytes(a.signBytes, b.signBytes);
}

interface Member {
  id: NodeId;
  net: TestNode;
  node: RaftNode;
  storage: RaftStorage;
  machine: SignerStateMachine;
  coordinator: SignCoordinator;
  forwarder: InProcessForwarder;
}

/**
 * Forwards to the leader's coordinator in this process. A node marked down is unreachable, as a
 * stopped process would be over gRPC.
 */
class InProcessForwarder implements LeaderForwarder {
  calls = 0;
  constructor(
    private readonly members: Map<NodeId, Member>,
    private readonly down: Set<NodeId>,
  ) {}

  forward(leader: NodeId, request: SignRequest, timeoutMs: number): Promise<LeaderAnswer> {
    this.calls++;
    const target = this.members.get(leader);
    if (!target || this.down.has(leader)) return Promise.reject(new Error(`leader ${leader} is unreachable`));
    return target.coordinator.decideAsLeader(request, timeoutMs);
  }
}

/** Answers whatever it is told, without asking any leader. */
class FixedForwarder implements LeaderForwarder {
  calls = 0;
  constructor(private readonly answer: LeaderAnswer) {}
  forward(): Promise<LeaderAnswer> {
    this.calls++;
    return Promise.resolve(this.answer);
  }
}

class UnreachableForwarder implements LeaderForwarder {
  calls = 0;
  forward(leader: NodeId): Promise<LeaderAnswer> {
    this.calls++;
    return Promise.reject(new Error(`connect ECONNREFUSED (${leader})`));
  }
}

/** A cluster of `ids.length` signer nodes in this process. */
class SignerCluster {
  readonly members = new Map<NodeId, Member>();
  readonly down = new Set<NodeId>();
  private fx!: ClusterFixture;
  private root!: string;

  private readonly founding: InMemoryFounding;

  constructor(private readonly ids: NodeId[]) {
    this.founding = new InMemoryFounding(ids);
  }

  async start(): Promise<void> {
    this.fx = await ClusterFixture.create();
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), 'sign-coordinator-'));
    // Bind every server first so that each transport knows the others' addresses.
    const nets = await Promise.all(this.ids.map((id) => this.fx.startNode(id)));
    const addresses = new Map(nets.map((n) => [n.id, n.address]));
    for (const n of nets) await this.fx.stopNode(n);
    // Founders start together: each one's first entry names every founder's store.
    await Promise.all(nets.map((n) => this.startMember(n, addresses)));
    for (const m of this.members.values()) m.node.start();
    await waitUntil(() => this.leader() !== undefined, 'a leader is elected');
  }

  private async startMember(first: TestNode, addresses: Map<NodeId, string>): Promise<void> {
    const id = first.id;
    const net = await this.fx.startNode(id, { port: first.port, tls: first.tls });
    const storage = await RaftStorage.open(path.join(this.root, id), { nodeId: id, clusterId: 'sign-test' });
    const machine = await SignerStateMachine.load(storage.load().stateMachine, keys(), net.log.logger);
    let node: RaftNode | undefined;
    const peers = this.ids.filter((o) => o !== id).map((o) => ({ id: o, address: addresses.get(o) ?? '' }));
    const transport = this.fx.attachTransport(net, peers, {
      onMessage: (m) => node?.receive(m),
      onPeerUnreachable: (p) => node?.reportUnreachable(p),
    });
    node = await RaftNode.create({
      id,
      found: () => this.founding.found(id, storage.storeId),
      join: false,
      storage,
      sender: transport,
      machine,
      machineApplied: machine.applied,
      timing,
      logger: net.log.logger,
    });
    const forwarder = new InProcessForwarder(this.members, this.down);
    const coordinator = this.coordinatorFor({ id, node, machine } as Member, forwarder);
    this.members.set(id, { id, net, node, storage, machine, coordinator, forwarder });
  }

  /** A (further) coordinator over a member's node and machine, e.g. with another forwarder or deadline. */
  coordinatorFor(m: Pick<Member, 'node' | 'machine'>, forwarder: LeaderForwarder, deadlineMs = DEADLINE_MS): SignCoordinator {
    return new SignCoordinator({ node: m.node, machine: m.machine, keys: keys(), forwarder, deadlineMs, logger: silentLogger() });
  }

  leader(): Member | undefined {
    return [...this.members.values()].find((m) => !this.down.has(m.id) && m.node.raft.role === Role.Leader);
  }

  /** The leader and the live followers, once there is a leader. */
  roles(): { leader: Member; followers: Member[] } {
    const leader = this.leader();
    if (!leader) throw new Error('no leader');
    return { leader, followers: [...this.members.values()].filter((m) => m !== leader && !this.down.has(m.id)) };
  }

  /** Stops a node's driver and its server, without any goodbye. */
  async crash(id: NodeId): Promise<void> {
    const m = this.members.get(id)!;
    this.down.add(id);
    await m.node.stop();
    await this.fx.stopNode(m.net);
  }

  async stop(): Promise<void> {
    for (const m of this.members.values()) await m.node.stop();
    await this.fx?.closeAll();
    for (const m of this.members.values()) await m.storage.close().catch(() => undefined);
    if (this.root) fs.rmSync(this.root, { recursive: true, force: true });
  }

  async allApplied(index: number): Promise<void> {
    await waitUntil(
      () => [...this.members.values()].every((m) => this.down.has(m.id) || m.node.raft.log.applied >= index),
      `every live node applied ${index}`,
    );
  }
}

/** The indexes after `after` of the entries that carry a sign request equal to `request`, and how many requests each carries. */
function entriesHolding(m: Member, request: SignRequest, after: number): { index: number; requests: number; position: number }[] {
  const out: { index: number; requests: number; position: number }[] = [];
  for (let i = after + 1; i <= m.node.raft.log.applied; i++) {
    const d = m.machine.decisionAt(i);
    if (!d) continue;
    d.signs.forEach((s, position) => {
      if (sameRequest(s.request, request)) out.push({ index: i, requests: d.signs.length, position });
    });
  }
  return out;
}

/** Indexes after `after` (up to what `m` has applied) of entries that carry any signer command. */
function commandEntriesAfter(m: Member, after: number): number[] {
  const out: number[] = [];
  for (let i = after + 1; i <= m.node.raft.log.lastIndex(); i++) {
    const d = m.machine.decisionAt(i);
    const e = m.node.raft.log.entryAt(i);
    if ((d && (d.signs.length > 0 || d.imports.length > 0)) || (e && e.data.length > 0)) out.push(i);
  }
  return out;
}

describe('SignCoordinator over a 3-node cluster', () => {
  const cluster = new SignerCluster(['node0', 'node1', 'node2']);

  beforeAll(async () => {
    await cluster.start();
  }, 60_000);

  afterAll(async () => {
    await cluster.stop();
  });

  test('signed through the leader or through a follower: the same signature, which verifies, recorded on every node', async () => {
    const { leader, followers } = cluster.roles();
    const r1 = vote(10, 'prevote', 'A');
    const viaLeader = expectSignedAndValid(await leader.coordinator.sign(r1), r1);
    const viaFollower = expectSignedAndValid(await followers[0].coordinator.sign(r1), r1);
    expect(sameBytes(viaLeader, viaFollower)).toBe(true);

    const r2 = vote(10, 'precommit', 'A');
    const first = expectSignedAndValid(await followers[1].coordinator.sign(r2), r2);
    const second = expectSignedAndValid(await leader.coordinator.sign(r2), r2);
    expect(sameBytes(first, second)).toBe(true);
    expect(sameBytes(first, KEY_A.sign(r2.signBytes))).toBe(true);

    // The follower released only after applying: its own record already holds the request.
    const rec = followers[1].machine.recordOf(CHAIN_A, pkA);
    expect(rec && sameBytes(rec.record.signBytes, r2.signBytes)).toBe(true);
    expect(rec!.index).toBeLessThanOrEqual(followers[1].node.raft.log.applied);
    await cluster.allApplied(rec!.index);
    for (const m of cluster.members.values()) {
      expect(sameBytes(m.machine.recordOf(CHAIN_A, pkA)!.record.signature, first)).toBe(true);
    }
  });

  test('identical concurrent requests from two followers are coalesced into one entry', async () => {
    const { leader, followers } = cluster.roles();
    const r3 = vote(11, 'prevote', 'A');
    const before = leader.node.raft.log.lastIndex();
    const [o1, o2] = await Promise.all([followers[0].coordinator.sign(r3), followers[1].coordinator.sign(r3)]);
    const s1 = expectSignedAndValid(o1, r3);
    const s2 = expectSignedAndValid(o2, r3);
    expect(sameBytes(s1, s2)).toBe(true);
    const holding = entriesHolding(leader, r3, before);
    expect(holding).toHaveLength(1);
    expect(holding[0].requests).toBe(1);
  });

  test('identical requests arriving at the leader at the same moment share one entry and one position', async () => {
    const { leader } = cluster.roles();
    const r = vote(11, 'precommit', 'A');
    const before = leader.node.raft.log.lastIndex();
    const answers = await Promise.all([0, 1, 2].map(() => leader.coordinator.decideAsLeader(r, DEADLINE_MS)));
    expect(answers[0].kind).toBe('decided');
    expect(answers[1]).toEqual(answers[0]);
    expect(answers[2]).toEqual(answers[0]);
    const a = answers[0] as Extract<LeaderAnswer, { kind: 'decided' }>;
    expect(a.index).toBeGreaterThan(before);
    expect(a.position).toBe(0);
    expect(leader.machine.decisionAt(a.index)?.term).toBe(a.term);
    expect(leader.machine.decisionAt(a.index)?.signs).toHaveLength(1);
    expect(entriesHolding(leader, r, before)).toHaveLength(1);
  });

  test('conflicting concurrent requests: exactly one is signed, the other refused as conflicting data', async () => {
    const { leader, followers } = cluster.roles();
    for (const [h, viaA, viaB] of [
      [12, followers[0], followers[1]],
      [13, leader, followers[0]],
    ] as const) {
      const a = vote(h, 'prevote', 'A');
      const b = vote(h, 'prevote', 'B');
      const [oa, ob] = await Promise.all([viaA.coordinator.sign(a), viaB.coordinator.sign(b)]);
      const signed = [oa, ob].filter((o) => o.kind === 'signed');
      expect(signed).toHaveLength(1);
      const [winner, loserOutcome] = oa.kind === 'signed' ? [a, ob] : [b, oa];
      expectSignedAndValid(signed[0], winner);
      expectRefused(loserOutcome, 'conflicting-data', /block id/);
      // Every node's record holds the winner.
      const idx = leader.machine.recordOf(CHAIN_A, pkA)!.index;
      await cluster.allApplied(idx);
      for (const m of cluster.members.values()) {
        expect(sameBytes(m.machine.recordOf(CHAIN_A, pkA)!.record.signBytes, winner.signBytes)).toBe(true);
      }
    }
  });

  test('a repeat after commit is answered from the applied record, without a new entry', async () => {
    const { leader, followers } = cluster.roles();
    const r = vote(14, 'precommit', 'A', { time: 1_700_000_000 });
    const sig = expectSignedAndValid(await followers[0].coordinator.sign(r), r);
    await cluster.allApplied(leader.machine.recordOf(CHAIN_A, pkA)!.index);

    const beforeIndex = leader.node.raft.log.lastIndex();
    const forwardsBefore = followers.map((f) => f.forwarder.calls);
    for (const m of [followers[0], followers[1], leader]) {
      const again = await m.coordinator.sign(r);
      expect(again.kind).toBe('signed');
      expect(sameBytes(signatureOf(again), sig)).toBe(true);
      const later = await m.coordinator.sign(vote(14, 'precommit', 'A', { time: 1_700_000_077 }));
      expect(later).toEqual({ kind: 'signed-with-stored-timestamp', signature: sig, timestamp: { seconds: 1_700_000_000n, nanos: 0 } });
      expectRefused(await m.coordinator.sign(vote(14, 'precommit', 'nil')), 'conflicting-data');
      expectRefused(await m.coordinator.sign(vote(13, 'precommit', 'A')), 'height-regression');
      expectRefused(await m.coordinator.sign(vote(14, 'prevote', 'A')), 'step-regression');
    }
    // The leader, asked directly (a follower that has not applied it yet would ask), points at its record.
    const recordIndex = leader.machine.recordOf(CHAIN_A, pkA)!.index;
    expect(await leader.coordinator.decideAsLeader(r, DEADLINE_MS)).toEqual({ kind: 'decided', index: recordIndex, term: 0, position: -1 });
    expect(await leader.coordinator.decideAsLeader(vote(14, 'precommit', 'B'), DEADLINE_MS)).toMatchObject({ kind: 'refused', reason: 'conflicting-data' });
    // Nothing was proposed or forwarded: answered on each node from its own applied record.
    expect(commandEntriesAfter(leader, beforeIndex)).toEqual([]);
    expect(followers.map((f) => f.forwarder.calls)).toEqual(forwardsBefore);
  });

  test('an unknown chain or another key is refused without touching the log', async () => {
    const { leader, followers } = cluster.roles();
    const beforeIndex = leader.node.raft.log.lastIndex();
    const forwardsBefore = followers.map((f) => f.forwarder.calls);
    const r = vote(100, 'prevote', 'A');
    for (const m of [leader, ...followers]) {
      expectRefused(await m.coordinator.sign({ ...r, chainId: 'other-chain' }), 'unknown-chain', /other-chain/);
      expectRefused(await m.coordinator.sign({ ...voteRequest(CHAIN_A, KEY_B.publicKey, { height: 100, type: 'prevote', block: 'A' }) }), 'wrong-key');
    }
    expect(await leader.coordinator.decideAsLeader({ ...r, chainId: 'other-chain' }, DEADLINE_MS)).toMatchObject({ kind: 'refused', reason: 'unknown-chain' });
    expect(await leader.coordinator.decideAsLeader({ ...r, pubKey: KEY_B.publicKey }, DEADLINE_MS)).toMatchObject({ kind: 'refused', reason: 'wrong-key' });
    expect(commandEntriesAfter(leader, beforeIndex)).toEqual([]);
    expect(followers.map((f) => f.forwarder.calls)).toEqual(forwardsBefore);
  });

  test('a follower answered "decided" at an entry that holds another request refuses: disagreement', async () => {
    const { leader, followers } = cluster.roles();
    const x = vote(15, 'prevote', 'A');
    const before = leader.node.raft.log.lastIndex();
    expectSignedAndValid(await leader.coordinator.sign(x), x);
    const [held] = entriesHolding(leader, x, before);
    expect(held).toBeDefined();
    const term = leader.machine.decisionAt(held.index)!.term;
    const follower = followers[0];
    await cluster.allApplied(held.index);

    const y = vote(16, 'prevote', 'A');
    const lying = new FixedForwarder({ kind: 'decided', index: held.index, term, position: held.position });
    const fooled = cluster.coordinatorFor(follower, lying);
    expectRefused(await fooled.sign(y), 'disagreement', new RegExp(`entry ${held.index} does not hold the request`));
    expect(lying.calls).toBe(1);

    // "Already committed, see the record written at that index": this node's record says otherwise.
    const lyingRecord = new FixedForwarder({ kind: 'decided', index: held.index, term: 0, position: -1 });
    expectRefused(await cluster.coordinatorFor(follower, lyingRecord).sign(y), 'disagreement', /record does not hold the request/);

    // Nothing was recorded for y anywhere: the honest path then signs it.
    expect(entriesHolding(leader, y, before)).toEqual([]);
    expectSignedAndValid(await follower.coordinator.sign(y), y);
  });

  test('importState on the leader raises the watermark; on a follower it is refused', async () => {
    const { leader, followers } = cluster.roles();
    const result = await leader.coordinator.importState({ chainId: CHAIN_A, pubKey: pkA, record: watermark(1000n, 0, 3) });
    expect(result.kind).toBe('imported');
    expect(result.index).toBeGreaterThan(0);
    expect(leader.machine.decisionAt(result.index)?.imports[0].kind).toBe('imported');

    for (const m of [followers[0], leader]) {
      expectRefused(await m.coordinator.sign(vote(999, 'precommit', 'A')), 'height-regression');
      expectRefused(await m.coordinator.sign(vote(1000, 'prevote', 'A')), 'step-regression');
      // At the watermark itself: no sign bytes recorded, so nothing can be signed there.
      expectRefused(await m.coordinator.sign(vote(1000, 'precommit', 'A')), 'conflicting-data');
    }
    const lower = await leader.coordinator.importState({ chainId: CHAIN_A, pubKey: pkA, record: watermark(500n, 0, 3) });
    expect(lower.kind).toBe('ignored');
    expect(leader.machine.recordOf(CHAIN_A, pkA)?.record.height).toBe(1000n);

    const above = proposalRequest(CHAIN_A, pkA, { height: 1000, round: 1, block: 'A' });
    expectSignedAndValid(await followers[1].coordinator.sign(above), above);

    await expect(followers[0].coordinator.importState({ chainId: CHAIN_A, pubKey: pkA, record: watermark(2000n, 0, 3) })).rejects.toBeInstanceOf(
      ProposalRefusedError,
    );
    expect(leader.machine.recordOf(CHAIN_A, pkA)?.record.height).toBe(1000n);
  });

  test('a follower that cannot reach the leader retries, then refuses at its deadline', async () => {
    const { leader, followers } = cluster.roles();
    const unreachable = new UnreachableForwarder();
    const before = leader.node.raft.log.lastIndex();
    const outcome = await cluster.coordinatorFor(followers[0], unreachable, SHORT_DEADLINE_MS).sign(vote(1001, 'prevote', 'A'));
    expectRefused(outcome, 'deadline');
    expect(unreachable.calls).toBeGreaterThan(1);
    expect(commandEntriesAfter(leader, before)).toEqual([]);
  });

  test('a stopped leader answers node-stopped; the other two go on', async () => {
    const { leader: old } = cluster.roles();
    await cluster.crash(old.id);
    expectRefused(await old.coordinator.sign(vote(1002, 'prevote', 'A')), 'node-stopped');
    await waitUntil(() => cluster.leader() !== undefined, 'a new leader is elected');
    const { leader, followers } = cluster.roles();
    expect(leader.id).not.toBe(old.id);
    const r = vote(1003, 'prevote', 'A');
    expectSignedAndValid(await followers[0].coordinator.sign(r), r);
  });

  test('no quorum (two of three nodes stopped): the request is refused at the deadline, nothing is signed', async () => {
    const { followers } = cluster.roles();
    await cluster.crash(followers[0].id);
    const last = [...cluster.members.values()].find((m) => !cluster.down.has(m.id))!;
    const r = vote(1004, 'prevote', 'A');
    const short = cluster.coordinatorFor(last, new InProcessForwarder(cluster.members, cluster.down), SHORT_DEADLINE_MS);
    const outcome: SignOutcome = await short.sign(r);
    expectRefused(outcome, 'deadline');
    expect(last.machine.recordOf(CHAIN_A, pkA)?.record.height).toBe(1003n);
    // The regular coordinator of that node too (a shorter per-call timeout).
    expectRefused(await last.coordinator.sign(vote(1005, 'prevote', 'A'), SHORT_DEADLINE_MS), 'deadline');
    expect(last.machine.recordOf(CHAIN_A, pkA)?.record.height).toBe(1003n);
  });
});

describe('SignCoordinator on a single-node cluster', () => {
  const cluster = new SignerCluster(['solo']);

  beforeAll(async () => {
    await cluster.start();
  }, 60_000);

  afterAll(async () => {
    await cluster.stop();
  });

  test('a record is released only once the node has applied the index that wrote it', async () => {
    const solo = cluster.members.get('solo')!;
    const applied = solo.node.raft.log.applied;
    const r = vote(50, 'prevote', 'A');
    // A machine whose record for r was written at an index this node has not applied (yet): as
    // between apply() and the durable write of its batch.
    const ahead = new SignerStateMachine(keys(), silentLogger());
    ahead.apply([signEntry(applied + 1000, 1, [r])]);
    const early = new SignCoordinator({ node: solo.node, machine: ahead, keys: keys(), forwarder: solo.forwarder, deadlineMs: SHORT_DEADLINE_MS, logger: silentLogger() });
    expectRefused(await early.sign(r), 'deadline');
    // The same record written at an applied index is released at once.
    const behind = new SignerStateMachine(keys(), silentLogger());
    behind.apply([signEntry(applied, 1, [r])]);
    const ok = new SignCoordinator({ node: solo.node, machine: behind, keys: keys(), forwarder: solo.forwarder, deadlineMs: SHORT_DEADLINE_MS, logger: silentLogger() });
    expectSignedAndValid(await ok.sign(r), r);
  });

  test('signs as its own leader, answers repeats from the record, and refuses once stopped', async () => {
    const solo = cluster.members.get('solo')!;
    const r = vote(1, 'prevote', 'A');
    const sig = expectSignedAndValid(await solo.coordinator.sign(r), r);
    const before = solo.node.raft.log.lastIndex();
    expect(sameBytes(signatureOf(await solo.coordinator.sign(r)), sig)).toBe(true);
    expect(solo.node.raft.log.lastIndex()).toBe(before);
    expect(solo.forwarder.calls).toBe(0);

    await solo.node.stop();
    expectRefused(await solo.coordinator.sign(vote(2, 'prevote', 'A')), 'node-stopped');
    await expect(solo.coordinator.importState({ chainId: CHAIN_A, pubKey: pkA, record: watermark(5n, 0, 3) })).rejects.toThrow(/stopping/);
    expect(solo.machine.recordOf(CHAIN_A, pkA)?.record.height).toBe(1n);
  });
});

/** A RaftNode over a real store in a temp dir and no network (its messages are dropped). */
async function lonelyNode(root: string, id: string, founders: NodeId[]): Promise<{ node: RaftNode; machine: SignerStateMachine; storage: RaftStorage }> {
  const storage = await RaftStorage.open(path.join(root, id), { nodeId: id, clusterId: 'lonely' });
  const machine = await SignerStateMachine.load(storage.load().stateMachine, keys(), silentLogger());
  const node = await RaftNode.create({
    id,
    found: lonelyFounding(id, storage.storeId, founders),
    join: false,
    storage,
    sender: { send: () => undefined },
    machine,
    machineApplied: machine.applied,
    timing,
    logger: silentLogger(),
  });
  return { node, machine, storage };
}

describe('SignCoordinator: requests the log cannot carry, and stopped nodes', () => {
  let root: string;
  const cleanups: Array<() => Promise<void>> = [];

  function coordinatorOver(node: RaftNode, machine: SignerStateMachine, forwarder: LeaderForwarder, deadlineMs = DEADLINE_MS): SignCoordinator {
    return new SignCoordinator({ node, machine, keys: keys(), forwarder, deadlineMs, logger: silentLogger() });
  }

  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'sign-coordinator-lonely-'));
  });

  afterAll(async () => {
    for (const c of cleanups) await c();
    fs.rmSync(root, { recursive: true, force: true });
  });

  test('a request no node could apply (negative round or height) is refused up front; the node keeps running', async () => {
    const { node, machine, storage } = await lonelyNode(root, 'solo', ['solo']);
    cleanups.push(async () => {
      await node.stop();
      await storage.close();
    });
    node.start();
    await waitUntil(() => node.status().leader === 'solo', 'the single node leads');
    const c = coordinatorOver(node, machine, new UnreachableForwarder());
    const before = node.raft.log.lastIndex();
    // Consistent sign bytes, so FilePV alone would say "sign"; the log's codec refuses these.
    const negativeRound = voteRequest(CHAIN_A, pkA, { height: 5, round: -1, type: 'prevote', block: 'A' });
    expectRefused(await c.sign(negativeRound), 'invalid-request', /round/);
    expect(await c.decideAsLeader(negativeRound, DEADLINE_MS)).toMatchObject({ kind: 'refused', reason: 'invalid-request' });
    const negativeHeight = voteRequest(CHAIN_A, pkA, { height: -3, type: 'prevote', block: 'A' });
    expectRefused(await c.sign(negativeHeight), 'invalid-request', /height/);
    expect(node.failure()).toBeNull();
    expect(node.raft.log.lastIndex()).toBe(before);
    const good = voteRequest(CHAIN_A, pkA, { height: 6, type: 'prevote', block: 'A' });
    expectSignedAndValid(await c.sign(good), good);
    expect(node.failure()).toBeNull();
  });

  test('a stopped node that knows no leader answers node-stopped', async () => {
    const { node, machine, storage } = await lonelyNode(root, 'n0', ['n0', 'n1', 'n2']);
    cleanups.push(() => storage.close());
    await node.stop();
    expect(node.status().leader).toBeNull();
    const forwarder = new FixedForwarder({ kind: 'not-leader', leaderHint: null });
    const outcome = await coordinatorOver(node, machine, forwarder, SHORT_DEADLINE_MS * 10).sign(vote(1, 'prevote', 'A'));
    expectRefused(outcome, 'node-stopped');
    expect(forwarder.calls).toBe(0);
  });

  test('a stopped follower answers node-stopped without forwarding to the leader', async () => {
    const { node, machine, storage } = await lonelyNode(root, 'f0', ['f0', 'f1', 'f2']);
    cleanups.push(async () => {
      await node.stop();
      await storage.close();
    });
    node.receive(heartbeat('f1', 'f0', 0));
    await waitUntil(() => node.status().leader === 'f1', 'f0 follows f1');
    const running = new FixedForwarder({ kind: 'refused', reason: 'conflicting-data', message: 'from the leader' });
    // While running, the follower does ask the leader.
    expectRefused(await coordinatorOver(node, machine, running).sign(vote(1, 'prevote', 'A')), 'conflicting-data', /from the leader/);
    expect(running.calls).toBe(1);
    await node.stop();
    const forwarder = new FixedForwarder({ kind: 'decided', index: 2, term: 3, position: 0 });
    expectRefused(await coordinatorOver(node, machine, forwarder).sign(vote(1, 'prevote', 'A')), 'node-stopped');
    expect(forwarder.calls).toBe(0);
  });
});
