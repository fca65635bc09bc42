// Two nodes of two one-node clusters in this one process, started the way `raft-signer start`
// starts them: each has its own metrics registry and HTTP endpoint, their series do not mix, a
// node whose validator node is not listening is live but not ready, and stop() leaves nothing
// listening behind.

import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createTestnet } from '../../src/testnet/testnet';
import { loadPlainValidatorKeyFile } from '../../src/keys/validator_key';
import { waitFor } from '../../src/harness/process_cluster';
import { RunningNode, startNodeProcess } from '../../src/node/node_process';
import { Role } from '../../src/raft/types';
import { voteRequest } from '../support/sign_requests';

function get(address: string, urlPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(`http://${address}${urlPath}`, { agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

describe('several nodes in one process', () => {
  let tmp: string;
  const nodes: RunningNode[] = [];

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'raft-signer-inproc-'));
    for (const name of ['a', 'b']) {
      const net = await createTestnet({ nodes: 1, outDir: path.join(tmp, name), chainId: `chain-${name}`, validatorAddrTemplate: `unix://${tmp}/${name}.sock`, warn: () => undefined });
      nodes.push(await startNodeProcess(net.nodes[0].home, { processMetrics: false, metricsListen: '127.0.0.1:0', logLevel: 'error', json: true }));
    }
    await waitFor('both nodes to lead their one-node clusters', 10_000, async () => (nodes.every((n) => n.node.status().role === Role.Leader) ? true : undefined));
  });

  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('each node counts its own signatures on its own endpoint', async () => {
    const [a, b] = nodes;
    const key = loadPlainValidatorKeyFile(path.join(tmp, 'a', 'priv_validator_key.json'));
    const outcome = await a.coordinator.sign(voteRequest('chain-a', key.publicKey, { height: 3, type: 'precommit', block: 'A' }));
    expect(outcome.kind).toBe('signed');
    const textA = (await get(a.httpAddress as string, '/metrics')).body;
    const textB = (await get(b.httpAddress as string, '/metrics')).body;
    expect(textA).toMatch(/^raftsigner_sign_requests_total\{chain="chain-a",result="signed"\} 1$/m);
    expect(textB).not.toMatch(/chain-a/);
    expect(textA).toMatch(/^raftsigner_node_info\{node="node0",version="\d+\.\d+\.\d+"\} 1$/m);
    expect(textA).toMatch(/^raftsigner_raft_role\{role="leader"\} 1$/m);
    expect(textA).not.toMatch(/process_cpu_seconds_total/);
  });

  test('a validator node that is not listening: live, not ready, and the check says why', async () => {
    const r = await get(nodes[0].httpAddress as string, '/readyz');
    expect(r.status).toBe(503);
    const checks = (JSON.parse(r.body) as { checks: { name: string; ok: boolean; detail: string }[] }).checks;
    expect(checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(['privval']);
    expect(checks.find((c) => c.name === 'privval')?.detail).toMatch(/not connected to unix:\/\/.*a\.sock/);
    expect((await get(nodes[0].httpAddress as string, '/healthz')).status).toBe(200);
  });

  test('stop() closes the endpoint', async () => {
    const address = nodes[1].httpAddress as string;
    await nodes[1].stop();
    await expect(get(address, '/healthz')).rejects.toThrow(/ECONNREFUSED/);
  });
});
