import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  decryptValidatorKey,
  DEFAULT_SCRYPT_PARAMS,
  EncryptedKeyFileJson,
  encryptValidatorKey,
  isEncryptedKeyFileContent,
  loadValidatorKeyFile,
  parseEncryptedKeyFileJson,
  PassphraseError,
  readValidatorKeyFilePublicInfo,
  resolvePassphrase,
  writeEncryptedValidatorKeyFile,
  WrongPassphraseError,
} from '../../src/keys/encrypted_key_file';
import { KeyFilePermissionError } from '../../src/keys/key_file_permissions';
import { ValidatorKey, ValidatorKeyError, writePlainValidatorKeyFile } from '../../src/keys/validator_key';

// The smallest parameters the format accepts, to keep the suite quick; the defaults are exercised
// once below.
const FAST = { N: 2 ** 14, r: 8, p: 1 };
const PASSPHRASE = 'correct horse battery staple';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'encrypted-key-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function writeOwnerOnly(file: string, content: string): void {
  fs.writeFileSync(file, content, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
}

describe('encryptValidatorKey / decryptValidatorKey', () => {
  it('round-trips with the default parameters, which are stored in the file', async () => {
    const key = ValidatorKey.generate();
    const json = await encryptValidatorKey(key, PASSPHRASE);
    expect(json.kdf).toBe('scrypt');
    expect(json.kdfParams).toMatchObject({ N: 32768, r: 8, p: 1 });
    expect(DEFAULT_SCRYPT_PARAMS).toEqual({ N: 32768, r: 8, p: 1 });
    expect(json.address).toBe(key.address);
    expect(json.pub_key.value).toBe(key.publicKeyBase64);
    const back = await decryptValidatorKey(json, PASSPHRASE, 'k.json');
    expect(back.equals(key)).toBe(true);
  });

  it('holds no trace of the seed in the clear, and salts and nonces differ each time', async () => {
    const key = ValidatorKey.generate();
    const a = await encryptValidatorKey(key, PASSPHRASE, FAST);
    const b = await encryptValidatorKey(key, PASSPHRASE, FAST);
    const seed = key.exportSecretSeed();
    for (const json of [a, b]) {
      const text = JSON.stringify(json);
      expect(text).not.toContain(seed.toString('base64'));
      expect(text).not.toContain(seed.toString('hex'));
    }
    expect(a.kdfParams.salt).not.toBe(b.kdfParams.salt);
    expect(a.nonce).not.toBe(b.nonce);
    expect(a.ciphertext).not.toBe(b.ciphertext);
  });

  it('says "wrong passphrase or corrupted key file" for a wrong passphrase', async () => {
    const json = await encryptValidatorKey(ValidatorKey.generate(), PASSPHRASE, FAST);
    await expect(decryptValidatorKey(json, 'not it', 'k.json')).rejects.toThrow(WrongPassphraseError);
    await expect(decryptValidatorKey(json, 'not it', 'k.json')).rejects.toThrow(
      'key file k.json: wrong passphrase or corrupted key file',
    );
  });

  it('detects a changed ciphertext, tag or nonce as corruption', async () => {
    const json = await encryptValidatorKey(ValidatorKey.generate(), PASSPHRASE, FAST);
    const flip = (b64: string): string => {
      const bytes = Buffer.from(b64, 'base64');
      bytes[0] ^= 1;
      return bytes.toString('base64');
    };
    for (const field of ['ciphertext', 'tag', 'nonce'] as const) {
      await expect(decryptValidatorKey({ ...json, [field]: flip(json[field]) }, PASSPHRASE, 'k.json')).rejects.toThrow(
        WrongPassphraseError,
      );
    }
  });

  it('binds the clear public key and address to the ciphertext', async () => {
    const json = await encryptValidatorKey(ValidatorKey.generate(), PASSPHRASE, FAST);
    const other = ValidatorKey.generate();
    const swapped: EncryptedKeyFileJson = {
      ...json,
      address: other.address,
      pub_key: { type: 'tendermint/PubKeyEd25519', value: other.publicKeyBase64 },
    };
    await expect(decryptValidatorKey(swapped, PASSPHRASE, 'k.json')).rejects.toThrow(WrongPassphraseError);
  });

  it('refuses an empty passphrase and scrypt parameters below the minimum', async () => {
    const key = ValidatorKey.generate();
    await expect(encryptValidatorKey(key, '', FAST)).rejects.toThrow(PassphraseError);
    await expect(encryptValidatorKey(key, PASSPHRASE, { N: 2 ** 10, r: 8, p: 1 })).rejects.toThrow(/N must be a power of two/);
  });

  it('normalises the passphrase (NFC), so a composed and a decomposed "é" open the same file', async () => {
    const key = ValidatorKey.generate();
    const json = await encryptValidatorKey(key, 'caf\u00e9', FAST);
    expect((await decryptValidatorKey(json, 'cafe\u0301', 'k.json')).equals(key)).toBe(true);
  });
});

