import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import {
  ConfigError,
  DEFAULT_RAFT_CONFIG,
  loadNodeConfig,
  NodeConfig,
  parseHostPort,
  parseNodeConfig,
  parseNodeConfigFile,
  validatorAddressProblem,
  writeNodeConfig,
} from '../../src/config/node_config';
import { NodeConfigFile } from '../../src/config/node_config_schema';

const FULL = `
id: node0
listen: 127.0.0.1:26700
peers:
  - id: node0
    address: 127.0.0.1:26700
  - id: node1
    address: 127.0.0.1:26701
  - id: node2
    address: "[::1]:26702"
join: false
dataDir: data
tls:
  ca: tls/ca.pem
  cert: tls/node.pem
  key: /etc/raft-signer/node.key
raft:
  heartbeatMs: 100
  electionTimeoutMs: 1000
  snapshotEntries: 5000
  maxAppendEntries: 128
  maxInflightAppends: 32
signing:
  deadlineMs: 2500
chains:
  - chainId: my-chain-1
    keyFile: priv_validator_key.json
    passphraseEnv: RAFT_SIGNER_PASSPHRASE
    validatorAddrs: ["unix:///tmp/v/val0.sock", "tcp://0123456789abcdef0123456789abcdef01234567@10.0.0.5:26659"]
  - chainId: other-2
    keyFile: keys/other.json
    passphraseFile: secrets/pass
metrics:
  listen: 127.0.0.1:26780
logLevel: debug
revokedCertificates:
  - serial: "4F:1C:02"
    comment: node1's old certificate
  - sha256: "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89"
`;

const MINIMAL = `
id: node0
listen: 0.0.0.0:26700
peers:
  - {id: node0, address: "signer0.example.com:26700"}
tls: {ca: ca.pem, cert: node.pem, key: node.key}
`;

/** The minimal config with `patch` merged in (top level), as YAML text. */
function minimalWith(patch: Record<string, unknown>): string {
  return YAML.stringify({ ...(YAML.parse(MINIMAL) as object), ...patch });
}

function problemsOf(text: string): string {
  let caught: unknown;
  try {
    parseNodeConfig(text, 'config.yaml', '/home/signer');
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ConfigError);
  return (caught as Error).message;
}

