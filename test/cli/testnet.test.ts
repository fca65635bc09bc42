// `raft-signer testnet`: what it writes (configs that load, certificates that chain to the CA and
// name their node, owner-only keys, one validator key everywhere), what it refuses, and the built
// CLI end to end.

import { spawnSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readCertificateIdentity } from '../../src/certs/certificate_identity';
import * as clusterCerts from '../../src/certs/cluster_certs';
import { loadNodeConfig } from '../../src/config/node_config';
import { loadPlainValidatorKeyFile } from '../../src/keys/validator_key';
import { createTestnet, EVEN_NODES_WARNING, TestnetError, TestnetOptions, TestnetSummary } from '../../src/testnet/testnet';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const BUILT_CLI = path.join(REPO_ROOT, 'dist', 'cli', 'main.js');

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'raft-signer-testnet-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function options(overrides: Partial<TestnetOptions> = {}): TestnetOptions {
  return {
    nodes: 3,
    outDir: path.join(tmp, 'net'),
    chainId: 'test-chain-1',
    validatorAddrTemplate: `unix://${tmp}/val{i}.sock`,
    // Warnings are asserted where they matter; elsewhere keep the test output clean.
    warn: () => undefined,
    ...overrides,
  };
}

function mode(file: string): number {
  return fs.statSync(file).mode & 0o777;
}

function certificate(file: string): X509Certificate {
  return new X509Certificate(fs.readFileSync(file));
}

/** Every file under `dir`, relative, sorted. */
function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (sub: string): void => {
    for (const entry of fs.readdirSync(path.join(dir, sub), { withFileTypes: true })) {
      const rel = path.join(sub, entry.name);
      if (entry.isDirectory()) walk(rel);
      else out.push(rel);
    }
  };
  walk('');
  return out.sort();
}

async function expectRefusal(overrides: Partial<TestnetOptions>, message: RegExp): Promise<void> {
  const attempt = createTestnet(options(overrides));
  await expect(attempt).rejects.toBeInstanceOf(TestnetError);
  await expect(attempt).rejects.toThrow(message);
}