describe('parseEncryptedKeyFileJson refuses, naming the field', () => {
  let json: EncryptedKeyFileJson;
  beforeAll(async () => {
    json = await encryptValidatorKey(ValidatorKey.generate(), PASSPHRASE, FAST);
  });
  const refused = (doc: unknown, fragment: string): void => {
    expect(() => parseEncryptedKeyFileJson(JSON.stringify(doc), 'k.json')).toThrow(ValidatorKeyError);
    expect(() => parseEncryptedKeyFileJson(JSON.stringify(doc), 'k.json')).toThrow(fragment);
  };
  it('an unknown field', () => refused({ ...json, extra: true }, 'unknown field "extra"'));
  it('another version', () => refused({ ...json, version: 2 }, 'version 2 is not supported'));
  it('another kdf', () => refused({ ...json, kdf: 'argon2id' }, 'kdf "argon2id" is not supported'));
  it('another cipher', () => refused({ ...json, cipher: 'aes-128-cbc' }, 'cipher "aes-128-cbc" is not supported'));
  it('N that is not a power of two', () => refused({ ...json, kdfParams: { ...json.kdfParams, N: 30000 } }, 'kdfParams: N must be'));
  it('N so large it would exhaust memory', () => refused({ ...json, kdfParams: { ...json.kdfParams, N: 2 ** 30 } }, 'kdfParams: N must be'));
  it('r out of range', () => refused({ ...json, kdfParams: { ...json.kdfParams, r: 0 } }, 'kdfParams: r must be'));
  it('p out of range', () => refused({ ...json, kdfParams: { ...json.kdfParams, p: 1000 } }, 'kdfParams: p must be'));
  it('memory beyond 1 GiB', () => refused({ ...json, kdfParams: { ...json.kdfParams, N: 2 ** 20, r: 16 } }, 'more than 1 GiB'));
  it('a short salt', () => refused({ ...json, kdfParams: { ...json.kdfParams, salt: Buffer.alloc(8).toString('base64') } }, 'kdfParams.salt is 8 bytes'));
  it('a nonce of the wrong length', () => refused({ ...json, nonce: Buffer.alloc(8).toString('base64') }, 'nonce is 8 bytes, expected 12'));
  it('a missing tag', () => refused({ ...json, tag: undefined }, 'tag is missing'));
  it('a ciphertext that is not base64', () => refused({ ...json, ciphertext: '!!!!' }, 'ciphertext is not valid base64'));
  it('an address that is not the public key\'s', () =>
    refused({ ...json, address: ValidatorKey.generate().address }, 'is not the address of pub_key'));
  it('a pub_key of another type', () =>
    refused({ ...json, pub_key: { type: 'tendermint/PubKeySecp256k1', value: json.pub_key.value } }, 'pub_key must be'));
  it('text that is not JSON', () => expect(() => parseEncryptedKeyFileJson('{', 'k.json')).toThrow('k.json: is not valid JSON'));
});

describe('resolvePassphrase', () => {
  it('reads an environment variable, and says when it is unset or empty', () => {
    expect(resolvePassphrase({ env: 'PP' }, { PP: 'x y' })).toBe('x y');
    expect(() => resolvePassphrase({ env: 'PP' }, {})).toThrow('environment variable PP is not set');
    expect(() => resolvePassphrase({ env: 'PP' }, { PP: '' })).toThrow('environment variable PP is empty');
  });

  it('reads a file without its final newline, and says when it is missing, empty or too open', () => {
    const file = path.join(dir, 'pass');
    writeOwnerOnly(file, ' secret words \n');
    expect(resolvePassphrase({ file })).toBe(' secret words ');
    writeOwnerOnly(file, 'crlf\r\n');
    expect(resolvePassphrase({ file })).toBe('crlf');
    writeOwnerOnly(file, '\n');
    expect(() => resolvePassphrase({ file })).toThrow(`passphrase file ${file} is empty`);
    fs.chmodSync(file, 0o644);
    expect(() => resolvePassphrase({ file })).toThrow(PassphraseError);
    expect(() => resolvePassphrase({ file })).toThrow(`passphrase file ${file} has mode 0644`);
    const missing = path.join(dir, 'missing');
    expect(() => resolvePassphrase({ file: missing })).toThrow(`passphrase file ${missing} not found`);
  });
});

