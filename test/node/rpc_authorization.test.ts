// Who may call what on a real node: two nodes of one cluster in this process, started the way
// `raft-signer start` starts them, and callers holding every kind of certificate, against every
// RPC of every service on the node's port. The regression: the admin client certificate and a
// learner's node certificate could get a vote signed through Signer.Sign; only a voter's node
// certificate may.

import * as grpc from '@grpc/grpc-js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { createTestnet, TestnetSummary, TESTNET_LAYOUT } from '../../src/testnet/testnet';
import { createClusterCa, issueNodeCertificate, ClusterCa } from '../../src/certs/cluster_certs';
import { readCertificateIdentity } from '../../src/certs/certificate_identity';
import { waitFor } from '../../src/harness/process_cluster';
import { loadPlainValidatorKeyFile } from '../../src/keys/validator_key';
import { sendMembershipChange } from '../../src/transport/admin_client';
import { adminErrorOf } from '../../src/transport/admin_errors';
import { RunningNode, startNodeProcess } from '../../src/node/node_process';
import { Role } from '../../src/raft/types';
import { signThroughNode } from '../../src/transport/signer_client';
import { RPC, RpcPath } from '../../src/transport/authorization';
import { clusterChannelCredentials, TlsPem } from '../../src/transport/grpc_server';
import { loadProtoFile } from '../../src/transport/proto_loader';
import { encodeRaftMessage } from '../../src/transport/raft_message_codec';
import { MessageType } from '../../src/raft/types';
import { voteRequest } from '../support/sign_requests';

type Caller = 'admin' | 'voter' | 'learner' | 'removed' | 'never added' | 'revoked voter' | 'other CA' | 'no certificate';
/** What a call came to: refused by authorization, refused by TLS, or past authorization (whatever the handler then said). */
type Verdict = 'denied' | 'tls' | 'passed' | 'no answer';

function service(file: string, pkg: string[], name: string): grpc.ServiceClientConstructor {
  let o = loadProtoFile(file);
  for (const p of pkg) o = o[p] as grpc.GrpcObject;
  return o[name] as unknown as grpc.ServiceClientConstructor;
}

function verdictOf(err: grpc.ServiceError | null): Verdict {
  if (err === null) return 'passed';
  if (err.code === grpc.status.PERMISSION_DENIED || err.code === grpc.status.UNAUTHENTICATED) return 'denied';
  if (err.code === grpc.status.UNAVAILABLE) return 'tls';
  return 'passed';
}

/** Calls `rpc` on `address` once, with harmless input (malformed where a valid one would change something). */
function probe(address: string, credentials: grpc.ChannelCredentials, rpc: RpcPath): Promise<Verdict> {
  const options = { 'grpc.ssl_target_name_override': 'node0', 'grpc.default_authority': 'node0', 'grpc.use_local_subchannel_pool': 1 };
  const deadline = (): grpc.CallOptions => ({ deadline: Date.now() + 5000 });
  type Unary = (req: object, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null) => void) => void;
  const unary = (ctor: grpc.ServiceClientConstructor, method: string, req: object): Promise<Verdict> => {
    const client = new ctor(address, credentials, options);
    return new Promise((resolve) => {
      ((client as unknown as Record<string, Unary>)[method] as Unary).call(client, req, deadline(), (err) => {
        client.close();
        resolve(verdictOf(err));
      });
    });
  };
  const streaming = (open: (client: grpc.Client) => grpc.ClientDuplexStream<object, object> | grpc.ClientReadableStream<object>, client: grpc.Client): Promise<Verdict> =>
    new Promise((resolve) => {
      const call = open(client);
      const done = (v: Verdict): void => {
        clearTimeout(timer);
        call.removeAllListeners();
        call.on('error', () => undefined);
        call.cancel();
        client.close();
        resolve(v);
      };
      const timer = setTimeout(() => done('no answer'), 5000);
      call.on('data', () => done('passed'));
      call.on('error', (err: grpc.ServiceError) => done(verdictOf(err)));
    });
  const Signer = service('signer.proto', ['raftsigner', 'signer', 'v1'], 'Signer');
  const Admin = service('admin.proto', ['raftsigner', 'admin', 'v1'], 'Admin');
  const Health = service('health.proto', ['grpc', 'health', 'v1'], 'Health');
  const Raft = service('raft.proto', ['raftsigner', 'raft', 'v1'], 'Raft');
  const malformed = { chainId: CHAIN, pubKey: Buffer.alloc(32), height: '0', round: 0, step: 2, signBytes: Buffer.alloc(0), timeoutMs: 100 };
  switch (rpc) {
    case RPC.RaftStream: {
      const client = new grpc.Client(address, credentials, options);
      return new Promise((resolve) => {
        let settled = false;
        const settle = (v: Verdict): void => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          call.cancel();
          client.close();
          resolve(v);
        };
        const call = client.makeClientStreamRequest<Buffer, Buffer>(RPC.RaftStream, (b) => b, (b) => b, (err) => settle(verdictOf(err)));
        call.on('error', () => undefined);
        // Response headers: the stream was accepted.
        call.on('metadata', () => settle('passed'));
        const timer = setTimeout(() => settle('no answer'), 5000);
        call.write(encodeRaftMessage({ type: MessageType.HeartbeatResponse, from: 'x', to: 'node0', term: 0, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0 }));
      });
    }
    case RPC.RaftFounding:
      return unary(Raft, 'Founding', {});
    case RPC.SignerSign:
      return unary(Signer, 'Sign', malformed);
    case RPC.SignerDecide:
      return unary(Signer, 'Decide', malformed);
    case RPC.SignerForward:
      return streaming((c) => {
        const call = (c as unknown as { Forward: () => grpc.ClientDuplexStream<object, object> }).Forward();
        call.write({ id: '1', request: null });
        return call;
      }, new Signer(address, credentials, options));
    case RPC.AdminStatus:
      return unary(Admin, 'Status', {});
    case RPC.AdminChainState:
      return unary(Admin, 'ChainState', { chainId: 'no-such-chain' });
    case RPC.AdminImportState:
      return unary(Admin, 'ImportState', { chainId: '' });
    case RPC.AdminTransferLeader:
      return unary(Admin, 'TransferLeader', { to: 'nobody' });
    case RPC.AdminAddLearner:
      return unary(Admin, 'AddLearner', { id: '', address: '' });
    case RPC.AdminPromote:
      return unary(Admin, 'Promote', { id: 'nobody' });
    case RPC.AdminRemove:
      return unary(Admin, 'Remove', { id: 'nobody' });
    case RPC.HealthCheck:
      return unary(Health, 'Check', { service: '' });
    case RPC.HealthWatch:
      return streaming((c) => (c as unknown as { Watch: (r: object) => grpc.ClientReadableStream<object> }).Watch({ service: '' }), new Health(address, credentials, options));
  }
}

