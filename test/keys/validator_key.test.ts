import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import util from 'node:util';
import { createLogger } from '../../src/log/logger';
import {
  addressFromPublicKey,
  loadPlainValidatorKeyFile,
  parsePrivValidatorKeyJson,
  PrivValidatorKeyJson,
  ValidatorKey,
  ValidatorKeyError,
  verifyEd25519,
  writePlainValidatorKeyFile,
} from '../../src/keys/validator_key';

// The key of the privval test vectors (shared/privval/vectors.json): seed = SHA-256("it's a secret").
const VECTOR_SEED = crypto.createHash('sha256').update("it's a secret").digest();
const VECTOR_PUB_HEX = '556a436f1218d30942efe798420f51dc9b6a311b929c578257457d05c5fcf230';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'validator-key-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function keyJson(key: ValidatorKey): PrivValidatorKeyJson {
  return JSON.parse(key.exportPrivValidatorKeyJson()) as PrivValidatorKeyJson;
}

function expectRefused(doc: unknown, ...fragments: string[]): void {
  const text = typeof doc === 'string' ? doc : JSON.stringify(doc);
  let caught: unknown;
  try {
    parsePrivValidatorKeyJson(text, 'pvk.json');
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ValidatorKeyError);
  const message = (caught as Error).message;
  expect(message).toContain('pvk.json');
  for (const fragment of fragments) expect(message).toContain(fragment);
}

describe('ValidatorKey', () => {
  it('derives the public key of the privval test vectors from their seed', () => {
    const key = ValidatorKey.fromSeed(VECTOR_SEED);
    expect(Buffer.from(key.publicKey).toString('hex')).toBe(VECTOR_PUB_HEX);
  });

  it('computes the address as upper-case hex of the first 20 bytes of SHA-256(pub)', () => {
    const key = ValidatorKey.fromSeed(VECTOR_SEED);
    const expected = crypto.createHash('sha256').update(Buffer.from(VECTOR_PUB_HEX, 'hex')).digest().subarray(0, 20);
    expect(key.address).toBe(expected.toString('hex').toUpperCase());
    expect(key.address).toMatch(/^[0-9A-F]{40}$/);
    expect(Buffer.from(key.addressBytes)).toEqual(expected);
    expect(addressFromPublicKey(key.publicKey)).toBe(key.address);
  });

  it('a generated key signs, and its signature verifies only for the same message and key', () => {
    const key = ValidatorKey.generate();
    const other = ValidatorKey.generate();
    const message = Buffer.from('vote sign bytes');
    const signature = key.sign(message);
    expect(signature).toHaveLength(64);
    expect(verifyEd25519(key.publicKey, message, signature)).toBe(true);
    expect(key.verify(message, signature)).toBe(true);
    expect(verifyEd25519(key.publicKey, Buffer.from('other bytes'), signature)).toBe(false);
    expect(verifyEd25519(other.publicKey, message, signature)).toBe(false);
    const flipped = Buffer.from(signature);
    flipped[10] ^= 1;
    expect(verifyEd25519(key.publicKey, message, flipped)).toBe(false);
    expect(key.equals(other)).toBe(false);
  });

  it('signs deterministically, and the signature verifies with node:crypto directly', () => {
    const key = ValidatorKey.fromSeed(VECTOR_SEED);
    const message = Buffer.from('same bytes');
    expect(Buffer.from(key.sign(message))).toEqual(Buffer.from(key.sign(message)));
    const pub = crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(key.publicKey).toString('base64url') }, format: 'jwk' });
    expect(crypto.verify(null, message, pub, key.sign(message))).toBe(true);
  });

  it('verifyEd25519 says false, not throws, for malformed input', () => {
    const key = ValidatorKey.generate();
    const sig = key.sign(Buffer.from('m'));
    expect(verifyEd25519(key.publicKey.subarray(0, 31), Buffer.from('m'), sig)).toBe(false);
    expect(verifyEd25519(key.publicKey, Buffer.from('m'), sig.subarray(0, 63))).toBe(false);
    expect(verifyEd25519(new Uint8Array(32).fill(0xff), Buffer.from('m'), sig)).toBe(false);
  });

  it('refuses a seed of the wrong length', () => {
    expect(() => ValidatorKey.fromSeed(new Uint8Array(31))).toThrow(/32 bytes, got 31/);
  });

  it('shows no secret through inspect, toString, JSON or string interpolation', () => {
    const key = ValidatorKey.fromSeed(VECTOR_SEED);
    const json = keyJson(key);
    const secrets = [
      json.priv_key.value,
      VECTOR_SEED.toString('base64'),
      VECTOR_SEED.toString('hex'),
      VECTOR_SEED.toString('hex').toUpperCase(),
    ];
    const outputs = [
      util.inspect(key, { showHidden: true, depth: 10 }),
      util.inspect({ nested: { key } }, { depth: 10 }),
      util.format('%o %O %j %s', key, key, key, key),
      JSON.stringify(key),
      JSON.stringify({ key }),
      String(key),
      `${key}`,
      Object.keys(key).join(','),
      JSON.stringify(Object.entries(key)),
    ];
    for (const output of outputs) {
      for (const secret of secrets) expect(output).not.toContain(secret);
    }
    // ...while still showing which key it is.
    expect(util.inspect(key)).toContain(key.address);
    expect(JSON.parse(JSON.stringify(key))).toEqual({
      address: key.address,
      pub_key: { type: 'tendermint/PubKeyEd25519', value: key.publicKeyBase64 },
    });
  });

  it('writes only the public half through the process logger', () => {
    const key = ValidatorKey.fromSeed(VECTOR_SEED);
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const logger = createLogger({ json: true, stream });
    logger.info('loaded key', { key, nested: { key } });
    logger.info(`key ${key}`);
    const output = lines.join('');
    expect(output).toContain(key.address);
    expect(output).not.toContain(keyJson(key).priv_key.value);
    expect(output).not.toContain(VECTOR_SEED.toString('base64'));
  });

  it('publicKey is a copy that callers cannot use to alter the key', () => {
    const key = ValidatorKey.generate();
    const pub = key.publicKey;
    pub.fill(0);
    expect(Buffer.from(key.publicKey).equals(Buffer.from(pub))).toBe(false);
  });
});