describe('createTestnet, 3 nodes on 127.0.0.1 with a unix template', () => {
  let summary: TestnetSummary;
  let out: string;
  beforeEach(async () => {
    summary = await createTestnet(options());
    out = path.join(tmp, 'net');
  });

  it('writes every node home with a config that loads and names the node, all peers, its port and its validator', () => {
    expect(summary.outDir).toBe(out);
    const listens = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const config = loadNodeConfig(path.join(out, `node${i}`));
      expect(config.id).toBe(`node${i}`);
      expect(config.home).toBe(path.join(out, `node${i}`));
      // The same peers list on every node, in node order, each at its own node's listen port.
      expect(config.peers).toEqual(summary.peers);
      expect(config.peers.map((p) => p.id)).toEqual(['node0', 'node1', 'node2']);
      const port = Number(config.listen.split(':')[1]);
      expect(config.listen).toBe(`127.0.0.1:${port}`);
      expect(config.peers[i].address).toBe(`127.0.0.1:${port}`);
      listens.add(config.listen);
      expect(config.chains).toEqual([
        {
          chainId: 'test-chain-1',
          keyFile: path.join(out, `node${i}`, 'priv_validator_key.json'),
          validatorAddrs: [`unix://${tmp}/val${i}.sock`],
        },
      ]);
      expect(config.tls).toEqual({
        ca: path.join(out, `node${i}`, 'tls', 'ca.pem'),
        cert: path.join(out, `node${i}`, 'tls', 'node.pem'),
        key: path.join(out, `node${i}`, 'tls', 'node.key'),
      });
      expect(config.dataDir).toBe(path.join(out, `node${i}`, 'data'));
      expect(config.metrics).toBeUndefined();
      expect(config.join).toBe(false);
    }
    expect(listens.size).toBe(3);
    expect(summary.nodes.map((n) => n.listen)).toEqual([...listens]);
  });

  it('writes the promised layout and nothing else', () => {
    const perNode = (i: number): string[] => [
      `node${i}/config.yaml`,
      `node${i}/new-cluster`,
      `node${i}/priv_validator_key.json`,
      `node${i}/tls/ca.pem`,
      `node${i}/tls/node.key`,
      `node${i}/tls/node.pem`,
    ];
    expect(listFiles(out)).toEqual(
      [
        'admin/tls/admin.key',
        'admin/tls/admin.pem',
        'admin/tls/ca.pem',
        'ca/ca.key',
        'ca/ca.pem',
        ...perNode(0),
        ...perNode(1),
        ...perNode(2),
        'priv_validator_key.json',
      ].sort(),
    );
  });

  it('issues node certificates named by node id and host that verify against the CA, with matching keys', () => {
    const caPem = fs.readFileSync(path.join(out, 'ca', 'ca.pem'));
    const ca = new X509Certificate(caPem);
    expect(ca.ca).toBe(true);
    expect(ca.checkPrivateKey(createPrivateKey(fs.readFileSync(path.join(out, 'ca', 'ca.key'))))).toBe(true);
    for (let i = 0; i < 3; i++) {
      const tls = path.join(out, `node${i}`, 'tls');
      // Every home holds the same CA certificate.
      expect(fs.readFileSync(path.join(tls, 'ca.pem'))).toEqual(caPem);
      const cert = certificate(path.join(tls, 'node.pem'));
      expect(cert.subject).toContain(`CN=node${i}`);
      expect(cert.subjectAltName).toContain(`DNS:node${i}`);
      expect(cert.subjectAltName).toContain('IP Address:127.0.0.1');
      expect(cert.checkIssued(ca)).toBe(true);
      expect(cert.verify(ca.publicKey)).toBe(true);
      expect(cert.checkPrivateKey(createPrivateKey(fs.readFileSync(path.join(tls, 'node.key'))))).toBe(true);
      expect(readCertificateIdentity(cert.raw).role).toBe('node');
    }
  });

  it('issues an admin client certificate under admin/ from the same CA', () => {
    const ca = certificate(path.join(out, 'admin', 'tls', 'ca.pem'));
    const admin = certificate(path.join(out, 'admin', 'tls', 'admin.pem'));
    expect(admin.verify(ca.publicKey)).toBe(true);
    expect(admin.verify(certificate(path.join(out, 'ca', 'ca.pem')).publicKey)).toBe(true);
    expect(readCertificateIdentity(admin.raw)).toMatchObject({ commonName: 'admin', role: 'client' });
    expect(admin.checkPrivateKey(createPrivateKey(fs.readFileSync(path.join(out, 'admin', 'tls', 'admin.key'))))).toBe(true);
  });

  it('writes every private key with mode 0600', () => {
    const keys = [
      'ca/ca.key',
      'admin/tls/admin.key',
      'priv_validator_key.json',
      ...[0, 1, 2].flatMap((i) => [`node${i}/tls/node.key`, `node${i}/priv_validator_key.json`]),
    ];
    for (const key of keys) expect([key, mode(path.join(out, key))]).toEqual([key, 0o600]);
  });

  it('gives every node the same validator key, the one in DIR/priv_validator_key.json', () => {
    const shared = loadPlainValidatorKeyFile(path.join(out, 'priv_validator_key.json'));
    expect(summary.validatorAddress).toBe(shared.address);
    expect(summary.validatorPublicKey).toBe(shared.publicKeyBase64);
    for (let i = 0; i < 3; i++) {
      const key = loadPlainValidatorKeyFile(loadNodeConfig(path.join(out, `node${i}`)).chains[0].keyFile);
      expect(key.publicKeyBase64).toBe(shared.publicKeyBase64);
    }
  });

  it('never writes key material into the summary', () => {
    const text = JSON.stringify(summary);
    const keyJson = JSON.parse(fs.readFileSync(path.join(out, 'priv_validator_key.json'), 'utf8')) as {
      priv_key: { value: string };
    };
    expect(text).not.toContain(keyJson.priv_key.value);
    expect(text).not.toContain('PRIVATE KEY');
  });
});

