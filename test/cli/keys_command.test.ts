// `raft-signer keys import` and `keys show`, driven through runCli as an operator would run them:
// what import writes (owner-only key file, config entry, every other field and comment kept), what
// it refuses (loose permissions, another key without --force, bad options), that importing again
// changes nothing, and that no output ever carries the private key.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { configFilePath, loadNodeConfig, writeNodeConfig } from '../../src/config/node_config';
import { loadValidatorKeyFile } from '../../src/keys/encrypted_key_file';
import { loadPlainValidatorKeyFile, ValidatorKey, writePlainValidatorKeyFile } from '../../src/keys/validator_key';
import { chainKeyFileName } from '../../src/cli/keys_command';
import { runCli } from '../../src/cli/main';
import { createTestnet } from '../../src/testnet/testnet';

const PASSPHRASE_ENV = 'RAFT_SIGNER_KEYS_TEST_PASSPHRASE';
const CHAIN = 'test-chain-1';

let tmp: string;
let home: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'raft-signer-keys-'));
  home = path.join(tmp, 'node0');
  writeMinimalConfig(home);
});
afterEach(() => {
  delete process.env[PASSPHRASE_ENV];
  fs.rmSync(tmp, { recursive: true, force: true });
});

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `raft-signer ARGS` in this process, capturing what it writes. */
async function cli(...args: string[]): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const out = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  });
  const err = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  });
  try {
    const code = await runCli(['node', 'raft-signer', ...args]);
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

/** A one-node config with a few non-default fields and comments, and no chain. */
function writeMinimalConfig(dir: string): void {
  writeNodeConfig(dir, {
    id: 'node0',
    listen: '127.0.0.1:26700',
    peers: [{ id: 'node0', address: '127.0.0.1:26700' }],
    tls: { ca: 'tls/ca.pem', cert: 'tls/node.pem', key: 'tls/node.key' },
    raft: { heartbeatMs: 100, electionTimeoutMs: 1000 },
    metrics: { listen: '127.0.0.1:9100' },
    logLevel: 'debug',
  });
  fs.appendFileSync(configFilePath(dir), '# operator note: keep this comment\n');
}

/** A fresh key written as a CometBFT priv_validator_key.json (0600); returns the key and its private value. */
function newKeyFile(name: string): { key: ValidatorKey; file: string; secretB64: string; seedHex: string } {
  const key = ValidatorKey.generate();
  const file = path.join(tmp, name);
  writePlainValidatorKeyFile(file, key);
  const json = JSON.parse(fs.readFileSync(file, 'utf8')) as { priv_key: { value: string } };
  const seed = key.exportSecretSeed();
  const seedHex = seed.toString('hex');
  seed.fill(0);
  return { key, file, secretB64: json.priv_key.value, seedHex };
}

function expectNoSecret(run: CliRun, secret: { secretB64: string; seedHex: string }): void {
  for (const text of [run.stdout, run.stderr]) {
    expect(text).not.toContain(secret.secretB64);
    expect(text.toLowerCase()).not.toContain(secret.seedHex);
    // Neither half of the 64-byte value on its own (the seed, base64-encoded).
    expect(text).not.toContain(Buffer.from(secret.seedHex, 'hex').toString('base64'));
  }
}

function mode(file: string): number {
  return fs.statSync(file).mode & 0o777;
}

function hexOf(key: ValidatorKey): string {
  return Buffer.from(key.publicKey).toString('hex').toUpperCase();
}

describe('chainKeyFileName', () => {
  it('keeps safe chain ids as they are and makes the others safe and distinct', () => {
    expect(chainKeyFileName('cosmoshub-4')).toBe('cosmoshub-4.json');
    expect(chainKeyFileName('osmo_1.test')).toBe('osmo_1.test.json');
    const slash = chainKeyFileName('cosmos/hub:4');
    expect(slash).toMatch(/^cosmos_hub_4-[0-9a-f]{8}\.json$/);
    // Same replaced form, different chain ids: different files.
    expect(chainKeyFileName('cosmos:hub/4')).toMatch(/^cosmos_hub_4-[0-9a-f]{8}\.json$/);
    expect(chainKeyFileName('cosmos:hub/4')).not.toBe(slash);
    expect(chainKeyFileName('..')).toMatch(/^_\.-[0-9a-f]{8}\.json$/);
    expect(chainKeyFileName('../../etc/passwd')).not.toContain('/');
    expect(chainKeyFileName('链')).toMatch(/^_-[0-9a-f]{8}\.json$/);
  });
});

describe('keys import, plain', () => {
  it('copies the key into keys/<chain>.json (0600 in a 0700 directory), adds the chain and keeps the rest of config.yaml', async () => {
    const source = newKeyFile('priv_validator_key.json');
    const before = loadNodeConfig(home);
    const run = await cli('keys', 'import', '--home', home, '--chain-id', CHAIN, '--key-file', source.file, '--validator-addr', 'tcp://127.0.0.1:26659');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);

    const keyFile = path.join(home, 'keys', `${CHAIN}.json`);
    expect(mode(keyFile)).toBe(0o600);
    expect(mode(path.join(home, 'keys'))).toBe(0o700);
    expect(loadPlainValidatorKeyFile(keyFile).equals(source.key)).toBe(true);

    const after = loadNodeConfig(home);
    expect(after.chains).toEqual([{ chainId: CHAIN, keyFile, validatorAddrs: ['tcp://127.0.0.1:26659'] }]);
    expect({ ...after, chains: [] }).toEqual({ ...before, chains: [] });
    expect(after.raft.heartbeatMs).toBe(100);
    expect(after.metrics).toEqual({ listen: '127.0.0.1:9100' });
    expect(after.logLevel).toBe('debug');
    const text = fs.readFileSync(configFilePath(home), 'utf8');
    expect(text).toContain('# operator note: keep this comment');
    expect(text).toContain('keyFile: keys/test-chain-1.json');

    // What was done: chain, address, public key in both forms, the file, the reminder.
    expect(run.stdout).toContain(CHAIN);
    expect(run.stdout).toContain(source.key.address);
    expect(run.stdout).toContain(source.key.publicKeyBase64);
    expect(run.stdout).toContain(hexOf(source.key));
    expect(run.stdout).toContain(keyFile);
    expect(run.stdout).toContain(`Every node of the cluster needs the same key for chain ${CHAIN}`);
    expectNoSecret(run, source);
  });

  it('derives a safe file name for a chain id with unsafe characters', async () => {
    const source = newKeyFile('k.json');
    const run = await cli('keys', 'import', '--home', home, '--chain-id', 'cosmos/hub:4', '--key-file', source.file);
    expect(run.code).toBe(0);
    const keyFile = path.join(home, 'keys', chainKeyFileName('cosmos/hub:4'));
    expect(loadNodeConfig(home).chains).toEqual([{ chainId: 'cosmos/hub:4', keyFile, validatorAddrs: [] }]);
    expect(fs.readdirSync(path.join(home, 'keys'))).toEqual([path.basename(keyFile)]);
    // No validator address yet: the output says how to add one.
    expect(run.stdout).toContain('has no validator address');
  });

  it('refuses a key file that group or others can read, saying chmod 600 FILE, and writes nothing', async () => {
    const source = newKeyFile('loose.json');
    fs.chmodSync(source.file, 0o644);
    const configBefore = fs.readFileSync(configFilePath(home), 'utf8');
    const run = await cli('keys', 'import', '--home', home, '--chain-id', CHAIN, '--key-file', source.file);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^error: [^\n]*\n$/);
    expect(run.stderr).toContain(`chmod 600 ${source.file}`);
    expect(fs.readFileSync(configFilePath(home), 'utf8')).toBe(configBefore);
    expect(fs.existsSync(path.join(home, 'keys'))).toBe(false);
  });

  it('refuses a file that is not a key, without quoting it', async () => {
    const file = path.join(tmp, 'not-a-key.json');
    fs.writeFileSync(file, '{"secret": "do-not-print-me"', { mode: 0o600 });
    const run = await cli('keys', 'import', '--home', home, '--chain-id', CHAIN, '--key-file', file);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error: key file .* is not valid JSON[^\n]*\n$/);
    expect(run.stderr).not.toContain('do-not-print-me');
  });

  it('refuses a home without config.yaml', async () => {
    const source = newKeyFile('k.json');
    const run = await cli('keys', 'import', '--home', path.join(tmp, 'nowhere'), '--chain-id', CHAIN, '--key-file', source.file);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error: config file .* not found/);
  });
});

