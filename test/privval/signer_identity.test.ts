// The signer's SecretConnection identity file: created once with mode 0600 in node_key.json
// format, the same node id after a reload, refused when others can read it or when it is
// damaged, and never printed.

import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import util from 'node:util';

import { KeyFilePermissionError } from '../../src/keys/key_file_permissions';
import { nodeIdFromPublicKey } from '../../src/privval/node_id';
import {
  SIGNER_IDENTITY_FILE,
  SignerIdentity,
  SignerIdentityError,
  loadOrCreateSignerIdentity,
  parseSignerIdentityJson,
} from '../../src/privval/signer_identity';
import { tempDir } from './privval_fixtures';

const homes: { remove(): void }[] = [];
afterEach(() => {
  for (const h of homes.splice(0)) h.remove();
});

function home(): string {
  const t = tempDir('rs-identity-');
  homes.push(t);
  return t.dir;
}

describe('loadOrCreateSignerIdentity', () => {
  it('creates the file with mode 0600 on first use and reads the same identity afterwards', () => {
    const dir = home();
    const first = loadOrCreateSignerIdentity(dir);
    expect(first.created).toBe(true);
    expect(first.path).toBe(path.join(dir, SIGNER_IDENTITY_FILE));
    if (process.platform !== 'win32') expect(statSync(first.path).mode & 0o777).toBe(0o600);
    const again = loadOrCreateSignerIdentity(dir);
    expect(again.created).toBe(false);
    expect(again.identity.nodeId).toBe(first.identity.nodeId);
    expect(first.identity.nodeId).toBe(nodeIdFromPublicKey(first.identity.publicKey));
  });

  it('writes CometBFT node_key.json format', () => {
    const dir = home();
    const { identity, path: file } = loadOrCreateSignerIdentity(dir);
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { priv_key: { type: string; value: string } };
    expect(doc.priv_key.type).toBe('tendermint/PrivKeyEd25519');
    const raw = Buffer.from(doc.priv_key.value, 'base64');
    expect(raw).toHaveLength(64);
    expect(raw.subarray(32)).toEqual(Buffer.from(identity.publicKey));
    expect(SignerIdentity.fromSeed(raw.subarray(0, 32)).nodeId).toBe(identity.nodeId);
  });

  it('refuses a file that group or others can read, saying what to run', () => {
    const dir = home();
    const { path: file } = loadOrCreateSignerIdentity(dir);
    chmodSync(file, 0o644);
    expect(() => loadOrCreateSignerIdentity(dir)).toThrow(KeyFilePermissionError);
    expect(() => loadOrCreateSignerIdentity(dir)).toThrow(`chmod 600 ${file}`);
  });

  it('refuses a damaged file instead of replacing it', () => {
    const dir = home();
    const file = path.join(dir, SIGNER_IDENTITY_FILE);
    writeFileSync(file, '{"priv_key": {"type": "tendermint/PrivKeyEd25519", "value": "AAAA"}}', { mode: 0o600 });
    expect(() => loadOrCreateSignerIdentity(dir)).toThrow(SignerIdentityError);
    expect(() => loadOrCreateSignerIdentity(dir)).toThrow(/not 64 .*move it away/);
    expect(readFileSync(file, 'utf8')).toContain('AAAA');
  });
});

describe('SignerIdentity', () => {
  it('refuses a public key that is not the seed’s', () => {
    const a = SignerIdentity.fromSeed(new Uint8Array(32).fill(1));
    const b = SignerIdentity.fromSeed(new Uint8Array(32).fill(2));
    const raw = Buffer.concat([Buffer.alloc(32, 1), Buffer.from(b.publicKey)]);
    const text = JSON.stringify({ priv_key: { type: 'tendermint/PrivKeyEd25519', value: raw.toString('base64') } });
    expect(() => parseSignerIdentityJson(text, 'x.json')).toThrow(/not the one of its seed/);
    expect(parseSignerIdentityJson(a.exportJson(), 'a.json').nodeId).toBe(a.nodeId);
  });

  it('never prints its secret', () => {
    const identity = SignerIdentity.fromSeed(new Uint8Array(32).fill(3));
    const seedB64 = Buffer.alloc(32, 3).toString('base64').slice(0, 20);
    for (const shown of [util.inspect(identity), JSON.stringify(identity), String(identity)]) {
      expect(shown).toContain(identity.nodeId);
      expect(shown).not.toContain(seedB64);
    }
  });
});
