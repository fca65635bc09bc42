// The validator key encrypted under a passphrase, so a copied disk or backup does not give the key
// away. scrypt stretches the passphrase into a 256-bit key; AES-256-GCM encrypts the 32-byte seed.
// The public key and address stay in the clear (`keys show` needs no passphrase) and, together
// with every KDF and cipher parameter, are bound into the GCM tag as associated data: editing any
// of them makes decryption fail instead of silently pairing one key's address with another's seed.
//
// {
//   "type": "raft-signer/encrypted-validator-key",
//   "version": 1,
//   "address": "HEX", "pub_key": {"type": "tendermint/PubKeyEd25519", "value": b64},
//   "kdf": "scrypt", "kdfParams": {"N": 32768, "r": 8, "p": 1, "salt": b64(32)},
//   "cipher": "aes-256-gcm", "nonce": b64(12), "ciphertext": b64(32), "tag": b64(16)
// }

import crypto from 'node:crypto';
import fs from 'node:fs';
import { KeyFileError, readSecretFile, writeSecretFile, WriteSecretFileOptions } from './key_file_permissions';
import {
  addressFromPublicKey,
  decodeBase64,
  ED25519_PUBLIC_KEY_LENGTH,
  ED25519_SEED_LENGTH,
  isPlainObject,
  parsePrivValidatorKeyJson,
  PUB_KEY_TYPE_ED25519,
  ValidatorKey,
  ValidatorKeyError,
} from './validator_key';
import { RaftSignerError } from '../util/errors';

export const ENCRYPTED_KEY_FILE_TYPE = 'raft-signer/encrypted-validator-key';
export const ENCRYPTED_KEY_FILE_VERSION = 1;
const CIPHER = 'aes-256-gcm';
const KEY_LENGTH = 32;
const NONCE_LENGTH = 12;
const TAG_LENGTH = 16;
const SALT_LENGTH = 32;

export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  N: number;
  r: number;
  p: number;
}

/** N=2^15, r=8, p=1: about 32 MiB and a tenth of a second per attempt (RFC 7914 §2 interactive). */
export const DEFAULT_SCRYPT_PARAMS: Readonly<ScryptParams> = { N: 2 ** 15, r: 8, p: 1 };
// Bounds on parameters read from a file: the file decides how much memory and time we spend, so a
// damaged or hostile one must not make us allocate gigabytes. The lower bound keeps a file from
// being written (or accepted) with a trivially guessable stretch.
const MIN_SCRYPT_N = 2 ** 14;
const MAX_SCRYPT_N = 2 ** 20;
const MAX_SCRYPT_R = 32;
const MAX_SCRYPT_P = 16;
const MAX_SCRYPT_MEMORY = 1024 * 1024 * 1024;

export interface EncryptedKeyFileJson {
  type: typeof ENCRYPTED_KEY_FILE_TYPE;
  version: number;
  address: string;
  pub_key: { type: typeof PUB_KEY_TYPE_ED25519; value: string };
  kdf: 'scrypt';
  kdfParams: ScryptParams & { salt: string };
  cipher: typeof CIPHER;
  nonce: string;
  ciphertext: string;
  tag: string;
}

/** The passphrase did not open the file (or the file was altered). */
export class WrongPassphraseError extends KeyFileError<{ code: 'WRONG_PASSPHRASE'; path: string }> {
  constructor(source: string) {
    super(source, `key file ${source}: wrong passphrase or corrupted key file`, { code: 'WRONG_PASSPHRASE', path: source });
    this.name = 'WrongPassphraseError';
  }
}

/** The passphrase could not be obtained from its configured source. */
export class PassphraseError extends RaftSignerError<{ code: 'PASSPHRASE_UNAVAILABLE' }> {
  constructor(message: string) {
    super({ code: 'PASSPHRASE_UNAVAILABLE' }, message);
    this.name = 'PassphraseError';
  }
}

/** Where a passphrase comes from: an environment variable or a file (first line, owner-only). */
export type PassphraseSource = { env: string } | { file: string };

/**
 * The passphrase from `source`. A file may end in one newline (as `echo` writes it), which is not
 * part of the passphrase; a missing or empty passphrase is an error that says how to provide one.
 */
export function resolvePassphrase(source: PassphraseSource, env: NodeJS.ProcessEnv = process.env): string {
  if ('env' in source) {
    const value = env[source.env];
    if (value === undefined) {
      throw new PassphraseError(
        `environment variable ${source.env} is not set: set it to the key file's passphrase (or use a passphrase file)`,
      );
    }
    if (value === '') throw new PassphraseError(`environment variable ${source.env} is empty: set it to the key file's passphrase`);
    return value;
  }
  let content: Buffer;
  try {
    content = readSecretFile(source.file, 'passphrase file');
  } catch (err) {
    if (err instanceof KeyFileError) throw new PassphraseError(err.message);
    throw err;
  }
  try {
    const text = content.toString('utf8').replace(/\r?\n$/, '');
    if (text === '') throw new PassphraseError(`passphrase file ${source.file} is empty: write the key file's passphrase into it`);
    return text;
  } finally {
    content.fill(0);
  }
}

