// `raft-signer start` refuses a node home whose TLS certificate is not this node's own: another
// node's tls/ copied in (its streams would supersede the real node's), an admin client
// certificate, a certificate revoked in config.yaml, and a TLS key file other users can read. Each
// refusal is one line that names the file and says what to do, before anything is opened.
// Runs the built CLI (npm test builds first).

import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { createTestnet, TestnetSummary, TESTNET_LAYOUT } from '../../src/testnet/testnet';
import { readCertificateIdentity } from '../../src/certs/certificate_identity';
import { CLI_ENTRY } from '../../src/harness/process_cluster';

function start(home: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // A node that does start runs until killed: the timeout turns that into a failure here.
    execFile(process.execPath, [CLI_ENTRY, 'start', '--home', home], { timeout: 15_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('start refuses a TLS certificate that is not this node own', () => {
  let tmp: string;
  let net: TestnetSummary;
  const tlsOf = (i: number, file: string): string => path.join(net.nodes[i].home, TESTNET_LAYOUT.tlsDir, file);

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'raft-signer-start-tls-'));
    net = await createTestnet({ nodes: 3, outDir: path.join(tmp, 'net'), chainId: 'tls-chain', validatorAddrTemplate: `unix://${tmp}/v{i}.sock`, warn: () => undefined });
  });

  afterAll(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  function expectOneLineRefusal(r: { code: number | null; stderr: string }, pattern: RegExp): void {
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(pattern);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(r.stderr).not.toMatch(/PRIVATE KEY/);
  }

  test("a node started with another node's tls/ (certificate and key) is refused, naming the file and both ids", async () => {
    const home = net.nodes[0].home;
    fs.copyFileSync(tlsOf(1, TESTNET_LAYOUT.nodeCertFile), tlsOf(0, TESTNET_LAYOUT.nodeCertFile));
    fs.copyFileSync(tlsOf(1, TESTNET_LAYOUT.nodeKeyFile), tlsOf(0, TESTNET_LAYOUT.nodeKeyFile));
    const r = await start(home);
    const cert = tlsOf(0, TESTNET_LAYOUT.nodeCertFile).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    expectOneLineRefusal(
      r,
      new RegExp(`^error: the TLS certificate ${cert} is node node1's, but config\\.yaml says this node is node0: .*node0's own certificate and key`),
    );
    // Refused before the store was created or anything listened.
    expect(fs.existsSync(path.join(home, 'data'))).toBe(false);
  });

  test('an admin client certificate in tls/ is refused', async () => {
    const home = net.nodes[2].home;
    fs.copyFileSync(net.adminCertFile, tlsOf(2, TESTNET_LAYOUT.nodeCertFile));
    fs.copyFileSync(net.adminKeyFile, tlsOf(2, TESTNET_LAYOUT.nodeKeyFile));
    const r = await start(home);
    expectOneLineRefusal(r, /^error: the TLS certificate \S+node2\/tls\/node\.pem is not a node certificate \(CN=admin, a client certificate\): .*node2's own/);
  });

  test('a TLS key file readable by others is refused like a validator key file', async () => {
    const home = net.nodes[1].home;
    const key = tlsOf(1, TESTNET_LAYOUT.nodeKeyFile);
    fs.chmodSync(key, 0o644);
    try {
      const r = await start(home);
      expectOneLineRefusal(r, new RegExp(`^error: TLS key file ${key.replace(/[.]/g, '\\.')} has mode 0644: it must be readable by its owner only; run: chmod 600 `));
    } finally {
      fs.chmodSync(key, 0o600);
    }
  });

  test('a node whose own certificate is revoked in config.yaml is refused', async () => {
    const home = net.nodes[1].home;
    const cfg = YAML.parse(fs.readFileSync(net.nodes[1].configFile, 'utf8')) as Record<string, unknown>;
    const serial = readCertificateIdentity(fs.readFileSync(tlsOf(1, TESTNET_LAYOUT.nodeCertFile), 'utf8')).serialNumber;
    fs.writeFileSync(net.nodes[1].configFile, YAML.stringify({ ...cfg, revokedCertificates: [{ serial }] }));
    try {
      const r = await start(home);
      expectOneLineRefusal(r, /^error: the TLS certificate \S+ of node node1 \(serial [0-9a-f]+\) is listed in revokedCertificates of config\.yaml: issue node1 a new certificate/);
    } finally {
      fs.writeFileSync(net.nodes[1].configFile, YAML.stringify(cfg));
    }
  });
});