describe('createTestnet options', () => {
  it('with --hosts, listens on 0.0.0.0 and puts each host in the peer addresses and its certificate', async () => {
    const hosts = ['10.0.0.1', 'signer-b.example.com', '::1'];
    await createTestnet(options({ hosts, basePort: 27000 }));
    const expectedPeers = [
      { id: 'node0', address: '10.0.0.1:27000' },
      { id: 'node1', address: 'signer-b.example.com:27001' },
      { id: 'node2', address: '[::1]:27002' },
    ];
    for (let i = 0; i < 3; i++) {
      const home = path.join(tmp, 'net', `node${i}`);
      const config = loadNodeConfig(home);
      expect(config.listen).toBe(`0.0.0.0:${27000 + i}`);
      expect(config.peers).toEqual(expectedPeers);
      const san = certificate(path.join(home, 'tls', 'node.pem')).subjectAltName ?? '';
      expect(san).toContain(`DNS:node${i}`);
    }
    expect(certificate(path.join(tmp, 'net', 'node0', 'tls', 'node.pem')).subjectAltName).toContain('IP Address:10.0.0.1');
    expect(certificate(path.join(tmp, 'net', 'node1', 'tls', 'node.pem')).subjectAltName).toContain('DNS:signer-b.example.com');
    expect(certificate(path.join(tmp, 'net', 'node2', 'tls', 'node.pem')).subjectAltName).toContain('IP Address:0:0:0:0:0:0:0:1');
  });

  it('with --base-port, node i listens on port+i', async () => {
    const summary = await createTestnet(options({ basePort: 28100 }));
    expect(summary.nodes.map((n) => n.listen)).toEqual(['127.0.0.1:28100', '127.0.0.1:28101', '127.0.0.1:28102']);
    expect(loadNodeConfig(path.join(tmp, 'net', 'node2')).listen).toBe('127.0.0.1:28102');
  });

  it('creates missing parent directories of --out', async () => {
    await createTestnet(options({ outDir: path.join(tmp, 'a', 'b', 'net'), nodes: 1, validatorAddrTemplate: 'tcp://127.0.0.1:26659' }));
    expect(loadNodeConfig(path.join(tmp, 'a', 'b', 'net', 'node0')).peers).toHaveLength(1);
  });

  it('writes into an existing empty directory', async () => {
    fs.mkdirSync(path.join(tmp, 'net'));
    await createTestnet(options());
    expect(loadNodeConfig(path.join(tmp, 'net', 'node0')).id).toBe('node0');
  });

  it('accepts one node with a template without {i}, and a tcp template with {i}', async () => {
    await createTestnet(options({ nodes: 1, validatorAddrTemplate: 'tcp://127.0.0.1:26659' }));
    expect(loadNodeConfig(path.join(tmp, 'net', 'node0')).chains[0].validatorAddrs).toEqual(['tcp://127.0.0.1:26659']);
    const second = path.join(tmp, 'second');
    await createTestnet(options({ outDir: second, validatorAddrTemplate: 'tcp://127.0.0.1:2666{i}' }));
    expect(loadNodeConfig(path.join(second, 'node2')).chains[0].validatorAddrs).toEqual(['tcp://127.0.0.1:26662']);
  });

  it('warns, and proceeds, for an even number of nodes', async () => {
    const warnings: string[] = [];
    const summary = await createTestnet(options({ nodes: 2, warn: (m) => warnings.push(m) }));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(EVEN_NODES_WARNING);
    expect(summary.warnings).toEqual(warnings);
    expect(loadNodeConfig(path.join(tmp, 'net', 'node1')).peers).toHaveLength(2);

    const none: string[] = [];
    await createTestnet(options({ outDir: path.join(tmp, 'odd'), warn: (m) => none.push(m) }));
    expect(none).toEqual([]);
  });
});