describe('key files on disk', () => {
  it('loads an encrypted file with a passphrase from the environment, and a plain one without', async () => {
    const key = ValidatorKey.generate();
    const encrypted = path.join(dir, 'enc.json');
    await writeEncryptedValidatorKeyFile(encrypted, key, PASSPHRASE, { scrypt: FAST });
    expect(fs.statSync(encrypted).mode & 0o777).toBe(0o600);
    expect(isEncryptedKeyFileContent(fs.readFileSync(encrypted, 'utf8'))).toBe(true);
    const loaded = await loadValidatorKeyFile(encrypted, { passphrase: { env: 'RS_PP' }, env: { RS_PP: PASSPHRASE } });
    expect(loaded.equals(key)).toBe(true);

    const plain = path.join(dir, 'plain.json');
    writePlainValidatorKeyFile(plain, key);
    expect(isEncryptedKeyFileContent(fs.readFileSync(plain, 'utf8'))).toBe(false);
    expect((await loadValidatorKeyFile(plain)).equals(key)).toBe(true);
  });

  it('loads an encrypted file with a passphrase file', async () => {
    const key = ValidatorKey.generate();
    const encrypted = path.join(dir, 'enc.json');
    const passFile = path.join(dir, 'pass');
    writeOwnerOnly(passFile, PASSPHRASE + '\n');
    await writeEncryptedValidatorKeyFile(encrypted, key, PASSPHRASE, { scrypt: FAST });
    expect((await loadValidatorKeyFile(encrypted, { passphrase: { file: passFile } })).equals(key)).toBe(true);
  });

  it('says wrong passphrase, not a crypto error, when loading with the wrong one', async () => {
    const encrypted = path.join(dir, 'enc.json');
    await writeEncryptedValidatorKeyFile(encrypted, ValidatorKey.generate(), PASSPHRASE, { scrypt: FAST });
    await expect(loadValidatorKeyFile(encrypted, { passphrase: { env: 'P' }, env: { P: 'wrong' } })).rejects.toThrow(
      `key file ${encrypted}: wrong passphrase or corrupted key file`,
    );
  });

  it('says that an encrypted file needs a passphrase source', async () => {
    const encrypted = path.join(dir, 'enc.json');
    await writeEncryptedValidatorKeyFile(encrypted, ValidatorKey.generate(), PASSPHRASE, { scrypt: FAST });
    await expect(loadValidatorKeyFile(encrypted)).rejects.toThrow(/is encrypted but no passphrase source is configured/);
  });

  it('refuses an encrypted key file with mode 0644 and accepts it at 0600', async () => {
    const key = ValidatorKey.generate();
    const encrypted = path.join(dir, 'enc.json');
    await writeEncryptedValidatorKeyFile(encrypted, key, PASSPHRASE, { scrypt: FAST });
    fs.chmodSync(encrypted, 0o644);
    const options = { passphrase: { env: 'P' }, env: { P: PASSPHRASE } };
    await expect(loadValidatorKeyFile(encrypted, options)).rejects.toThrow(KeyFilePermissionError);
    expect(() => readValidatorKeyFilePublicInfo(encrypted)).toThrow(`chmod 600 ${encrypted}`);
    fs.chmodSync(encrypted, 0o600);
    expect((await loadValidatorKeyFile(encrypted, options)).equals(key)).toBe(true);
  });

  it('shows the public key and address of either kind without a passphrase', async () => {
    const key = ValidatorKey.generate();
    const encrypted = path.join(dir, 'enc.json');
    const plain = path.join(dir, 'plain.json');
    await writeEncryptedValidatorKeyFile(encrypted, key, PASSPHRASE, { scrypt: FAST });
    writePlainValidatorKeyFile(plain, key);
    for (const [file, encryptedFlag] of [[encrypted, true], [plain, false]] as const) {
      const info = readValidatorKeyFilePublicInfo(file);
      expect(info.address).toBe(key.address);
      expect(Buffer.from(info.publicKey)).toEqual(Buffer.from(key.publicKey));
      expect(info.encrypted).toBe(encryptedFlag);
    }
  });

  it('refuses to overwrite an existing key file unless asked', async () => {
    const file = path.join(dir, 'enc.json');
    const first = ValidatorKey.generate();
    await writeEncryptedValidatorKeyFile(file, first, PASSPHRASE, { scrypt: FAST });
    await expect(writeEncryptedValidatorKeyFile(file, ValidatorKey.generate(), PASSPHRASE, { scrypt: FAST })).rejects.toThrow(
      /already exists/,
    );
    const options = { passphrase: { env: 'P' }, env: { P: PASSPHRASE } };
    expect((await loadValidatorKeyFile(file, options)).equals(first)).toBe(true);
  });

  it('reports a damaged encrypted file against the encrypted format', async () => {
    const file = path.join(dir, 'enc.json');
    writeOwnerOnly(file, JSON.stringify({ kdf: 'scrypt' }));
    await expect(loadValidatorKeyFile(file)).rejects.toThrow(`key file ${file}: type must be "raft-signer/encrypted-validator-key"`);
  });
});