describe('priv_validator_key.json', () => {
  it('exports exactly the CometBFT layout and parses back to the same key', () => {
    const key = ValidatorKey.fromSeed(VECTOR_SEED);
    const text = key.exportPrivValidatorKeyJson();
    const pubB64 = Buffer.from(VECTOR_PUB_HEX, 'hex').toString('base64');
    const privB64 = Buffer.concat([VECTOR_SEED, Buffer.from(VECTOR_PUB_HEX, 'hex')]).toString('base64');
    expect(text).toBe(
      [
        '{',
        `  "address": "${key.address}",`,
        '  "pub_key": {',
        '    "type": "tendermint/PubKeyEd25519",',
        `    "value": "${pubB64}"`,
        '  },',
        '  "priv_key": {',
        '    "type": "tendermint/PrivKeyEd25519",',
        `    "value": "${privB64}"`,
        '  }',
        '}',
      ].join('\n'),
    );
    const parsed = parsePrivValidatorKeyJson(text, 'pvk.json');
    expect(parsed.equals(key)).toBe(true);
    expect(parsed.address).toBe(key.address);
  });

  it('accepts a lower-case address (Go decodes hex in either case)', () => {
    const key = ValidatorKey.generate();
    const doc = keyJson(key);
    doc.address = doc.address.toLowerCase();
    expect(parsePrivValidatorKeyJson(JSON.stringify(doc), 'pvk.json').address).toBe(key.address);
  });

  it('round-trips through a file written with mode 0600', () => {
    const key = ValidatorKey.generate();
    const file = path.join(dir, 'config', 'priv_validator_key.json');
    writePlainValidatorKeyFile(file, key);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    expect(loadPlainValidatorKeyFile(file).equals(key)).toBe(true);
  });

  it('refuses to overwrite an existing key file unless asked', () => {
    const file = path.join(dir, 'priv_validator_key.json');
    const first = ValidatorKey.generate();
    writePlainValidatorKeyFile(file, first);
    expect(() => writePlainValidatorKeyFile(file, ValidatorKey.generate())).toThrow(/already exists: refusing to overwrite/);
    expect(loadPlainValidatorKeyFile(file).equals(first)).toBe(true);
    const second = ValidatorKey.generate();
    writePlainValidatorKeyFile(file, second, { overwrite: true });
    expect(loadPlainValidatorKeyFile(file).equals(second)).toBe(true);
    expect(fs.readdirSync(dir)).toEqual(['priv_validator_key.json']);
  });

  it('refuses a key file with mode 0644 and accepts it at 0600', () => {
    const file = path.join(dir, 'priv_validator_key.json');
    const key = ValidatorKey.generate();
    writePlainValidatorKeyFile(file, key);
    fs.chmodSync(file, 0o644);
    expect(() => loadPlainValidatorKeyFile(file)).toThrow(
      `key file ${file} has mode 0644: it must be readable by its owner only; run: chmod 600 ${file}`,
    );
    fs.chmodSync(file, 0o600);
    expect(loadPlainValidatorKeyFile(file).equals(key)).toBe(true);
  });

  it('names a missing key file', () => {
    const file = path.join(dir, 'missing.json');
    expect(() => loadPlainValidatorKeyFile(file)).toThrow(`key file ${file} not found`);
  });

  describe('refuses, naming the field', () => {
    const base = (): PrivValidatorKeyJson => keyJson(ValidatorKey.fromSeed(VECTOR_SEED));

    it('text that is not JSON, without quoting it', () => {
      const text = base().priv_key.value + ' not json';
      expectRefused(text, 'not valid JSON');
      try {
        parsePrivValidatorKeyJson(text, 'pvk.json');
      } catch (err) {
        expect((err as Error).message).not.toContain(base().priv_key.value.slice(0, 10));
      }
    });
    it('a JSON value that is not an object', () => expectRefused([1, 2], 'not a JSON object'));
    it('an unknown top-level field', () => expectRefused({ ...base(), extra: 1 }, 'unknown field "extra"'));
    it('an unknown field inside priv_key', () =>
      expectRefused({ ...base(), priv_key: { ...base().priv_key, x: 1 } }, 'unknown field "priv_key.x"'));
    it('a missing priv_key', () => {
      const { priv_key: _omit, ...rest } = base();
      expectRefused(rest, '"priv_key" is missing');
    });
    it('a missing pub_key', () => {
      const { pub_key: _omit, ...rest } = base();
      expectRefused(rest, '"pub_key" is missing');
    });
    it('a missing address', () => {
      const { address: _omit, ...rest } = base();
      expectRefused(rest, '"address" is missing');
    });
    it('a secp256k1 private key', () =>
      expectRefused(
        { ...base(), priv_key: { type: 'tendermint/PrivKeySecp256k1', value: base().priv_key.value } },
        'priv_key.type is "tendermint/PrivKeySecp256k1"',
        'Ed25519',
      ));
    it('a wrong pub_key type', () =>
      expectRefused({ ...base(), pub_key: { type: 'x', value: base().pub_key.value } }, 'pub_key.type is "x"'));
    it('a priv_key value that is not a string', () =>
      expectRefused({ ...base(), priv_key: { type: 'tendermint/PrivKeyEd25519', value: 5 } }, 'priv_key.value is missing or not a string'));
    it('a priv_key value that is not base64', () =>
      expectRefused({ ...base(), priv_key: { type: 'tendermint/PrivKeyEd25519', value: 'not*base64!' } }, 'priv_key.value is not valid base64'));
    it('a 32-byte priv_key (seed only)', () =>
      expectRefused(
        { ...base(), priv_key: { type: 'tendermint/PrivKeyEd25519', value: VECTOR_SEED.toString('base64') } },
        'priv_key.value is 32 bytes',
        '64 bytes',
      ));
    it('a priv_key whose embedded public half is not its seed\'s', () => {
      const other = ValidatorKey.generate();
      const mixed = Buffer.concat([VECTOR_SEED, Buffer.from(other.publicKey)]).toString('base64');
      expectRefused({ ...base(), priv_key: { type: 'tendermint/PrivKeyEd25519', value: mixed } }, 'priv_key.value holds a public key');
    });
    it('a pub_key that is not the private key\'s', () => {
      const other = ValidatorKey.generate();
      expectRefused({ ...base(), pub_key: { type: 'tendermint/PubKeyEd25519', value: other.publicKeyBase64 } }, 'pub_key.value', 'is not the public key of priv_key');
    });
    it('a pub_key of the wrong length', () =>
      expectRefused({ ...base(), pub_key: { type: 'tendermint/PubKeyEd25519', value: Buffer.alloc(33).toString('base64') } }, 'pub_key.value is 33 bytes'));
    it('an address of another key', () => {
      const other = ValidatorKey.generate();
      expectRefused({ ...base(), address: other.address }, `address ${other.address} is not the address`);
    });
    it('an address that is not 40 hex digits, without echoing it', () => {
      const doc = { ...base(), address: base().priv_key.value };
      expectRefused(doc, 'address is not 40 hex digits', ValidatorKey.fromSeed(VECTOR_SEED).address);
      expect(() => parsePrivValidatorKeyJson(JSON.stringify(doc), 'pvk.json')).not.toThrow(base().priv_key.value);
    });
    it('a key type that is not a type, without echoing it', () => {
      const secret = base().priv_key.value;
      const doc = { ...base(), priv_key: { type: secret, value: secret } };
      expectRefused(doc, 'priv_key.type is not a key type');
    });
  });
});