describe('createTestnet refusals', () => {
  it('refuses a non-empty --out and leaves its content alone', async () => {
    const out = path.join(tmp, 'net');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'keep.txt'), 'mine');
    await expectRefusal({}, /is not empty: .*choose a new directory or empty this one first/);
    expect(fs.readdirSync(out)).toEqual(['keep.txt']);
  });

  it('refuses an --out that is a file', async () => {
    fs.writeFileSync(path.join(tmp, 'net'), '');
    await expectRefusal({}, /exists and is not a directory/);
  });

  it('refuses a template without {i} for more than one node', async () => {
    await expectRefusal(
      { validatorAddrTemplate: 'tcp://127.0.0.1:26659' },
      /has no \{i\}: all 3 nodes would dial the same validator node/,
    );
  });

  it('refuses a template that does not expand to privval addresses', async () => {
    await expectRefusal({ validatorAddrTemplate: 'http://val{i}:26659' }, /gives "http:\/\/val0:26659" for node0, which is not a privval address: it must start with tcp:\/\/ or unix:\/\//);
    await expectRefusal({ validatorAddrTemplate: 'unix://relative/val{i}.sock' }, /must be absolute/);
    // Valid for nodes 0 to 9 only: node 10 would get port 266610.
    await expectRefusal({ nodes: 11, validatorAddrTemplate: 'tcp://127.0.0.1:2666{i}' }, /for node10, which is not a privval address/);
  });

  it('refuses fewer than 1 or more than 99 nodes', async () => {
    await expectRefusal({ nodes: 0 }, /--nodes must be a whole number from 1 to 99 \(got 0\)/);
    await expectRefusal({ nodes: 100 }, /--nodes must be a whole number from 1 to 99 \(got 100\)/);
    await expectRefusal({ nodes: 2.5 }, /--nodes must be a whole number/);
  });

  it('refuses a --hosts list whose length is not --nodes', async () => {
    await expectRefusal({ hosts: ['10.0.0.1', '10.0.0.2'] }, /--hosts lists 2 hosts but --nodes is 3: give exactly one host per node/);
  });

  it('refuses a host that cannot go into a certificate', async () => {
    await expectRefusal({ hosts: ['10.0.0.1', 'bad host', '10.0.0.3'] }, /--hosts entry 2 "bad host" is not an IP address or host name/);
  });

  it('refuses a base port whose range does not fit, and a bad chain id', async () => {
    await expectRefusal({ basePort: 65534 }, /--base-port must be a whole number from 1 to 65533/);
    await expectRefusal({ basePort: 0 }, /--base-port/);
    await expectRefusal({ chainId: '' }, /--chain-id must be 1 to 50 characters/);
    await expectRefusal({ chainId: 'x'.repeat(51) }, /--chain-id must be 1 to 50 characters/);
  });

  it('writes nothing when it refuses', async () => {
    await expectRefusal({ nodes: 0 }, /--nodes/);
    await expectRefusal({ validatorAddrTemplate: 'nonsense{i}' }, /not a privval address/);
    expect(fs.readdirSync(tmp)).toEqual([]);
  });

  it('removes what it wrote when it fails half-way, so that a second run can succeed', async () => {
    // The admin certificate is the last thing written: fail there, after the CA, keys and homes.
    const failure = new Error('simulated failure after the node homes were written');
    const spy = jest.spyOn(clusterCerts, 'issueClientCertificate').mockRejectedValue(failure);
    try {
      await expect(createTestnet(options())).rejects.toBe(failure);
      expect(fs.readdirSync(tmp)).toEqual([]);
      // An --out that existed (empty) before stays, empty.
      fs.mkdirSync(path.join(tmp, 'net'));
      await expect(createTestnet(options())).rejects.toBe(failure);
      expect(fs.readdirSync(path.join(tmp, 'net'))).toEqual([]);
    } finally {
      spy.mockRestore();
    }
    await createTestnet(options());
    expect(loadNodeConfig(path.join(tmp, 'net', 'node0')).id).toBe('node0');
  });
});

describe('the built CLI (dist/cli/main.js)', () => {
  function run(args: string[]): { status: number | null; stdout: string; stderr: string } {
    const result = spawnSync(process.execPath, [BUILT_CLI, ...args], { encoding: 'utf8', timeout: 30000 });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  it('writes a testnet, prints the next commands, reports --version, and refuses with one error line', () => {
    if (!fs.existsSync(BUILT_CLI)) throw new Error(`${BUILT_CLI} is missing: run npm run build first`);
    const packageJson = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };

    const version = run(['--version']);
    expect(version.status).toBe(0);
    expect(version.stdout.trim()).toBe(packageJson.version);

    const out = path.join(tmp, 'net');
    const args = ['testnet', '--nodes', '3', '--out', out, '--chain-id', 'e2e-chain', '--validator-addr', `unix://${tmp}/v{i}.sock`];
    const created = run([...args, '--base-port', '29300']);
    expect(created.stderr).toBe('');
    expect(created.status).toBe(0);
    for (let i = 0; i < 3; i++) {
      const config = loadNodeConfig(path.join(out, `node${i}`));
      expect(config.listen).toBe(`127.0.0.1:${29300 + i}`);
      expect(config.chains[0].validatorAddrs).toEqual([`unix://${tmp}/v${i}.sock`]);
      expect(mode(path.join(out, `node${i}`, 'tls', 'node.key'))).toBe(0o600);
      expect(created.stdout).toContain(`raft-signer start --home ${path.join(out, `node${i}`)}`);
    }
    expect(created.stdout).toContain(`raft-signer status --home ${path.join(out, 'node0')}`);
    expect(mode(path.join(out, 'priv_validator_key.json'))).toBe(0o600);
    expect(fs.existsSync(path.join(out, 'admin', 'tls', 'admin.pem'))).toBe(true);
    expect(fs.existsSync(path.join(out, 'ca', 'ca.key'))).toBe(true);

    // A refusal: exit 1, a single "error:" line, no stack trace.
    const again = run(args);
    expect(again.status).toBe(1);
    expect(again.stdout).toBe('');
    expect(again.stderr).toMatch(/^error: --out .* is not empty: [^\n]*\n$/);

    // A command line that does not parse: commander's usage error, exit 2.
    const usage = run(['testnet', '--nodes', '3']);
    expect(usage.status).toBe(2);
    expect(usage.stderr).toContain("error: required option '--out <dir>' not specified");
  });
});
