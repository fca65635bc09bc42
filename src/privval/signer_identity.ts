// The signer's SecretConnection identity: the Ed25519 key a raft-signer node authenticates with
// when it dials a validator node over tcp://. It is not the validator key and signs nothing but
// handshake challenges; it exists so that each end of the link knows whom it talks to. Its node
// id (node_id.ts) is what an operator pins on the other side, or recognises in the node's log.
//
// Kept in the node home as `privval_identity.json`, created on first use, in the format of
// CometBFT's node_key.json ({"priv_key": {"type": "tendermint/PrivKeyEd25519", "value":
// b64(seed || pub)}}), so the usual tools read it. It must survive restarts (or the pinned id
// would change) and is a secret (whoever holds it can impersonate this signer to the node): mode
// 0600, refused when group or others may read it, like every key file.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import util from 'node:util';

import { KeyFileError, isErrnoCode, readSecretFile, writeSecretFile } from '../keys/key_file_permissions';
import { ED25519_PUBLIC_KEY_LENGTH, ED25519_SEED_LENGTH, PRIV_KEY_TYPE_ED25519, decodeBase64, isPlainObject } from '../keys/validator_key';
import { nodeIdFromPublicKey } from './node_id';

/** The identity file's name inside a node home. */
export const SIGNER_IDENTITY_FILE = 'privval_identity.json';
/** Names the file in error messages. */
const WHAT = 'signer identity file';

const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX_LENGTH = 12;

/** The identity file is unusable; the message says why and what to do. */
export class SignerIdentityError extends KeyFileError<{ code: 'SIGNER_IDENTITY_INVALID'; path: string }> {
  constructor(filePath: string, message: string) {
    super(filePath, message, { code: 'SIGNER_IDENTITY_INVALID', path: filePath });
    this.name = 'SignerIdentityError';
  }
}

/** node_key.json as CometBFT writes it. */
interface NodeKeyJson {
  priv_key: { type: string; value: string };
}

export class SignerIdentity {
  readonly #privateKey: crypto.KeyObject;
  /** The 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  /** CometBFT node id of the key: what `tcp://<id>@host:port` pins. */
  readonly nodeId: string;

  private constructor(privateKey: crypto.KeyObject) {
    this.#privateKey = privateKey;
    const spki = crypto.createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
    this.publicKey = new Uint8Array(spki.subarray(SPKI_ED25519_PREFIX_LENGTH));
    this.nodeId = nodeIdFromPublicKey(this.publicKey);
  }

  /** A fresh identity from the operating system's CSPRNG (in memory only). */
  static generate(): SignerIdentity {
    return new SignerIdentity(crypto.generateKeyPairSync('ed25519').privateKey);
  }

  static fromSeed(seed: Uint8Array): SignerIdentity {
    if (seed.length !== ED25519_SEED_LENGTH) {
      throw new RangeError(`an Ed25519 seed is ${ED25519_SEED_LENGTH} bytes, got ${seed.length}`);
    }
    const der = Buffer.concat([PKCS8_ED25519_PREFIX, seed]);
    try {
      return new SignerIdentity(crypto.createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }));
    } finally {
      der.fill(0);
    }
  }

  /** The private key, for makeSecretConnection only. A KeyObject never prints its secret. */
  secretConnectionKey(): crypto.KeyObject {
    return this.#privateKey;
  }

  /** node_key.json content, secret included. */
  exportJson(): string {
    const pkcs8 = this.#privateKey.export({ format: 'der', type: 'pkcs8' });
    const seedAndPub = Buffer.concat([pkcs8.subarray(PKCS8_ED25519_PREFIX.length), this.publicKey]);
    pkcs8.fill(0);
    try {
      const json: NodeKeyJson = { priv_key: { type: PRIV_KEY_TYPE_ED25519, value: seedAndPub.toString('base64') } };
      return JSON.stringify(json, null, 2);
    } finally {
      seedAndPub.fill(0);
    }
  }

  /** Public half only, so that logging the object reveals nothing secret. */
  toJSON(): { nodeId: string } {
    return { nodeId: this.nodeId };
  }

  toString(): string {
    return `SignerIdentity(node id ${this.nodeId})`;
  }

  [util.inspect.custom](): string {
    return this.toString();
  }
}