/** Encrypts `key` under `passphrase`. Async: scrypt takes a noticeable fraction of a second. */
export async function encryptValidatorKey(
  key: ValidatorKey,
  passphrase: string,
  params: ScryptParams = DEFAULT_SCRYPT_PARAMS,
): Promise<EncryptedKeyFileJson> {
  if (passphrase === '') throw new PassphraseError('refusing to encrypt a key under an empty passphrase');
  checkScryptParams(params, (what) => {
    throw new RangeError(`scrypt parameters: ${what}`);
  });
  const salt = crypto.randomBytes(SALT_LENGTH);
  const nonce = crypto.randomBytes(NONCE_LENGTH);
  const header: Omit<EncryptedKeyFileJson, 'ciphertext' | 'tag'> = {
    type: ENCRYPTED_KEY_FILE_TYPE,
    version: ENCRYPTED_KEY_FILE_VERSION,
    address: key.address,
    pub_key: { type: PUB_KEY_TYPE_ED25519, value: key.publicKeyBase64 },
    kdf: 'scrypt',
    kdfParams: { N: params.N, r: params.r, p: params.p, salt: salt.toString('base64') },
    cipher: CIPHER,
    nonce: nonce.toString('base64'),
  };
  const derived = await deriveKey(passphrase, salt, params);
  const seed = key.exportSecretSeed();
  try {
    const cipher = crypto.createCipheriv(CIPHER, derived, nonce, { authTagLength: TAG_LENGTH });
    cipher.setAAD(associatedData(header));
    const ciphertext = Buffer.concat([cipher.update(seed), cipher.final()]);
    return { ...header, ciphertext: ciphertext.toString('base64'), tag: cipher.getAuthTag().toString('base64') };
  } finally {
    seed.fill(0);
    derived.fill(0);
  }
}

/** The clear part of an encrypted key file, validated: enough for `keys show`. */
export interface EncryptedKeyFileHeader {
  address: string;
  publicKey: Uint8Array;
}

/** Checks every field of an encrypted key file and returns its public part. */
export function parseEncryptedKeyFileJson(
  text: string,
  source: string,
): { json: EncryptedKeyFileJson; header: EncryptedKeyFileHeader } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new ValidatorKeyError(source, `key file ${source}: is not valid JSON`);
  }
  return validateEncryptedKeyFile(doc, source);
}

/** Decrypts an encrypted key file's content. Wrong passphrase: WrongPassphraseError. */
export async function decryptValidatorKey(
  json: EncryptedKeyFileJson,
  passphrase: string,
  source: string,
): Promise<ValidatorKey> {
  const { header } = validateEncryptedKeyFile(json, source);
  const fail = (what: string): never => {
    throw new ValidatorKeyError(source, `key file ${source}: ${what}`);
  };
  const salt = decodeBase64(json.kdfParams.salt, 'kdfParams.salt', fail);
  const nonce = decodeBase64(json.nonce, 'nonce', fail);
  const ciphertext = decodeBase64(json.ciphertext, 'ciphertext', fail);
  const tag = decodeBase64(json.tag, 'tag', fail);
  const derived = await deriveKey(passphrase, salt, json.kdfParams);
  let seed: Buffer;
  try {
    const decipher = crypto.createDecipheriv(CIPHER, derived, nonce, { authTagLength: TAG_LENGTH });
    decipher.setAAD(associatedData(json));
    decipher.setAuthTag(tag);
    const plain = decipher.update(ciphertext);
    try {
      seed = Buffer.concat([plain, decipher.final()]);
    } catch {
      // GCM's tag check failed: either the passphrase is wrong or some byte of the file changed;
      // the two cannot be told apart, and OpenSSL's own message explains neither.
      throw new WrongPassphraseError(source);
    } finally {
      plain.fill(0);
    }
  } finally {
    derived.fill(0);
  }
  try {
    const key = ValidatorKey.fromSeed(seed);
    // Cannot differ once the tag verified (the public key is associated data), unless the file
    // was written by something other than encryptValidatorKey; check rather than trust.
    if (!Buffer.from(key.publicKey).equals(Buffer.from(header.publicKey))) {
      return fail('pub_key does not match the encrypted private key: the file is corrupt');
    }
    return key;
  } finally {
    seed.fill(0);
  }
}