const CHAIN = 'authz-chain';

/**
 * A membership change, asked again while the leader answers a retryable refusal (as the CLI does):
 * a leader just elected refuses changes until it has committed an entry of its own term.
 */
async function changeMembership(...args: Parameters<typeof sendMembershipChange>): Promise<Awaited<ReturnType<typeof sendMembershipChange>>> {
  for (const deadline = Date.now() + 15_000; ; ) {
    try {
      return await sendMembershipChange(...args);
    } catch (e) {
      if (!adminErrorOf(e)?.retryable || Date.now() > deadline) throw e;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

describe('RPC authorization on a running node', () => {
  let tmp: string;
  let net: TestnetSummary;
  let ca: ClusterCa;
  const nodes: RunningNode[] = [];
  let adminTls: TlsPem;
  let learnerTls: TlsPem;
  const callers = {} as Record<Caller, grpc.ChannelCredentials>;
  let pubKey: Uint8Array;
  let height = 10;

  const addressOf = (id: string): string => net.nodes.find((n) => n.id === id)?.address as string;
  const leader = (): RunningNode => nodes.find((n) => n.node.status().role === Role.Leader) as RunningNode;

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'raft-signer-authz-'));
    net = await createTestnet({ nodes: 2, outDir: path.join(tmp, 'net'), chainId: CHAIN, validatorAddrTemplate: `unix://${tmp}/v{i}.sock`, warn: () => undefined });
    ca = {
      certPem: fs.readFileSync(net.caCertFile, 'utf8'),
      keyPem: fs.readFileSync(net.caKeyFile, 'utf8'),
    };
    adminTls = { ca: ca.certPem, cert: fs.readFileSync(net.adminCertFile, 'utf8'), key: fs.readFileSync(net.adminKeyFile, 'utf8') };
    const learner = await issueNodeCertificate(ca, 'node2', ['127.0.0.1']);
    learnerTls = { ca: ca.certPem, cert: learner.certPem, key: learner.keyPem };
    pubKey = loadPlainValidatorKeyFile(path.join(net.outDir, TESTNET_LAYOUT.validatorKeyFile)).publicKey;
    const nodeCredentials = async (id: string, issuer: ClusterCa = ca): Promise<grpc.ChannelCredentials> => {
      const pair = await issueNodeCertificate(issuer, id, ['127.0.0.1']);
      // Trust the cluster CA for the server, present whatever was issued.
      return grpc.credentials.createSsl(Buffer.from(ca.certPem), Buffer.from(pair.keyPem), Buffer.from(pair.certPem), { checkServerIdentity: () => undefined });
    };
    const node1Home = path.join(net.nodes[1].home, 'tls');
    callers.admin = clusterChannelCredentials(adminTls, 'node0', 'client');
    callers.voter = grpc.credentials.createSsl(
      Buffer.from(ca.certPem),
      fs.readFileSync(path.join(node1Home, TESTNET_LAYOUT.nodeKeyFile)),
      fs.readFileSync(path.join(node1Home, TESTNET_LAYOUT.nodeCertFile)),
    );
    callers.learner = clusterChannelCredentials(learnerTls, 'node0', 'node');
    callers.removed = await nodeCredentials('node3');
    callers['never added'] = await nodeCredentials('node7');
    callers['other CA'] = await nodeCredentials('node1', await createClusterCa());
    callers['no certificate'] = grpc.credentials.createSsl(Buffer.from(ca.certPem));
    // A second certificate of voter node1 (its key stolen, say), revoked in node0's config.yaml.
    const revoked = await issueNodeCertificate(ca, 'node1', ['127.0.0.1']);
    callers['revoked voter'] = grpc.credentials.createSsl(Buffer.from(ca.certPem), Buffer.from(revoked.keyPem), Buffer.from(revoked.certPem));
    const node0Config = net.nodes[0].configFile;
    const cfg = YAML.parse(fs.readFileSync(node0Config, 'utf8')) as Record<string, unknown>;
    cfg.revokedCertificates = [{ serial: readCertificateIdentity(revoked.certPem).serialNumber, comment: "node1's stolen key" }];
    fs.writeFileSync(node0Config, YAML.stringify(cfg));
    // Founders start together: each waits for the other's store id before the first entry.
    nodes.push(...(await Promise.all(net.nodes.map((n) => startNodeProcess(n.home, { processMetrics: false, metricsListen: null, logLevel: 'error', json: true })))));
    await waitFor('a leader', 15_000, async () => (leader() ? true : undefined));
    // node2 becomes a learner (committed); it never runs: only its certificate is used.
    const l = leader();
    await changeMembership(
      { address: addressOf(l.config.id), credentials: clusterChannelCredentials(adminTls, l.config.id, 'client'), serverName: l.config.id },
      // It never runs, so its store id is given rather than asked of it.
      { kind: 'add-learner', id: 'node2', address: '127.0.0.1:1', storeId: '2'.repeat(32) },
      10_000,
    );
    // node3 was a learner and is removed (committed).
    const target = { address: addressOf(l.config.id), credentials: clusterChannelCredentials(adminTls, l.config.id, 'client'), serverName: l.config.id };
    await changeMembership(target, { kind: 'add-learner', id: 'node3', address: '127.0.0.1:2', storeId: '3'.repeat(32) }, 10_000);
    await changeMembership(target, { kind: 'remove', id: 'node3' }, 10_000);
    await waitFor('every node to know node2 is a learner and node3 is gone', 10_000, async () =>
      nodes.every((n) => n.node.status().confState.learners.join() === 'node2') ? true : undefined,
    );
  });

  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  function signWith(tls: TlsPem, role: 'node' | 'client', via = 'node0'): Promise<unknown> {
    height += 1;
    return signThroughNode(addressOf(via), clusterChannelCredentials(tls, via, role), via, voteRequest(CHAIN, pubKey, { height, type: 'prevote', block: 'A' }), 4000);
  }

  test('the admin client certificate cannot get a vote signed through Signer.Sign', async () => {
    await expect(signWith(adminTls, 'client')).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
  });

  test("a learner's node certificate cannot get a vote signed through Signer.Sign", async () => {
    await expect(signWith(learnerTls, 'node')).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
  });

  test("a voter's node certificate can", async () => {
    const voterTls: TlsPem = {
      ca: ca.certPem,
      cert: fs.readFileSync(path.join(net.nodes[1].home, 'tls', TESTNET_LAYOUT.nodeCertFile), 'utf8'),
      key: fs.readFileSync(path.join(net.nodes[1].home, 'tls', TESTNET_LAYOUT.nodeKeyFile), 'utf8'),
    };
    await expect(signWith(voterTls, 'node')).resolves.toMatchObject({ kind: 'signed' });
  });

  test('the matrix: every RPC on the node against every kind of caller', async () => {
    const passes: Record<Caller, RpcPath[]> = {
      admin: [RPC.AdminStatus, RPC.AdminChainState, RPC.AdminImportState, RPC.AdminTransferLeader, RPC.AdminAddLearner, RPC.AdminPromote, RPC.AdminRemove, RPC.HealthCheck, RPC.HealthWatch],
      voter: Object.values(RPC),
      learner: [RPC.RaftStream, RPC.RaftFounding, RPC.AdminStatus, RPC.AdminChainState, RPC.HealthCheck, RPC.HealthWatch],
      removed: [],
      'never added': [],
      'revoked voter': [],
      'other CA': [],
      'no certificate': [],
    };
    const got: Record<string, Record<string, Verdict>> = {};
    const want: Record<string, Record<string, Verdict>> = {};
    for (const caller of Object.keys(passes) as Caller[]) {
      got[caller] = {};
      want[caller] = {};
      for (const rpc of Object.values(RPC)) {
        got[caller][rpc] = await probe(addressOf('node0'), callers[caller], rpc);
        const tlsRefuses = caller === 'other CA' || caller === 'no certificate';
        want[caller][rpc] = tlsRefuses ? 'tls' : passes[caller].includes(rpc) ? 'passed' : 'denied';
      }
    }
    expect(got).toEqual(want);
    // The healthy cluster kept its leader through all of it.
    expect(leader()).toBeDefined();
  }, 120_000);
});