/** Where a node home keeps its identity. */
export function signerIdentityPath(home: string): string {
  return path.join(home, SIGNER_IDENTITY_FILE);
}

/** Parses node_key.json content; `source` names the file in errors. */
export function parseSignerIdentityJson(text: string, source: string): SignerIdentity {
  const fail = (what: string): never => {
    throw new SignerIdentityError(source, `${WHAT} ${source} ${what}; move it away to have a new identity created (the node id changes)`);
  };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    // The parser's message may quote the secret: do not repeat it.
    return fail('is not valid JSON');
  }
  if (!isPlainObject(doc) || !isPlainObject(doc.priv_key)) return fail('has no "priv_key" object');
  const privKey = doc.priv_key;
  if (privKey.type !== PRIV_KEY_TYPE_ED25519) return fail(`has a priv_key that is not of type "${PRIV_KEY_TYPE_ED25519}"`);
  if (typeof privKey.value !== 'string') return fail('has no priv_key.value string');
  const seedAndPub = decodeBase64(privKey.value, 'priv_key.value', (what) => fail(`is unreadable: ${what}`));
  try {
    if (seedAndPub.length !== ED25519_SEED_LENGTH + ED25519_PUBLIC_KEY_LENGTH) {
      return fail(`has a priv_key.value of ${seedAndPub.length} bytes, not 64 (seed || public key)`);
    }
    const identity = SignerIdentity.fromSeed(seedAndPub.subarray(0, ED25519_SEED_LENGTH));
    if (!seedAndPub.subarray(ED25519_SEED_LENGTH).equals(Buffer.from(identity.publicKey))) {
      return fail('holds a public key that is not the one of its seed (corrupt or assembled by hand)');
    }
    return identity;
  } finally {
    seedAndPub.fill(0);
  }
}

export interface LoadedSignerIdentity {
  identity: SignerIdentity;
  path: string;
  /** True when the file did not exist and was created now. */
  created: boolean;
}

/**
 * The identity of the node whose home is `home`: read from `<home>/privval_identity.json`, or
 * created there (mode 0600) if the file does not exist. Throws KeyFilePermissionError for a file
 * that group or others may access (with the chmod to run), SignerIdentityError for one that does
 * not parse, KeyFileError for one that cannot be read.
 */
export function loadOrCreateSignerIdentity(home: string): LoadedSignerIdentity {
  const filePath = signerIdentityPath(home);
  const existing = readIdentityIfPresent(filePath);
  if (existing !== null) return { identity: existing, path: filePath, created: false };
  const identity = SignerIdentity.generate();
  const content = Buffer.from(identity.exportJson(), 'utf8');
  try {
    writeSecretFile(filePath, content, { what: WHAT });
  } catch (err) {
    // Another process created it between our read and our write: use theirs, never replace it.
    const raced = err instanceof KeyFileError ? readIdentityIfPresent(filePath) : null;
    if (raced !== null) return { identity: raced, path: filePath, created: false };
    throw err;
  } finally {
    content.fill(0);
  }
  return { identity, path: filePath, created: true };
}

function readIdentityIfPresent(filePath: string): SignerIdentity | null {
  let content: Buffer;
  try {
    content = readSecretFile(filePath, WHAT);
  } catch (err) {
    if (err instanceof KeyFileError && !fileExists(filePath)) return null;
    throw err;
  }
  try {
    return parseSignerIdentityJson(content.toString('utf8'), filePath);
  } finally {
    content.fill(0);
  }
}

function fileExists(filePath: string): boolean {
  try {
    // lstat: a dangling symlink exists too, and must not be written through.
    fs.lstatSync(filePath);
    return true;
  } catch (err) {
    if (isErrnoCode(err, 'ENOENT')) return false;
    throw err;
  }
}