/** Whether key-file content is an encrypted key file (as opposed to a plain CometBFT one). */
export function isEncryptedKeyFileContent(text: string): boolean {
  try {
    const doc: unknown = JSON.parse(text);
    // Any sign of the encrypted format counts, so that a damaged encrypted file is reported
    // against the encrypted format rather than as a strange CometBFT key file.
    return isPlainObject(doc) && (doc.type === ENCRYPTED_KEY_FILE_TYPE || 'kdf' in doc || 'ciphertext' in doc);
  } catch {
    return false;
  }
}

export interface LoadValidatorKeyOptions {
  /** Needed only if the file is encrypted. */
  passphrase?: PassphraseSource;
  env?: NodeJS.ProcessEnv;
}

/**
 * Loads a validator key file, plain CometBFT or encrypted (told apart by content), after checking
 * that only its owner can read it. An encrypted file needs a passphrase source.
 */
export async function loadValidatorKeyFile(
  filePath: string,
  options: LoadValidatorKeyOptions = {},
): Promise<ValidatorKey> {
  const content = readSecretFile(filePath);
  try {
    const text = content.toString('utf8');
    if (!isEncryptedKeyFileContent(text)) return parsePrivValidatorKeyJson(text, filePath);
    const { json } = parseEncryptedKeyFileJson(text, filePath);
    if (options.passphrase === undefined) {
      throw new PassphraseError(
        `key file ${filePath} is encrypted but no passphrase source is configured: set passphraseEnv or passphraseFile for its chain`,
      );
    }
    const passphrase = resolvePassphrase(options.passphrase, options.env);
    return await decryptValidatorKey(json, passphrase, filePath);
  } finally {
    content.fill(0);
  }
}

/** The public key and address of a key file, plain or encrypted, without any passphrase. */
export function readValidatorKeyFilePublicInfo(filePath: string): EncryptedKeyFileHeader & { encrypted: boolean } {
  const content = readSecretFile(filePath);
  try {
    const text = content.toString('utf8');
    if (isEncryptedKeyFileContent(text)) {
      return { ...parseEncryptedKeyFileJson(text, filePath).header, encrypted: true };
    }
    const key = parsePrivValidatorKeyJson(text, filePath);
    return { address: key.address, publicKey: key.publicKey, encrypted: false };
  } finally {
    content.fill(0);
  }
}

/** Encrypts `key` and writes it to `filePath` (mode 0600, atomically; no overwrite unless asked). */
export async function writeEncryptedValidatorKeyFile(
  filePath: string,
  key: ValidatorKey,
  passphrase: string,
  options: Pick<WriteSecretFileOptions, 'overwrite'> & { scrypt?: ScryptParams } = {},
): Promise<void> {
  if (!options.overwrite && fs.existsSync(filePath)) {
    // Checked before the slow scrypt too, so the operator hears it at once; writeSecretFile checks
    // again atomically.
    throw new KeyFileError(filePath, `key file ${filePath} already exists: refusing to overwrite it`);
  }
  const json = await encryptValidatorKey(key, passphrase, options.scrypt);
  writeSecretFile(filePath, JSON.stringify(json, null, 2) + '\n', { overwrite: options.overwrite, what: 'key file' });
}

