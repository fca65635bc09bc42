// Regression tests for two bugs found in the sign path while writing its tests; each failed before
// its fix: an import the log cannot carry halted every node that applied it, and records
// installed from a snapshot were released before the batch that wrote them was durable.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '../../src/log/logger';
import { RaftNode } from '../../src/node/raft_node';
import { Message, MessageType } from '../../src/raft/types';
import { RaftStorage } from '../../src/storage/raft_storage';
import { KeyRing } from '../../src/signer/key_ring';
import { LeaderForwarder, SignCoordinator } from '../../src/node/sign_coordinator';
import type { LeaderAnswer } from '../../src/replica/leader_answer';
import { SignerStateMachine } from '../../src/signer/signer_state_machine';
import { encodeSignerSnapshot, ImportStateCommand } from '../../src/signer/signer_codec';
import { waitUntil } from '../transport/cluster_fixture';
import { voteRequest } from '../support/sign_requests';
import { CHAIN_A, KEY_A, expectRefused, expectSignedAndValid, watermark } from './signer_test_support';
import { lonelyFounding } from '../support/in_memory_founding';

const pkA = KEY_A.publicKey;
const timing = { heartbeatMs: 20, electionTimeoutMs: 200, snapshotEntries: 100_000, maxAppendEntries: 64, maxInflightAppends: 16 };

const noForwarding: LeaderForwarder = {
  forward: (): Promise<LeaderAnswer> => Promise.reject(new Error('a single node never forwards')),
};

describe('regression (sign_coordinator.ts importState / signer_codec.ts encodeSignerCommand): an import the log cannot carry is proposed, and every node that applies it stops', () => {
  // encodeSignerCommand now refuses sign requests the decoder would refuse (signRequestProblem),
  // but writes any import: a 31-byte key, an empty chain id or a negative round is proposed,
  // commits, and decodeSignerCommand throws in apply() on every node: the cluster halts. The
  // Admin service validates its input, but SignCoordinator.importState is a public entry point.
  let root: string;
  let node: RaftNode;
  let storage: RaftStorage;
  let coordinator: SignCoordinator;
  let n = 0;

  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'found-bugs-'));
  });

  // A fresh single-node cluster per case: a case that fails stops its node for good.
  beforeEach(async () => {
    storage = await RaftStorage.open(path.join(root, `solo${n++}`), { nodeId: 'solo', clusterId: 'found-bugs' });
    const keys = new KeyRing([[CHAIN_A, KEY_A]]);
    const machine = await SignerStateMachine.load(storage.load().stateMachine, keys, silentLogger());
    node = await RaftNode.create({
      id: 'solo',
      found: lonelyFounding('solo', storage.storeId, ['solo']),
      join: false,
      storage,
      sender: { send: (_m: Message[]) => undefined },
      machine,
      machineApplied: machine.applied,
      timing,
      logger: silentLogger(),
    });
    node.start();
    await waitUntil(() => node.status().leader === 'solo', 'the single node leads');
    coordinator = new SignCoordinator({ node, machine, keys, forwarder: noForwarding, deadlineMs: 2000, logger: silentLogger() });
  });

  afterEach(async () => {
    await node.stop();
    await storage.close();
  });

  afterAll(() => {
    fs.rmSync(root, { recursive: true, force: true });
  });

  const malformed: [string, ImportStateCommand][] = [
    ['a 31-byte key', { chainId: CHAIN_A, pubKey: new Uint8Array(31).fill(1), record: watermark(5n, 0, 3) }],
    ['an empty chain id', { chainId: '', pubKey: pkA, record: watermark(5n, 0, 3) }],
    ['a negative round', { chainId: CHAIN_A, pubKey: pkA, record: watermark(5n, -1, 3) }],
  ];

  it.each(malformed)('an import with %s is rejected before it is proposed, and the node keeps running', async (_what, imp) => {
    const lastIndex = node.raft.log.lastIndex();
    await expect(coordinator.importState(imp)).rejects.toThrow();
    expect(node.failure()).toBeNull();
    expect(node.raft.log.lastIndex()).toBe(lastIndex);
    const good = voteRequest(CHAIN_A, pkA, { height: 1, type: 'prevote', block: 'A' });
    expectSignedAndValid(await coordinator.sign(good), good);
  });
});