describe('keys import, encrypted', () => {
  it('with --passphrase-env: writes an encrypted file that the passphrase opens to the same key, and configures passphraseEnv', async () => {
    const source = newKeyFile('k.json');
    process.env[PASSPHRASE_ENV] = 'correct horse battery staple';
    const run = await cli('keys', 'import', '--home', home, '--chain-id', CHAIN, '--key-file', source.file, '--encrypt', '--passphrase-env', PASSPHRASE_ENV);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const keyFile = path.join(home, 'keys', `${CHAIN}.json`);
    expect(mode(keyFile)).toBe(0o600);
    const content = fs.readFileSync(keyFile, 'utf8');
    expect(content).toContain('raft-signer/encrypted-validator-key');
    expect(content).not.toContain(source.secretB64);

    const chain = loadNodeConfig(home).chains[0];
    expect(chain).toEqual({ chainId: CHAIN, keyFile, passphraseEnv: PASSPHRASE_ENV, validatorAddrs: [] });
    const loaded = await loadValidatorKeyFile(chain.keyFile, { passphrase: { env: PASSPHRASE_ENV } });
    expect(loaded.publicKeyBase64).toBe(source.key.publicKeyBase64);
    expect(run.stdout).toContain(`environment variable ${PASSPHRASE_ENV}`);
    expectNoSecret(run, source);
  });

  it('with --passphrase-file: configures the file (relative when inside the home)', async () => {
    const source = newKeyFile('k.json');
    const passFile = path.join(home, 'passphrase.txt');
    fs.writeFileSync(passFile, 'a file passphrase\n', { mode: 0o600 });
    const run = await cli('keys', 'import', '--home', home, '--chain-id', CHAIN, '--key-file', source.file, '--encrypt', '--passphrase-file', passFile);
    expect(run.code).toBe(0);
    const chain = loadNodeConfig(home).chains[0];
    expect(chain.passphraseFile).toBe(passFile);
    expect(chain.passphraseEnv).toBeUndefined();
    expect(fs.readFileSync(configFilePath(home), 'utf8')).toContain('passphraseFile: passphrase.txt');
    const loaded = await loadValidatorKeyFile(chain.keyFile, { passphrase: { file: passFile } });
    expect(loaded.equals(source.key)).toBe(true);
  });

  it('refuses when the passphrase variable is not set, writing nothing', async () => {
    const source = newKeyFile('k.json');
    const run = await cli('keys', 'import', '--home', home, '--chain-id', CHAIN, '--key-file', source.file, '--encrypt', '--passphrase-env', PASSPHRASE_ENV);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(new RegExp(`^error: environment variable ${PASSPHRASE_ENV} is not set[^\\n]*\\n$`));
    expect(loadNodeConfig(home).chains).toEqual([]);
    expect(fs.existsSync(path.join(home, 'keys'))).toBe(false);
  });

  it('refuses a passphrase file others can read', async () => {
    const source = newKeyFile('k.json');
    const passFile = path.join(tmp, 'pass.txt');
    fs.writeFileSync(passFile, 'pw\n', { mode: 0o644 });
    fs.chmodSync(passFile, 0o644);
    const run = await cli('keys', 'import', '--home', home, '--chain-id', CHAIN, '--key-file', source.file, '--encrypt', '--passphrase-file', passFile);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`chmod 600 ${passFile}`);
  });

  it('re-encrypts the same key when the passphrase changed, without --force', async () => {
    const source = newKeyFile('k.json');
    const args = ['keys', 'import', '--home', home, '--chain-id', CHAIN, '--key-file', source.file, '--encrypt', '--passphrase-env', PASSPHRASE_ENV];
    process.env[PASSPHRASE_ENV] = 'first passphrase';
    expect((await cli(...args)).code).toBe(0);
    process.env[PASSPHRASE_ENV] = 'second passphrase';
    const run = await cli(...args);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('same key as before');
    const loaded = await loadValidatorKeyFile(path.join(home, 'keys', `${CHAIN}.json`), { passphrase: { env: PASSPHRASE_ENV } });
    expect(loaded.equals(source.key)).toBe(true);
    expect(fs.readdirSync(path.join(home, 'keys'))).toEqual([`${CHAIN}.json`]);
  });
});