function expectRefused(text: string, expected: string): void {
  const message = problemsOf(text);
  expect(message.split('\n')).toContain(`config.yaml: ${expected}`);
}

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-config-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('parseNodeConfig', () => {
  it('reads every field, resolving relative paths against the home', () => {
    const config = parseNodeConfig(FULL, 'config.yaml', '/home/signer');
    expect(config).toEqual<NodeConfig>({
      home: '/home/signer',
      id: 'node0',
      listen: '127.0.0.1:26700',
      peers: [
        { id: 'node0', address: '127.0.0.1:26700' },
        { id: 'node1', address: '127.0.0.1:26701' },
        { id: 'node2', address: '[::1]:26702' },
      ],
      join: false,
      dataDir: '/home/signer/data',
      tls: { ca: '/home/signer/tls/ca.pem', cert: '/home/signer/tls/node.pem', key: '/etc/raft-signer/node.key' },
      raft: { heartbeatMs: 100, electionTimeoutMs: 1000, snapshotEntries: 5000, maxAppendEntries: 128, maxInflightAppends: 32 },
      signing: { deadlineMs: 2500 },
      chains: [
        {
          chainId: 'my-chain-1',
          keyFile: '/home/signer/priv_validator_key.json',
          passphraseEnv: 'RAFT_SIGNER_PASSPHRASE',
          validatorAddrs: ['unix:///tmp/v/val0.sock', 'tcp://0123456789abcdef0123456789abcdef01234567@10.0.0.5:26659'],
        },
        { chainId: 'other-2', keyFile: '/home/signer/keys/other.json', passphraseFile: '/home/signer/secrets/pass', validatorAddrs: [] },
      ],
      metrics: { listen: '127.0.0.1:26780' },
      logLevel: 'debug',
      revokedCertificates: {
        serials: ['4F:1C:02'],
        sha256: ['AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89'],
      },
    });
  });

  it('applies the defaults to a minimal file', () => {
    const config = parseNodeConfig(MINIMAL, 'config.yaml', '/h');
    expect(config.join).toBe(false);
    expect(config.dataDir).toBe('/h/data');
    expect(config.raft).toEqual({ heartbeatMs: 50, electionTimeoutMs: 500, snapshotEntries: 10000, maxAppendEntries: 256, maxInflightAppends: 64 });
    expect(config.signing).toEqual({ deadlineMs: 3000 });
    expect(config.chains).toEqual([]);
    expect(config.metrics).toBeUndefined();
    expect(config.logLevel).toBe('info');
    expect(config.revokedCertificates).toEqual({ serials: [], sha256: [] });
  });

  it('fills the raft fields left out of a partial raft block', () => {
    const config = parseNodeConfig(minimalWith({ raft: { heartbeatMs: 20 } }), 'config.yaml', '/h');
    expect(config.raft).toEqual({ ...DEFAULT_RAFT_CONFIG, heartbeatMs: 20 });
  });

  it('collects several problems into one error', () => {
    const message = problemsOf(minimalWith({ raft: { heartbeat: 5, heartbeatMs: 0 }, bogus: 1 }));
    expect(message).toContain('config.yaml: unknown field "raft.heartbeat"');
    expect(message).toContain('config.yaml: raft.heartbeatMs must be an integer >= 1 (got 0)');
    expect(message).toContain('config.yaml: unknown field "bogus"');
  });

  describe('refuses, naming the field', () => {
    const peers3 = [
      { id: 'node0', address: '127.0.0.1:26700' },
      { id: 'node1', address: '127.0.0.1:26701' },
      { id: 'node1', address: '127.0.0.1:26702' },
    ];
    const chain = { chainId: 'c-1', keyFile: 'k.json' };
    const cases: Array<[string, string, string]> = [
      ['an empty file', '', 'the file is empty: it must set at least id, listen, peers and tls'],
      ['a list instead of a mapping', '- a\n- b\n', 'the file must be a YAML mapping with at least id, listen, peers and tls'],
      ['YAML syntax errors', 'id: [\n', 'YAML syntax: Flow sequence in block collection must be sufficiently indented and end with a ] at line 2, column 1'],
      ['duplicate keys', MINIMAL + 'id: node1\n', 'YAML syntax: Map keys must be unique at line 7, column 1'],
      ['an unknown top-level field', minimalWith({ peer: [] }), 'unknown field "peer"'],
      ['an unknown nested field', minimalWith({ raft: { heartbeat: 5 } }), 'unknown field "raft.heartbeat"'],
      ['an unknown field in a list item', minimalWith({ chains: [{ ...chain, keyfile: 'x' }] }), 'unknown field "chains[0].keyfile"'],
      ['a missing id', minimalWith({ id: undefined }), 'missing field "id"'],
      ['a missing tls.key', minimalWith({ tls: { ca: 'a', cert: 'b' } }), 'missing field "tls.key"'],
      ['a missing peer address', minimalWith({ peers: [{ id: 'node0' }] }), 'missing field "peers[0].address"'],
      ['a missing chain keyFile', minimalWith({ chains: [{ chainId: 'c' }] }), 'missing field "chains[0].keyFile"'],
      ['a zero heartbeat', minimalWith({ raft: { heartbeatMs: 0 } }), 'raft.heartbeatMs must be an integer >= 1 (got 0)'],
      ['a fractional heartbeat', minimalWith({ raft: { heartbeatMs: 1.5 } }), 'raft.heartbeatMs must be an integer >= 1 (got 1.5)'],
      ['a string snapshotEntries', minimalWith({ raft: { snapshotEntries: '10' } }), 'raft.snapshotEntries must be an integer >= 1 (got "10")'],
      ['a timer beyond setTimeout', minimalWith({ raft: { electionTimeoutMs: 2 ** 31 } }), 'raft.electionTimeoutMs must be an integer <= 2147483647 (got 2147483648)'],
      ['zero maxAppendEntries', minimalWith({ raft: { maxAppendEntries: 0 } }), 'raft.maxAppendEntries must be an integer >= 1 (got 0)'],
      ['negative maxInflightAppends', minimalWith({ raft: { maxInflightAppends: -1 } }), 'raft.maxInflightAppends must be an integer >= 1 (got -1)'],
      [
        'a deadline at the validator timeout',
        minimalWith({ signing: { deadlineMs: 5000 } }),
        'signing.deadlineMs must be an integer from 1 to 4999: the validator node stops reading an answer after 5000 ms (got 5000)',
      ],
      [
        'an election timeout under 3 heartbeats',
        minimalWith({ raft: { heartbeatMs: 100, electionTimeoutMs: 250 } }),
        'raft.electionTimeoutMs 250 must be at least 3 × raft.heartbeatMs 100 = 300',
      ],
      [
        'a heartbeat too long for the default election timeout',
        minimalWith({ raft: { heartbeatMs: 200 } }),
        'raft.electionTimeoutMs 500 (the default) must be at least 3 × raft.heartbeatMs 200 = 600',
      ],
      ['a join that is not boolean', minimalWith({ join: 'yes' }), 'join must be true or false (got "yes")'],
      ['a join with nobody to join', minimalWith({ join: true }), 'join is true but peers lists no other node to join'],
      ['an unknown log level', minimalWith({ logLevel: 'verbose' }), 'logLevel must be one of error, warn, info, debug (got "verbose")'],
      ['a bad node id', minimalWith({ id: 'node 0' }), `id must be a node id: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit (got "node 0")`],
      ['a numeric node id', minimalWith({ id: 7 }), `id must be a node id: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit (got 7)`],
      ['no peers', minimalWith({ peers: [] }), 'peers must be a list of every cluster member (this node included), each {id, address}'],
      ['an id not among the peers', minimalWith({ id: 'node5' }), 'id "node5" is not among peers[].id (node0): list this node in peers too'],
      ['a duplicate peer id', minimalWith({ peers: peers3 }), 'peers[2].id "node1" is a duplicate of peers[1].id'],
      [
        'a duplicate peer address',
        minimalWith({ peers: [{ id: 'node0', address: 'h:1' }, { id: 'node1', address: 'H:01' }] }),
        'peers[1].address "H:01" is a duplicate of peers[0].address',
      ],
      ['a listen without a port', minimalWith({ listen: 'localhost' }), 'listen "localhost" is not host:port (such as 127.0.0.1:26700; IPv6 in brackets, port 1 to 65535)'],
      ['a peer address with port 0', minimalWith({ peers: [{ id: 'node0', address: '10.0.0.1:0' }] }), 'peers[0].address "10.0.0.1:0" is not host:port (such as 127.0.0.1:26700; IPv6 in brackets, port 1 to 65535)'],
      ['an empty listen', minimalWith({ listen: '' }), 'listen must be host:port (such as 127.0.0.1:26700, or [::1]:26700 for IPv6) (got "")'],
      ['a metrics listen that is not host:port', minimalWith({ metrics: { listen: ':9090' } }), 'metrics.listen ":9090" is not host:port (such as 127.0.0.1:26700; IPv6 in brackets, port 1 to 65535)'],
      ['a metrics listen equal to listen', minimalWith({ metrics: { listen: '0.0.0.0:26700' } }), 'metrics.listen "0.0.0.0:26700" is the same as listen: use another port'],
      ['a missing metrics listen', minimalWith({ metrics: {} }), 'missing field "metrics.listen"'],
      ['a duplicate chain id', minimalWith({ chains: [chain, { ...chain, keyFile: 'k2.json' }] }), 'chains[1].chainId "c-1" is a duplicate of chains[0].chainId'],
      ['an empty chain id', minimalWith({ chains: [{ ...chain, chainId: '' }] }), 'chains[0].chainId must be a chain id of 1 to 50 characters (got "")'],
      ['a chain id over 50 characters', minimalWith({ chains: [{ ...chain, chainId: 'c'.repeat(51) }] }), `chains[0].chainId must be a chain id of 1 to 50 characters (got "${'c'.repeat(51)}")`],
      [
        'both passphrase sources',
        minimalWith({ chains: [{ ...chain, passphraseEnv: 'P', passphraseFile: 'p' }] }),
        'chains[0]: passphraseEnv and passphraseFile are mutually exclusive: set one of them',
      ],
      [
        'a bad environment variable name',
        minimalWith({ chains: [{ ...chain, passphraseEnv: '1PASS' }] }),
        'chains[0].passphraseEnv must be an environment variable name (letters, digits and _, not starting with a digit) (got "1PASS")',
      ],
      [
        'a validator address without a scheme',
        minimalWith({ chains: [{ ...chain, validatorAddrs: ['127.0.0.1:26659'] }] }),
        'chains[0].validatorAddrs[0] "127.0.0.1:26659" is not a privval address: it must start with tcp:// or unix://',
      ],
      [
        'a relative unix socket',
        minimalWith({ chains: [{ ...chain, validatorAddrs: ['unix://val.sock'] }] }),
        'chains[0].validatorAddrs[0] "unix://val.sock" is not a privval address: a unix socket path must be absolute (unix:///path/to/socket)',
      ],
      [
        'a tcp address with a bad node id',
        minimalWith({ chains: [{ ...chain, validatorAddrs: ['tcp://abc@1.2.3.4:5'] }] }),
        'chains[0].validatorAddrs[0] "tcp://abc@1.2.3.4:5" is not a privval address: its node id (before @) must be 40 hex digits',
      ],
      [
        'a duplicate validator address across chains',
        minimalWith({
          chains: [
            { ...chain, validatorAddrs: ['unix:///v.sock'] },
            { chainId: 'c-2', keyFile: 'k2', validatorAddrs: ['unix:///v.sock'] },
          ],
        }),
        'chains[1].validatorAddrs[0] "unix:///v.sock" is a duplicate of chains[0].validatorAddrs[0]: a validator address belongs to one chain',
      ],
      [
        'one validator node under two spellings, for two chains',
        minimalWith({
          chains: [
            { ...chain, validatorAddrs: ['tcp://Val.example:26659'] },
            { chainId: 'c-2', keyFile: 'k2', validatorAddrs: [`tcp://${'ab'.repeat(20)}@val.example:26659`, 'unix:///run/./v.sock', 'unix:///run/v.sock'] },
          ],
        }),
        `chains[1].validatorAddrs[0] "tcp://${'ab'.repeat(20)}@val.example:26659" is a duplicate of chains[0].validatorAddrs[0]: a validator address belongs to one chain`,
      ],
      [
        'one socket under two spellings',
        minimalWith({ chains: [{ ...chain, validatorAddrs: ['unix:///run/./v.sock', 'unix:///run/v.sock'] }] }),
        'chains[0].validatorAddrs[1] "unix:///run/v.sock" is a duplicate of chains[0].validatorAddrs[0]: a validator address belongs to one chain',
      ],
      ['a non-list validatorAddrs', minimalWith({ chains: [{ ...chain, validatorAddrs: 'unix:///v.sock' }] }), 'chains[0].validatorAddrs must be a list of privval addresses (tcp://[id@]host:port or unix:///path) (got "unix:///v.sock")'],
      ['an empty dataDir', minimalWith({ dataDir: '' }), 'dataDir must be a non-empty directory path (got "")'],
      [
        'a revoked serial that YAML read as a number',
        minimalWith({ revokedCertificates: [{ serial: 1234 }] }),
        'revokedCertificates[0].serial must be a certificate serial number: 1 to 40 hex digits, colons allowed, in quotes (openssl x509 -noout -serial -in CERT prints it after serial=) (got 1234)',
      ],
      [
        'a revoked serial that is not hex',
        minimalWith({ revokedCertificates: [{ serial: 'node1' }] }),
        'revokedCertificates[0].serial must be a certificate serial number: 1 to 40 hex digits, colons allowed, in quotes (openssl x509 -noout -serial -in CERT prints it after serial=) (got "node1")',
      ],
      [
        'a fingerprint that is not SHA-256',
        minimalWith({ revokedCertificates: [{ sha256: 'ab'.repeat(20) }] }),
        `revokedCertificates[0].sha256 must be a SHA-256 certificate fingerprint: 64 hex digits, colons allowed (openssl x509 -noout -fingerprint -sha256 -in CERT) (got "${'ab'.repeat(20)}")`,
      ],
      ['a revoked entry with neither', minimalWith({ revokedCertificates: [{ comment: 'x' }] }), 'revokedCertificates[0] must set exactly one of serial and sha256'],
      [
        'a revoked entry with both',
        minimalWith({ revokedCertificates: [{ serial: '01', sha256: 'ab'.repeat(32) }] }),
        'revokedCertificates[0] must set exactly one of serial and sha256',
      ],
      ['an unknown field in a revoked entry', minimalWith({ revokedCertificates: [{ serial: '01', cn: 'node1' }] }), 'unknown field "revokedCertificates[0].cn"'],
    ];
    it.each(cases)('%s', (_name, text, expected) => expectRefused(text, expected));
  });
});