function validateEncryptedKeyFile(
  doc: unknown,
  source: string,
): { json: EncryptedKeyFileJson; header: EncryptedKeyFileHeader } {
  const fail = (what: string): never => {
    throw new ValidatorKeyError(source, `key file ${source}: ${what}`);
  };
  if (!isPlainObject(doc)) return fail('is not a JSON object');
  const known = ['type', 'version', 'address', 'pub_key', 'kdf', 'kdfParams', 'cipher', 'nonce', 'ciphertext', 'tag'];
  for (const field of Object.keys(doc)) {
    if (!known.includes(field)) fail(`unknown field "${field}" in an encrypted key file`);
  }
  if (doc.type !== ENCRYPTED_KEY_FILE_TYPE) return fail(`type must be "${ENCRYPTED_KEY_FILE_TYPE}"`);
  if (doc.version !== ENCRYPTED_KEY_FILE_VERSION) {
    return fail(
      `version ${JSON.stringify(doc.version)} is not supported (this raft-signer reads version ${ENCRYPTED_KEY_FILE_VERSION}): use the raft-signer release that wrote it`,
    );
  }
  if (doc.kdf !== 'scrypt') return fail(`kdf ${JSON.stringify(doc.kdf)} is not supported: expected "scrypt"`);
  if (doc.cipher !== CIPHER) return fail(`cipher ${JSON.stringify(doc.cipher)} is not supported: expected "${CIPHER}"`);
  const kdfParams = doc.kdfParams;
  if (!isPlainObject(kdfParams)) return fail('kdfParams is missing or not an object');
  for (const field of Object.keys(kdfParams)) {
    if (!['N', 'r', 'p', 'salt'].includes(field)) fail(`unknown field "kdfParams.${field}"`);
  }
  const params = { N: kdfParams.N, r: kdfParams.r, p: kdfParams.p };
  checkScryptParams(params, (what) => fail(`kdfParams: ${what}`));
  const b64Field = (value: unknown, field: string, length?: number): Buffer => {
    if (typeof value !== 'string') return fail(`${field} is missing or not a string`);
    const bytes = decodeBase64(value, field, fail);
    if (length !== undefined && bytes.length !== length) fail(`${field} is ${bytes.length} bytes, expected ${length}`);
    return bytes;
  };
  const salt = b64Field(kdfParams.salt, 'kdfParams.salt');
  if (salt.length < 16) fail(`kdfParams.salt is ${salt.length} bytes, expected at least 16`);
  b64Field(doc.nonce, 'nonce', NONCE_LENGTH);
  b64Field(doc.tag, 'tag', TAG_LENGTH);
  b64Field(doc.ciphertext, 'ciphertext', ED25519_SEED_LENGTH);
  const pubKey = doc.pub_key;
  if (!isPlainObject(pubKey) || pubKey.type !== PUB_KEY_TYPE_ED25519) {
    return fail(`pub_key must be {"type": "${PUB_KEY_TYPE_ED25519}", "value": base64}`);
  }
  for (const field of Object.keys(pubKey)) {
    if (field !== 'type' && field !== 'value') fail(`unknown field "pub_key.${field}"`);
  }
  const publicKey = b64Field(pubKey.value, 'pub_key.value', ED25519_PUBLIC_KEY_LENGTH);
  const address = addressFromPublicKey(publicKey);
  if (typeof doc.address !== 'string') return fail('address is missing or not a string');
  if (doc.address.toUpperCase() !== address) {
    return fail(`address ${doc.address} is not the address of pub_key (which is ${address})`);
  }
  return {
    json: doc as unknown as EncryptedKeyFileJson,
    header: { address, publicKey: new Uint8Array(publicKey) },
  };
}

function checkScryptParams(params: { N: unknown; r: unknown; p: unknown }, fail: (what: string) => never): asserts params is ScryptParams {
  const { N, r, p } = params;
  if (typeof N !== 'number' || !Number.isInteger(N) || N < MIN_SCRYPT_N || N > MAX_SCRYPT_N || (N & (N - 1)) !== 0) {
    fail(`N must be a power of two from 2^14 to 2^20, got ${JSON.stringify(N)}`);
  }
  if (typeof r !== 'number' || !Number.isInteger(r) || r < 1 || r > MAX_SCRYPT_R) {
    fail(`r must be an integer from 1 to ${MAX_SCRYPT_R}, got ${JSON.stringify(r)}`);
  }
  if (typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > MAX_SCRYPT_P) {
    fail(`p must be an integer from 1 to ${MAX_SCRYPT_P}, got ${JSON.stringify(p)}`);
  }
  if (scryptMemory(N as number, r as number, p as number) > MAX_SCRYPT_MEMORY) {
    fail(`N=${String(N)}, r=${String(r)}, p=${String(p)} need more than 1 GiB of memory`);
  }
}

/** Bytes scrypt allocates (OpenSSL's accounting: 128·r·p for B plus 128·r·(N+2) for V). */
function scryptMemory(N: number, r: number, p: number): number {
  return 128 * r * p + 128 * r * (N + 2);
}

function deriveKey(passphrase: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  // NFC: the same passphrase typed on two systems may arrive as different code points.
  const secret = Buffer.from(passphrase.normalize('NFC'), 'utf8');
  // Node's default maxmem (32 MiB) is exactly what N=2^15, r=8 needs, and the check counts a
  // little more than that, so the default would refuse our own default parameters.
  const maxmem = scryptMemory(params.N, params.r, params.p) + 1024 * 1024;
  return new Promise((resolve, reject) => {
    crypto.scrypt(secret, salt, KEY_LENGTH, { N: params.N, r: params.r, p: params.p, maxmem }, (err, key) => {
      secret.fill(0);
      if (err) reject(err);
      else resolve(key);
    });
  });
}

/** The GCM associated data: every field but the ciphertext and tag, in a fixed order. */
function associatedData(header: Omit<EncryptedKeyFileJson, 'ciphertext' | 'tag'>): Buffer {
  return Buffer.from(
    JSON.stringify([
      header.type,
      header.version,
      header.address.toUpperCase(),
      header.pub_key.type,
      header.pub_key.value,
      header.kdf,
      header.kdfParams.N,
      header.kdfParams.r,
      header.kdfParams.p,
      header.kdfParams.salt,
      header.cipher,
      header.nonce,
    ]),
    'utf8',
  );
}