describe('keys import, again', () => {
  it('importing the same key again is a no-op success: config and key file untouched', async () => {
    const source = newKeyFile('k.json');
    const args = ['keys', 'import', '--home', home, '--chain-id', CHAIN, '--key-file', source.file, '--validator-addr', 'tcp://127.0.0.1:26659'];
    expect((await cli(...args)).code).toBe(0);
    const keyFile = path.join(home, 'keys', `${CHAIN}.json`);
    const configText = fs.readFileSync(configFilePath(home), 'utf8');
    const keyText = fs.readFileSync(keyFile, 'utf8');
    const keyIno = fs.statSync(keyFile).ino;

    for (const again of [args, args.slice(0, -2)]) {
      const run = await cli(...again);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('nothing changed');
      expect(run.stdout).toContain(source.key.address);
      expect(fs.readFileSync(configFilePath(home), 'utf8')).toBe(configText);
      expect(fs.readFileSync(keyFile, 'utf8')).toBe(keyText);
      expect(fs.statSync(keyFile).ino).toBe(keyIno);
    }
  });

  it('the same encrypted key again is a no-op too', async () => {
    const source = newKeyFile('k.json');
    process.env[PASSPHRASE_ENV] = 'pw';
    const args = ['keys', 'import', '--home', home, '--chain-id', CHAIN, '--key-file', source.file, '--encrypt', '--passphrase-env', PASSPHRASE_ENV];
    expect((await cli(...args)).code).toBe(0);
    const keyText = fs.readFileSync(path.join(home, 'keys', `${CHAIN}.json`), 'utf8');
    const run = await cli(...args);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('nothing changed');
    expect(fs.readFileSync(path.join(home, 'keys', `${CHAIN}.json`), 'utf8')).toBe(keyText);
  });

  it('same key with new validator addresses: updates only those', async () => {
    const source = newKeyFile('k.json');
    const base = ['keys', 'import', '--home', home, '--chain-id', CHAIN, '--key-file', source.file];
    expect((await cli(...base, '--validator-addr', 'tcp://127.0.0.1:26659')).code).toBe(0);
    const run = await cli(...base, '--validator-addr', 'tcp://127.0.0.1:26660', '--validator-addr', 'unix:///tmp/val.sock');
    expect(run.code).toBe(0);
    expect(loadNodeConfig(home).chains[0].validatorAddrs).toEqual(['tcp://127.0.0.1:26660', 'unix:///tmp/val.sock']);
    expect(loadPlainValidatorKeyFile(loadNodeConfig(home).chains[0].keyFile).equals(source.key)).toBe(true);
  });

  it('refuses a different key for a configured chain without --force, naming the configured one by address', async () => {
    const first = newKeyFile('first.json');
    const second = newKeyFile('second.json');
    expect((await cli('keys', 'import', '--home', home, '--chain-id', CHAIN, '--key-file', first.file)).code).toBe(0);
    const configText = fs.readFileSync(configFilePath(home), 'utf8');
    const keyFile = path.join(home, 'keys', `${CHAIN}.json`);

    const refused = await cli('keys', 'import', '--home', home, '--chain-id', CHAIN, '--key-file', second.file);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/^error: [^\n]*--force\n$/);
    expect(refused.stderr).toContain(`validator address ${first.key.address}`);
    expect(refused.stderr).toContain(second.key.address);
    expectNoSecret(refused, first);
    expectNoSecret(refused, second);
    expect(fs.readFileSync(configFilePath(home), 'utf8')).toBe(configText);
    expect(loadPlainValidatorKeyFile(keyFile).equals(first.key)).toBe(true);

    // --force replaces it, and keeps the old key file as a backup rather than destroying it.
    const forced = await cli('keys', 'import', '--home', home, '--chain-id', CHAIN, '--key-file', second.file, '--force');
    expect(forced.stderr).toBe('');
    expect(forced.code).toBe(0);
    expect(forced.stdout).toContain(`it was the key with address ${first.key.address}`);
    expect(loadPlainValidatorKeyFile(keyFile).equals(second.key)).toBe(true);
    const backups = fs.readdirSync(path.join(home, 'keys')).filter((f) => f.includes('.replaced-'));
    expect(backups).toHaveLength(1);
    expect(loadPlainValidatorKeyFile(path.join(home, 'keys', backups[0])).equals(first.key)).toBe(true);
    expect(loadNodeConfig(home).chains).toHaveLength(1);
  });

  it('refuses a validator address another chain already uses, writing nothing', async () => {
    const a = newKeyFile('a.json');
    const b = newKeyFile('b.json');
    expect((await cli('keys', 'import', '--home', home, '--chain-id', 'chain-a', '--key-file', a.file, '--validator-addr', 'tcp://127.0.0.1:26659')).code).toBe(0);
    const configText = fs.readFileSync(configFilePath(home), 'utf8');
    const run = await cli('keys', 'import', '--home', home, '--chain-id', 'chain-b', '--key-file', b.file, '--validator-addr', 'tcp://127.0.0.1:26659');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error: the updated .* would not load, so nothing was written: .*duplicate[^\n]*\n$/);
    expect(fs.readFileSync(configFilePath(home), 'utf8')).toBe(configText);
    expect(fs.existsSync(path.join(home, 'keys', 'chain-b.json'))).toBe(false);
  });
});