describe('parseHostPort', () => {
  it.each([
    ['127.0.0.1:26700', '127.0.0.1', 26700],
    ['localhost:1', 'localhost', 1],
    ['signer-0.example.com:65535', 'signer-0.example.com', 65535],
    ['[::1]:26700', '::1', 26700],
    ['[2001:db8::7]:443', '2001:db8::7', 443],
    ['raft_signer_0:26700', 'raft_signer_0', 26700],
  ])('accepts %s', (text, host, port) => {
    expect(parseHostPort(text)).toEqual({ host, port });
  });

  it.each(['localhost', ':26700', 'host:', 'host:0', 'host:65536', '::1:26700', '[::1]', '[nothex]:1', '[127.0.0.1]:1', '999.1.1.1:80', 'a b:1', 'tcp://h:1', '-bad-.com:1', 'h:1:2'])(
    'refuses %s',
    (text) => {
      expect(parseHostPort(text)).toBeNull();
    },
  );
});

describe('validatorAddressProblem', () => {
  it('accepts tcp and unix addresses', () => {
    expect(validatorAddressProblem('tcp://127.0.0.1:26659')).toBeNull();
    expect(validatorAddressProblem('tcp://[::1]:26659')).toBeNull();
    expect(validatorAddressProblem('unix:///var/run/val.sock')).toBeNull();
  });
  it('refuses a unix socket path longer than the system allows', () => {
    expect(validatorAddressProblem('unix:///' + 'a'.repeat(107))).toMatch(/108 bytes; the system allows at most 107/);
    expect(validatorAddressProblem('unix:///' + 'a'.repeat(106))).toBeNull();
  });
  it('refuses a tcp address without a port', () => {
    expect(validatorAddressProblem('tcp://127.0.0.1')).toBe('"127.0.0.1" is not host:port');
  });
});