describe('regression (sign_coordinator.ts releasableFromRecord / waitApplied): a record installed from a snapshot is released before its batch is durable', () => {
  // RaftLog.restore() (src/raft/raft_log.ts) sets log.applied to the snapshot index when the
  // InstallSnapshot message is stepped, before the driver has written the restore batch. The
  // coordinator takes `node.raft.log.applied` as "durably applied here", so while that batch is
  // still being written (fsync under way, or failing) a request identical to a record in the
  // snapshot is answered with its signature: released from a record that is not on this disk yet
  // (the one rule: "fsynced before the signature is released").
  let root: string;
  let storage: RaftStorage;
  let node: RaftNode;
  let openGate: () => void = () => undefined;

  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'found-bugs-snapshot-'));
  });

  afterAll(async () => {
    openGate();
    await node?.stop();
    await storage?.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('waits for the restore batch to be written before answering from the restored record', async () => {
    storage = await RaftStorage.open(path.join(root, 'f0'), { nodeId: 'f0', clusterId: 'found-bugs' });
    const keys = new KeyRing([[CHAIN_A, KEY_A]]);
    const machine = await SignerStateMachine.load(storage.load().stateMachine, keys, silentLogger());
    node = await RaftNode.create({
      id: 'f0',
      found: lonelyFounding('f0', storage.storeId, ['f0', 'f1', 'f2']),
      join: false,
      storage,
      sender: { send: (_m: Message[]) => undefined },
      machine,
      machineApplied: machine.applied,
      timing,
      logger: silentLogger(),
    });
    // From now on every write of this node waits for the gate: a slow fsync.
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    const persist = storage.persist.bind(storage);
    let persisting = 0;
    storage.persist = (...args: Parameters<RaftStorage['persist']>): Promise<void> => {
      persisting++;
      return gate.then(() => persist(...args));
    };

    const request = voteRequest(CHAIN_A, pkA, { height: 10, type: 'prevote', block: 'A' });
    const image = encodeSignerSnapshot([
      {
        chainId: CHAIN_A,
        pubKey: pkA,
        record: { height: 10n, round: 0, step: 2, signBytes: request.signBytes, signature: KEY_A.sign(request.signBytes) },
        index: 0,
      },
    ]);
    node.receive({
      type: MessageType.InstallSnapshot,
      from: 'f1',
      to: 'f0',
      term: 4,
      logTerm: 0,
      index: 0,
      entries: [],
      commit: 0,
      reject: false,
      rejectHint: 0,
      // The membership names f0 with its own store: a voter on an unnamed store signs nothing at all.
      snapshot: { metadata: { index: 500, term: 4, confState: { voters: ['f0', 'f1', 'f2'], learners: [], incarnations: { f0: storage.storeId } } }, data: image },
    });
    // The driver has restored the machine and is writing that batch (held at the gate).
    await waitUntil(() => persisting > 0 && machine.recordOf(CHAIN_A, pkA) !== null, 'the restore batch is being written');

    const coordinator = new SignCoordinator({
      node,
      machine,
      keys,
      forwarder: { forward: () => Promise.reject(new Error('no leader reachable')) },
      deadlineMs: 300,
      logger: silentLogger(),
    });
    // Not durable yet: nothing may be released (a refusal at the deadline is the right answer).
    expectRefused(await coordinator.sign(request), 'deadline');
    openGate();
    await waitUntil(() => storage.snapshotMetadata?.index === 500, 'the restore batch is written');
    expectSignedAndValid(await coordinator.sign(request), request);
  });
});