describe('keys import, files in the way and failures', () => {
  it('refuses to write over a stray keys/<chain>.json holding another key unless --force, which keeps it as a backup', async () => {
    const stray = ValidatorKey.generate();
    const target = path.join(home, 'keys', `${CHAIN}.json`);
    writePlainValidatorKeyFile(target, stray);
    const source = newKeyFile('k.json');
    const refused = await cli('keys', 'import', '--home', home, '--chain-id', CHAIN, '--key-file', source.file);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`${target} already exists and holds another key (validator address ${stray.address})`);
    expect(loadNodeConfig(home).chains).toEqual([]);
    expect(loadPlainValidatorKeyFile(target).equals(stray)).toBe(true);

    const forced = await cli('keys', 'import', '--home', home, '--chain-id', CHAIN, '--key-file', source.file, '--force');
    expect(forced.code).toBe(0);
    expect(loadPlainValidatorKeyFile(target).equals(source.key)).toBe(true);
    const backups = fs.readdirSync(path.join(home, 'keys')).filter((f) => f.includes('.replaced-'));
    expect(backups).toHaveLength(1);
    expect(loadPlainValidatorKeyFile(path.join(home, 'keys', backups[0])).equals(stray)).toBe(true);
  });

  it('puts everything back when config.yaml cannot be written after the key file was', async () => {
    const first = newKeyFile('first.json');
    const second = newKeyFile('second.json');
    expect((await cli('keys', 'import', '--home', home, '--chain-id', CHAIN, '--key-file', first.file)).code).toBe(0);
    const configText = fs.readFileSync(configFilePath(home), 'utf8');
    const keyFile = path.join(home, 'keys', `${CHAIN}.json`);
    const realRename = fs.renameSync;
    const spy = jest.spyOn(fs, 'renameSync').mockImplementation((from, to) => {
      if (String(to) === configFilePath(home)) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
      realRename(from, to);
    });
    try {
      const run = await cli('keys', 'import', '--home', home, '--chain-id', CHAIN, '--key-file', second.file, '--force');
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/^error: cannot write .*config\.yaml: ENOSPC: no space left on device; nothing was changed\n$/);
    } finally {
      spy.mockRestore();
    }
    expect(fs.readFileSync(configFilePath(home), 'utf8')).toBe(configText);
    expect(loadPlainValidatorKeyFile(keyFile).equals(first.key)).toBe(true);
    expect(fs.readdirSync(path.join(home, 'keys'))).toEqual([`${CHAIN}.json`]);
    expect(fs.readdirSync(home).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

describe('keys import into a testnet home', () => {
  it('the testnet key for its chain is a no-op; with --encrypt it moves to keys/ encrypted and the old file is named', async () => {
    const summary = await createTestnet({
      nodes: 1,
      outDir: path.join(tmp, 'net'),
      chainId: CHAIN,
      validatorAddrTemplate: 'tcp://127.0.0.1:26659',
      warn: () => undefined,
    });
    const nodeHome = summary.nodes[0].home;
    const same = await cli('keys', 'import', '--home', nodeHome, '--chain-id', CHAIN, '--key-file', summary.validatorKeyFile);
    expect(same.code).toBe(0);
    expect(same.stdout).toContain('nothing changed');

    process.env[PASSPHRASE_ENV] = 'pw';
    const enc = await cli('keys', 'import', '--home', nodeHome, '--chain-id', CHAIN, '--key-file', summary.validatorKeyFile, '--encrypt', '--passphrase-env', PASSPHRASE_ENV);
    expect(enc.code).toBe(0);
    const chain = loadNodeConfig(nodeHome).chains[0];
    expect(chain.keyFile).toBe(path.join(nodeHome, 'keys', `${CHAIN}.json`));
    expect(chain.validatorAddrs).toEqual(['tcp://127.0.0.1:26659']);
    expect((await loadValidatorKeyFile(chain.keyFile, { passphrase: { env: PASSPHRASE_ENV } })).publicKeyBase64).toBe(summary.validatorPublicKey);
    expect(enc.stdout).toContain(path.join(nodeHome, 'priv_validator_key.json'));
  });
});

describe('keys import usage errors (exit 2)', () => {
  it('refuses --encrypt without a passphrase source, both sources, a source without --encrypt, and bad values', async () => {
    const source = newKeyFile('k.json');
    const base = ['keys', 'import', '--home', home, '--chain-id', CHAIN, '--key-file', source.file];
    const cases: [string[], RegExp][] = [
      [['--encrypt'], /--encrypt needs --passphrase-env/],
      [['--encrypt', '--passphrase-env', 'X', '--passphrase-file', '/tmp/p'], /cannot be used with/],
      [['--passphrase-env', 'X'], /go with --encrypt/],
      [['--encrypt', '--passphrase-env', '1BAD'], /environment variable name/],
      [['--validator-addr', 'http://x:1'], /not a privval address/],
    ];
    for (const [extra, message] of cases) {
      const run = await cli(...base, ...extra);
      expect([extra, run.code]).toEqual([extra, 2]);
      expect(run.stderr).toMatch(message);
    }
    const missing = await cli('keys', 'import', '--home', home, '--key-file', source.file);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("required option '--chain-id <id>' not specified");
    expect(loadNodeConfig(home).chains).toEqual([]);
  });
});

describe('keys show', () => {
  it('shows each chain in text and JSON, encrypted ones without the passphrase, and never the private key', async () => {
    const plain = newKeyFile('plain.json');
    const enc = newKeyFile('enc.json');
    expect((await cli('keys', 'import', '--home', home, '--chain-id', 'plain-chain', '--key-file', plain.file, '--validator-addr', 'tcp://127.0.0.1:26659')).code).toBe(0);
    process.env[PASSPHRASE_ENV] = 'pw';
    expect((await cli('keys', 'import', '--home', home, '--chain-id', 'enc-chain', '--key-file', enc.file, '--encrypt', '--passphrase-env', PASSPHRASE_ENV)).code).toBe(0);
    delete process.env[PASSPHRASE_ENV];

    const text = await cli('keys', 'show', '--home', home);
    expect(text.stderr).toBe('');
    expect(text.code).toBe(0);
    for (const [chainId, k] of [['plain-chain', plain], ['enc-chain', enc]] as const) {
      expect(text.stdout).toContain(`chain ${chainId}`);
      expect(text.stdout).toContain(k.key.address);
      expect(text.stdout).toContain(k.key.publicKeyBase64);
      expect(text.stdout).toContain(hexOf(k.key));
      expect(text.stdout).toContain(path.join(home, 'keys', `${chainId}.json`));
      expectNoSecret(text, k);
    }
    expect(text.stdout).toContain(`yes, passphrase from environment variable ${PASSPHRASE_ENV}`);

    const json = await cli('keys', 'show', '--home', home, '--json');
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout) as { home: string; chains: Record<string, unknown>[] };
    expect(parsed).toEqual({
      home,
      chains: [
        {
          chainId: 'plain-chain',
          keyFile: path.join(home, 'keys', 'plain-chain.json'),
          encrypted: false,
          address: plain.key.address,
          publicKeyBase64: plain.key.publicKeyBase64,
          publicKeyHex: hexOf(plain.key),
          validatorAddrs: ['tcp://127.0.0.1:26659'],
        },
        {
          chainId: 'enc-chain',
          keyFile: path.join(home, 'keys', 'enc-chain.json'),
          encrypted: true,
          passphraseEnv: PASSPHRASE_ENV,
          address: enc.key.address,
          publicKeyBase64: enc.key.publicKeyBase64,
          publicKeyHex: hexOf(enc.key),
          validatorAddrs: [],
        },
      ],
    });
    expectNoSecret(json, plain);
    expectNoSecret(json, enc);

    const one = await cli('keys', 'show', '--home', home, '--chain-id', 'enc-chain', '--json');
    expect(one.code).toBe(0);
    expect((JSON.parse(one.stdout) as { chains: { chainId: string }[] }).chains.map((c) => c.chainId)).toEqual(['enc-chain']);
  });

  it('refuses an unknown chain, listing the configured ones', async () => {
    const k = newKeyFile('k.json');
    expect((await cli('keys', 'import', '--home', home, '--chain-id', CHAIN, '--key-file', k.file)).code).toBe(0);
    const run = await cli('keys', 'show', '--home', home, '--chain-id', 'other-chain');
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(new RegExp(`^error: chain other-chain is not configured in .*\\(configured: ${CHAIN}\\)[^\\n]*\\n$`));
  });

  it('says so when no chain is configured', async () => {
    const text = await cli('keys', 'show', '--home', home);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('No chain is configured');
    const json = await cli('keys', 'show', '--home', home, '--json');
    expect(JSON.parse(json.stdout)).toEqual({ home, chains: [] });
  });

  it('reports a key file it cannot read (exit 1) after showing the others, without its content', async () => {
    const good = newKeyFile('good.json');
    const bad = newKeyFile('bad.json');
    expect((await cli('keys', 'import', '--home', home, '--chain-id', 'good', '--key-file', good.file)).code).toBe(0);
    expect((await cli('keys', 'import', '--home', home, '--chain-id', 'bad', '--key-file', bad.file)).code).toBe(0);
    const badFile = path.join(home, 'keys', 'bad.json');
    fs.chmodSync(badFile, 0o644);
    const run = await cli('keys', 'show', '--home', home, '--json');
    expect(run.code).toBe(1);
    const parsed = JSON.parse(run.stdout) as { chains: { chainId: string; address?: string; error?: string }[] };
    expect(parsed.chains[0]).toMatchObject({ chainId: 'good', address: good.key.address });
    expect(parsed.chains[1].chainId).toBe('bad');
    expect(parsed.chains[1].error).toContain(`chmod 600 ${badFile}`);
    expect(run.stderr).toMatch(/^error: the key file of chain bad could not be read: [^\n]*\n$/);
    expectNoSecret(run, bad);
  });
});