describe('loadNodeConfig / writeNodeConfig', () => {
  it('says how to create a missing config file', () => {
    const file = path.join(dir, 'config.yaml');
    expect(() => loadNodeConfig(dir)).toThrow(ConfigError);
    expect(() => loadNodeConfig(dir)).toThrow(`config file ${file} not found: create it with raft-signer testnet or by hand`);
  });

  it('names the full path of the file in every message', () => {
    fs.writeFileSync(path.join(dir, 'config.yaml'), minimalWith({ raft: { heartbeatMs: 0 } }));
    expect(() => loadNodeConfig(dir)).toThrow(`${path.join(dir, 'config.yaml')}: raft.heartbeatMs must be an integer >= 1 (got 0)`);
  });

  it('round-trips a file-shaped config, keeping it minimal', () => {
    const file = parseNodeConfigFile(FULL, 'config.yaml');
    const written = writeNodeConfig(dir, file);
    expect(written).toBe(path.join(dir, 'config.yaml'));
    expect(parseNodeConfigFile(fs.readFileSync(written, 'utf8'), 'x')).toEqual(file);
    expect(loadNodeConfig(dir)).toEqual(parseNodeConfig(FULL, 'config.yaml', dir));
  });

  it('round-trips a loaded config, writing paths inside the home relative to it', () => {
    const loaded = parseNodeConfig(FULL, 'config.yaml', dir);
    writeNodeConfig(dir, loaded);
    const text = fs.readFileSync(path.join(dir, 'config.yaml'), 'utf8');
    expect(text).not.toContain(dir);
    expect(text).toContain('key: /etc/raft-signer/node.key');
    expect(loadNodeConfig(dir)).toEqual(loaded);
    // The home moves as a whole.
    const moved = path.join(dir, 'moved');
    fs.mkdirSync(moved);
    fs.copyFileSync(path.join(dir, 'config.yaml'), path.join(moved, 'config.yaml'));
    expect(loadNodeConfig(moved).dataDir).toBe(path.join(moved, 'data'));
  });

  it('names in its header only files that exist in the source tree, and the example there parses', () => {
    const home = path.join(dir, 'header-home');
    writeNodeConfig(home, parseNodeConfigFile(MINIMAL, 'x'));
    const header = fs.readFileSync(path.join(home, 'config.yaml'), 'utf8').split('\n').filter((l) => l.startsWith('#')).join('\n');
    const named = header.match(/[\w./-]+\.(?:ya?ml|md|ts)\b/g) ?? [];
    expect(named.length).toBeGreaterThan(0);
    const root = path.join(__dirname, '..', '..');
    for (const f of named) expect(fs.existsSync(path.join(root, f)) ? f : `missing: ${f}`).toBe(f);
    expect(() => parseNodeConfigFile(fs.readFileSync(path.join(root, 'deploy', 'config.example.yaml'), 'utf8'), 'deploy/config.example.yaml')).not.toThrow();
  });

  it('creates a missing home owner-only', () => {
    const home = path.join(dir, 'new-home');
    writeNodeConfig(home, parseNodeConfigFile(MINIMAL, 'x'));
    expect(fs.statSync(home).mode & 0o777).toBe(0o700);
    expect(loadNodeConfig(home).id).toBe('node0');
  });

  it('refuses to write a config it would refuse to load, and writes nothing', () => {
    const bad: NodeConfigFile = { ...parseNodeConfigFile(MINIMAL, 'x'), id: 'nobody' };
    expect(() => writeNodeConfig(dir, bad)).toThrow('id "nobody" is not among peers[].id');
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('refuses to overwrite an existing config unless asked', () => {
    const config = parseNodeConfigFile(MINIMAL, 'x');
    writeNodeConfig(dir, config);
    expect(() => writeNodeConfig(dir, { ...config, logLevel: 'warn' })).toThrow(/already exists/);
    expect(loadNodeConfig(dir).logLevel).toBe('info');
    writeNodeConfig(dir, { ...config, logLevel: 'warn' }, { overwrite: true });
    expect(loadNodeConfig(dir).logLevel).toBe('warn');
    expect(fs.readdirSync(dir)).toEqual(['config.yaml']);
  });
});
