// Metrics and health of real `raft-signer start` processes with `metrics.listen` set, each serving
// a validator-node stand-in: /metrics answers with the expected series and they move after a sign
// and a refusal; /healthz and /readyz flip when a node loses its quorum and come back with it; the
// gRPC health service answers the same. Runs the built CLI (npm test builds first).

import fs from 'node:fs';
import http from 'node:http';
import { findFreePorts } from '../../src/testnet/testnet';
import { ProcessCluster, waitFor } from '../../src/harness/process_cluster';
import { checkGrpcHealth, SIGNER_SERVICE_NAME } from '../../src/node/grpc_health_service';
import { ValidatorStandin } from '../../src/standin/validator_standin';
import { clusterChannelCredentials, TlsPem } from '../../src/transport/grpc_server';
import { voteRequest } from '../support/sign_requests';

const CHAIN = 'metrics-chain';

function get(address: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(`http://${address}${path}`, { agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

/** The value of one series, or 0 when it is absent (a counter nobody incremented yet). */
function value(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

describe('metrics and health of a real cluster', () => {
  let cluster: ProcessCluster;
  let httpPorts: number[];
  let adminTls: TlsPem;
  const standins: ValidatorStandin[] = [];

  const httpAddress = (id: string): string => `127.0.0.1:${httpPorts[cluster.ids.indexOf(id)]}`;
  const scrape = async (id: string): Promise<string> => (await get(httpAddress(id), '/metrics')).body;
  const grpcHealth = (id: string, service: string): Promise<string> => {
    const address = cluster.testnet.nodes.find((n) => n.id === id)?.address as string;
    return checkGrpcHealth(address, clusterChannelCredentials(adminTls, id, 'client'), id, service, 2000);
  };

  beforeAll(async () => {
    httpPorts = await findFreePorts(3);
    cluster = await ProcessCluster.create({
      nodes: 3,
      chainId: CHAIN,
      configure: (cfg, id) => {
        cfg.metrics = { listen: `127.0.0.1:${httpPorts[Number(id.replace('node', ''))]}` };
      },
    });
    adminTls = {
      ca: fs.readFileSync(cluster.testnet.adminCaFile, 'utf8'),
      cert: fs.readFileSync(cluster.testnet.adminCertFile, 'utf8'),
      key: fs.readFileSync(cluster.testnet.adminKeyFile, 'utf8'),
    };
    for (const [i, n] of cluster.testnet.nodes.entries()) standins.push(await ValidatorStandin.listen({ address: n.validatorAddr, name: `val${i}` }));
    cluster.startAll();
    await Promise.all(standins.map((s) => s.waitConnected(20_000)));
    await cluster.waitForLeader();
  });

  afterAll(async () => {
    await Promise.all(standins.map((s) => s.close()));
    await cluster?.destroy();
  });

  test('/metrics has the Raft, signing, privval and process series, and they move after a sign and a refusal', async () => {
    const leader = await cluster.waitForLeader();
    const follower = cluster.ids.find((id) => id !== leader) as string;
    const before = await scrape(follower);
    for (const name of [
      'raftsigner_node_info',
      'raftsigner_raft_role',
      'raftsigner_raft_term',
      'raftsigner_raft_commit_index',
      'raftsigner_raft_applied_index',
      'raftsigner_raft_leader_changes_total',
      'raftsigner_raft_persist_seconds',
      'raftsigner_raft_peer_connected',
      'raftsigner_sign_requests_total',
      'raftsigner_sign_refusals_total',
      'raftsigner_sign_duration_seconds',
      'raftsigner_privval_connected',
      'raftsigner_privval_reconnects_total',
      'raftsigner_privval_requests_total',
      'raftsigner_healthy',
      'raftsigner_ready',
      'process_cpu_seconds_total',
    ]) {
      expect(before).toMatch(new RegExp(`^# TYPE ${name} `, 'm'));
    }
    expect(value(before, `raftsigner_raft_role{role="follower"}`)).toBe(1);
    expect(value(await scrape(leader), `raftsigner_raft_role{role="leader"}`)).toBe(1);
    expect(value(before, 'raftsigner_raft_leader_changes_total')).toBeGreaterThanOrEqual(1);
    expect(value(before, `raftsigner_privval_connected{address="${cluster.testnet.nodes[cluster.ids.indexOf(follower)].validatorAddr}"}`)).toBe(1);
    expect(value(before, 'raftsigner_ready')).toBe(1);

    const pubKey = cluster.validatorKey().publicKey;
    const signed = await cluster.sign(follower, voteRequest(CHAIN, pubKey, { height: 5, type: 'prevote', block: 'A' }));
    expect(signed.kind).toBe('signed');
    const regression = await cluster.sign(follower, voteRequest(CHAIN, pubKey, { height: 4, type: 'prevote', block: 'A' }));
    expect(regression).toMatchObject({ kind: 'refused', reason: 'height-regression' });
    await standins[cluster.ids.indexOf(follower)].pubKey(CHAIN);

    const after = await scrape(follower);
    const delta = (series: string): number => value(after, series) - value(before, series);
    expect(delta(`raftsigner_sign_requests_total{chain="${CHAIN}",result="signed"}`)).toBe(1);
    expect(delta(`raftsigner_sign_requests_total{chain="${CHAIN}",result="refused"}`)).toBe(1);
    expect(delta(`raftsigner_sign_refusals_total{chain="${CHAIN}",reason="height-regression"}`)).toBe(1);
    expect(delta(`raftsigner_sign_duration_seconds_count{chain="${CHAIN}",result="signed"}`)).toBe(1);
    expect(delta(`raftsigner_privval_requests_total{chain="${CHAIN}",kind="pubKey",outcome="answered"}`)).toBe(1);
    expect(delta('raftsigner_raft_commit_index')).toBeGreaterThanOrEqual(1);
    expect(delta('raftsigner_raft_applied_index')).toBeGreaterThanOrEqual(1);
    expect(delta('raftsigner_raft_persisted_entries_total')).toBeGreaterThanOrEqual(1);
    expect(delta('raftsigner_raft_persist_seconds_count{fsync="true"}')).toBeGreaterThanOrEqual(1);
  });

  test('healthz stays 200 and readyz and the gRPC Signer health flip when a node loses its quorum, and come back', async () => {
    const leader = await cluster.waitForLeader();
    const survivor = cluster.ids.find((id) => id !== leader) as string;
    const others = cluster.ids.filter((id) => id !== survivor);
    expect((await get(httpAddress(survivor), '/readyz')).status).toBe(200);
    expect(await grpcHealth(survivor, SIGNER_SERVICE_NAME)).toBe('SERVING');
    expect(await grpcHealth(survivor, '')).toBe('SERVING');

    await Promise.all(others.map((id) => cluster.kill(id)));
    const notReady = await waitFor('the survivor to notice it lost its quorum', 10_000, async () => {
      const r = await get(httpAddress(survivor), '/readyz');
      return r.status === 503 ? r : undefined;
    });
    const checks = (JSON.parse(notReady.body) as { status: string; checks: { name: string; ok: boolean; detail: string }[] }).checks;
    expect(checks.find((c) => c.name === 'quorum')).toMatchObject({ ok: false });
    expect(checks.find((c) => c.name === 'node')).toMatchObject({ ok: true });
    expect((await get(httpAddress(survivor), '/healthz')).status).toBe(200);
    expect(await grpcHealth(survivor, SIGNER_SERVICE_NAME)).toBe('NOT_SERVING');
    expect(await grpcHealth(survivor, '')).toBe('SERVING');
    expect(value(await scrape(survivor), 'raftsigner_ready')).toBe(0);

    for (const id of others) cluster.start(id);
    await cluster.waitForLeader();
    await Promise.all(others.map((id) => standins[cluster.ids.indexOf(id)].waitConnected(20_000)));
    await waitFor('every node ready again', 20_000, async () => {
      const codes = await Promise.all(cluster.ids.map((id) => get(httpAddress(id), '/readyz').then((r) => r.status)));
      return codes.every((c) => c === 200) ? true : undefined;
    });
    expect(await grpcHealth(survivor, SIGNER_SERVICE_NAME)).toBe('SERVING');
  });
});
