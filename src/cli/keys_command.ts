// `raft-signer keys import` and `raft-signer keys show`: put a CometBFT validator key into a node
// home (plain or encrypted under a passphrase) and register it for a chain in config.yaml; show
// which key each chain signs with.
//
// Import writes the key as `<home>/keys/<chain file name>.json` (mode 0600 in a 0700 directory)
// and adds or updates the chain's entry in config.yaml, editing the YAML document in place so that
// every other field, and the operator's comments, stay as they were. It refuses to put a
// different key in place of the one a chain is configured with unless told --force, because every
// node of a cluster must sign with the same key: a node quietly switched to another key would
// sign for a validator the chain does not know (or, worse, for another one it does). Importing
// the key a chain already uses changes nothing.
//
// No private key material ever reaches the output: what is printed (text or JSON) is built only
// from the address and the public key, and the key modules' errors never quote a secret.

import { Command, InvalidArgumentError, Option } from 'commander';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import {
  ChainConfig,
  ConfigError,
  configFilePath,
  loadNodeConfig,
  NodeConfig,
  parseNodeConfig,
  validatorAddressProblem,
} from '../config/node_config';
import { MAX_CHAIN_ID_LENGTH } from '../config/node_config_schema';
import {
  isEncryptedKeyFileContent,
  loadValidatorKeyFile,
  PassphraseError,
  PassphraseSource,
  readValidatorKeyFilePublicInfo,
  resolvePassphrase,
  writeEncryptedValidatorKeyFile,
} from '../keys/encrypted_key_file';
import { fsyncDirectory, KeyFileError, readSecretFile, SECRET_DIR_MODE } from '../keys/key_file_permissions';
import { parsePrivValidatorKeyJson, ValidatorKey, writePlainValidatorKeyFile } from '../keys/validator_key';
import { CliError } from './cli_errors';

/** The directory of a node home that imported keys go to. */
export const KEYS_DIR = 'keys';
/** Hex digits of SHA-256(chain id) appended to a chain's file name when characters were replaced. */
const CHAIN_FILE_HASH_DIGITS = 8;
const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The file name (in `keys/`) of a chain's key. CometBFT allows any characters in a chain id;
 * letters, digits, '.', '_' and '-' are kept, anything else (and a leading '.', which would hide
 * the file) becomes '_', and then a short hash of the real chain id is appended so that two chain
 * ids that differ only in replaced characters still get different files.
 */
export function chainKeyFileName(chainId: string): string {
  let safe = chainId.replace(/[^A-Za-z0-9._-]/g, '_');
  if (safe.startsWith('.')) safe = '_' + safe.slice(1);
  if (safe !== chainId) {
    const hash = crypto.createHash('sha256').update(chainId, 'utf8').digest('hex').slice(0, CHAIN_FILE_HASH_DIGITS);
    safe = `${safe}-${hash}`;
  }
  return `${safe}.json`;
}

/** A key's public identity, in the forms operators meet it. */
export interface PublicKeyView {
  /** Upper-case hex of the 20-byte address, as CometBFT prints it. */
  address: string;
  /** Base64, as genesis.json and `cometbft show-validator` print it. */
  publicKeyBase64: string;
  /** Upper-case hex, as CometBFT's PubKeyEd25519{...} prints it. */
  publicKeyHex: string;
}

function publicKeyView(address: string, publicKey: Uint8Array): PublicKeyView {
  const bytes = Buffer.from(publicKey);
  return { address, publicKeyBase64: bytes.toString('base64'), publicKeyHex: bytes.toString('hex').toUpperCase() };
}

// ---------------------------------------------------------------------------------------------
// keys import

export interface KeysImportOptions {
  /** The node home (holds config.yaml). */
  home: string;
  chainId: string;
  /** A plain CometBFT priv_validator_key.json (owner-only). */
  keyFile: string;
  /** Encrypt the copy under the passphrase from passphraseEnv or passphraseFile. */
  encrypt?: boolean;
  passphraseEnv?: string;
  passphraseFile?: string;
  /** Replaces the chain's privval addresses; absent: keep those configured (none for a new chain). */
  validatorAddrs?: string[];
  /** Replace a chain's key by a different one. */
  force?: boolean;
  /** Where passphraseEnv is looked up; default process.env. */
  env?: NodeJS.ProcessEnv;
}

/**
 * added: the chain was not configured. updated: same key, but its file or settings changed.
 * replaced: a different key took the place of the configured one (--force). unchanged: nothing to do.
 */
export type KeysImportOutcome = 'added' | 'updated' | 'replaced' | 'unchanged';

export interface KeysImportResult extends PublicKeyView {
  outcome: KeysImportOutcome;
  home: string;
  configFile: string;
  chainId: string;
  /** Absolute path of the key file the chain uses now. */
  keyFile: string;
  /** Whether keyFile was written by this import (false: an existing file was kept). */
  wroteKeyFile: boolean;
  encrypted: boolean;
  passphraseEnv?: string;
  passphraseFile?: string;
  validatorAddrs: string[];
  /** A key file the chain used before and no longer does (left where it is). */
  previousKeyFile?: string;
  /** The address of the key this import replaced (outcome "replaced"). */
  previousAddress?: string;
  /** Where a replaced file that held another key was moved, rather than deleted. */
  backupFile?: string;
}

type KeyFileState =
  | { kind: 'absent' }
  | { kind: 'readable'; encrypted: boolean; address: string; publicKey: Uint8Array }
  | { kind: 'unreadable'; reason: string };

/** Imports a validator key into a node home, as described in the file header; returns what it did. */
export async function importValidatorKey(options: KeysImportOptions): Promise<KeysImportResult> {
  const env = options.env ?? process.env;
  const chainId = options.chainId;
  if (chainId.length < 1 || chainId.length > MAX_CHAIN_ID_LENGTH) {
    throw new CliError(`--chain-id must be 1 to ${MAX_CHAIN_ID_LENGTH} characters, as CometBFT requires (got ${chainId.length})`);
  }
  const passphraseSource = checkPassphraseOptions(options);
  for (const addr of options.validatorAddrs ?? []) {
    const problem = validatorAddressProblem(addr);
    if (problem !== null) throw new CliError(`--validator-addr "${addr}" is not a privval address: ${problem}`);
  }

  const config = loadNodeConfig(options.home);
  const home = config.home;
  const configFile = configFilePath(home);
  const sourcePath = path.resolve(options.keyFile);
  const key = readSourceKey(sourcePath);
  // Before any slow or irreversible step: a passphrase that cannot be had stops the import now.
  const passphrase = passphraseSource === undefined ? undefined : passphraseFrom(passphraseSource, env);
  const encrypted = passphraseSource !== undefined;

  const target = path.join(home, KEYS_DIR, chainKeyFileName(chainId));
  const clash = config.chains.find((c) => c.chainId !== chainId && samePath(c.keyFile, target));
  if (clash !== undefined) {
    throw new CliError(
      `chain ${JSON.stringify(clash.chainId)} in ${configFile} already uses ${clash.keyFile}, the file chain ${JSON.stringify(chainId)} would be imported to: ` +
        `give that chain another keyFile first`,
    );
  }

  const existing = config.chains.find((c) => c.chainId === chainId);
  let keepKeyFile = false;
  /** The chain is configured with another key (or one that cannot be read), and --force was given. */
  let replacing = false;
  let previousAddress: string | undefined;
  if (existing !== undefined) {
    const current = inspectKeyFile(existing.keyFile);
    if (current.kind === 'readable' && sameKey(current.publicKey, key)) {
      // Same key: the file stays if it is already in the form asked for and opens as configured.
      keepKeyFile =
        current.encrypted === encrypted &&
        (!encrypted || (samePassphraseSource(existing, passphraseSource) && (await opensWith(existing.keyFile, key, passphraseSource, env))));
    } else {
      if (!options.force) throw differentKeyRefusal(chainId, existing.keyFile, current, sourcePath, key, configFile);
      replacing = true;
      if (current.kind === 'readable') previousAddress = current.address;
    }
  }

  const addrsGiven = options.validatorAddrs !== undefined;
  const validatorAddrs = options.validatorAddrs ?? existing?.validatorAddrs ?? [];
  const addrsChanged = addrsGiven && !sameList(validatorAddrs, existing?.validatorAddrs ?? []);
  const base = {
    home,
    configFile,
    chainId,
    ...publicKeyView(key.address, key.publicKey),
    encrypted,
    validatorAddrs: [...validatorAddrs],
  };

  if (existing !== undefined && keepKeyFile) {
    const kept: KeysImportResult = {
      ...base,
      outcome: addrsChanged ? 'updated' : 'unchanged',
      keyFile: existing.keyFile,
      wroteKeyFile: false,
      ...passphraseFields(existing),
    };
    if (addrsChanged) {
      const text = updatedConfigText(configFile, home, chainId, { validatorAddrs });
      writeConfigText(configFile, text);
    }
    return kept;
  }

  // A new key file at `target`, then the config pointing at it. The new config is built and
  // checked before anything is written, so a refusal writes nothing.
  const newConfigText = updatedConfigText(configFile, home, chainId, {
    keyFile: target,
    passphrase: passphraseSource,
    validatorAddrs: addrsGiven ? validatorAddrs : undefined,
  });
  const targetState = inspectKeyFile(target);
  const targetHoldsOtherKey = !(targetState.kind === 'absent' || (targetState.kind === 'readable' && sameKey(targetState.publicKey, key)));
  if (targetHoldsOtherKey && !options.force) {
    const holds =
      targetState.kind === 'readable'
        ? `holds another key (validator address ${targetState.address})`
        : `cannot be read (${describeUnreadable(targetState)})`;
    throw new CliError(
      `${target} already exists and ${holds}: move it away, or run again with --force to replace it (it is then kept as a backup)`,
    );
  }

  ensureKeysDirectory(path.dirname(target));
  // Whatever is at the target is moved aside first, so that a failure can put it back; a file
  // that held this same key is deleted at the end, one that held another key stays as a backup.
  let aside: string | undefined;
  if (targetState.kind !== 'absent') {
    aside = `${target}.replaced-${new Date().toISOString().replace(/[:.]/g, '')}`;
    fs.renameSync(target, aside);
  }
  let wrote = false;
  try {
    if (passphrase !== undefined) {
      await writeEncryptedValidatorKeyFile(target, key, passphrase);
      wrote = true;
      // Read back with the configured source, as the node will at start.
      if (!(await opensWith(target, key, passphraseSource, env))) {
        throw new KeyFileError(target, `key file ${target} was written but does not decrypt to the imported key: nothing was changed`);
      }
    } else {
      writePlainValidatorKeyFile(target, key);
      wrote = true;
    }
    writeConfigText(configFile, newConfigText);
  } catch (err) {
    if (wrote) fs.rmSync(target, { force: true });
    if (aside !== undefined) fs.renameSync(aside, target);
    throw err;
  }
  let backupFile: string | undefined;
  if (aside !== undefined) {
    if (targetHoldsOtherKey) backupFile = aside;
    else fs.rmSync(aside, { force: true });
  }
  fsyncDirectory(path.dirname(target));

  const result: KeysImportResult = {
    ...base,
    outcome: existing === undefined ? 'added' : replacing ? 'replaced' : 'updated',
    keyFile: target,
    wroteKeyFile: true,
  };
  if (options.passphraseEnv !== undefined) result.passphraseEnv = options.passphraseEnv;
  if (options.passphraseFile !== undefined) result.passphraseFile = path.resolve(options.passphraseFile);
  if (existing !== undefined && !samePath(existing.keyFile, target)) result.previousKeyFile = existing.keyFile;
  if (previousAddress !== undefined) result.previousAddress = previousAddress;
  if (backupFile !== undefined) result.backupFile = backupFile;
  return result;
}

/** What `keys import` prints. */
export function formatImportResult(r: KeysImportResult): string {
  const lines: string[] = [];
  switch (r.outcome) {
    case 'unchanged':
      lines.push(`Chain ${r.chainId} already signs with this key in ${r.home}: nothing changed.`);
      break;
    case 'added':
      lines.push(`Imported the validator key for chain ${r.chainId} into ${r.home}.`);
      break;
    case 'updated':
      lines.push(`Updated chain ${r.chainId} in ${r.home} (same key as before).`);
      break;
    case 'replaced':
      lines.push(
        `Replaced the validator key of chain ${r.chainId} in ${r.home}` +
          (r.previousAddress !== undefined ? ` (it was the key with address ${r.previousAddress}).` : '.'),
      );
      break;
  }
  lines.push(`  chain id           ${r.chainId}`);
  lines.push(...publicKeyLines(r));
  const form = r.encrypted ? `encrypted, passphrase from ${passphraseDescription(r)}` : 'not encrypted';
  lines.push(`  key file           ${r.keyFile} (${form}${r.wroteKeyFile ? '; written, mode 0600' : '; kept'})`);
  lines.push(`  validator addrs    ${r.validatorAddrs.length > 0 ? r.validatorAddrs.join(', ') : 'none'}`);
  lines.push(`  config             ${r.configFile}${r.outcome === 'unchanged' ? ' (unchanged)' : ` (chain ${r.outcome === 'added' ? 'added' : 'updated'})`}`);
  if (r.backupFile !== undefined) lines.push(`  backup             ${r.backupFile} (the file that was in the way, moved aside)`);
  if (r.previousKeyFile !== undefined) {
    lines.push(`  no longer used     ${r.previousKeyFile} (left in place, untouched)`);
  }
  if (r.validatorAddrs.length === 0) {
    lines.push(`Chain ${r.chainId} has no validator address: add --validator-addr (or validatorAddrs in config.yaml) so the node knows which validator node to serve.`);
  }
  lines.push(
    `Every node of the cluster needs the same key for chain ${r.chainId}: import this same key (address ${r.address}) into each node's home.`,
  );
  if (r.outcome !== 'unchanged') lines.push('A running node uses the change from its next start.');
  return lines.join('\n') + '\n';
}

function checkPassphraseOptions(options: KeysImportOptions): PassphraseSource | undefined {
  const { encrypt, passphraseEnv, passphraseFile } = options;
  if (passphraseEnv !== undefined && passphraseFile !== undefined) {
    throw new CliError('--passphrase-env and --passphrase-file are mutually exclusive: give one of them');
  }
  if (!encrypt) {
    if (passphraseEnv !== undefined || passphraseFile !== undefined) {
      throw new CliError('--passphrase-env and --passphrase-file go with --encrypt: add --encrypt, or drop them to import the key unencrypted');
    }
    return undefined;
  }
  if (passphraseEnv !== undefined) {
    if (!ENV_NAME_PATTERN.test(passphraseEnv)) {
      throw new CliError(`--passphrase-env "${passphraseEnv}" is not an environment variable name (letters, digits and _, not starting with a digit)`);
    }
    return { env: passphraseEnv };
  }
  if (passphraseFile !== undefined) {
    if (passphraseFile === '') throw new CliError('--passphrase-file must name a file');
    return { file: path.resolve(passphraseFile) };
  }
  throw new CliError('--encrypt needs --passphrase-env VAR or --passphrase-file FILE: the node reads the passphrase from there at start');
}

function passphraseFrom(source: PassphraseSource, env: NodeJS.ProcessEnv): string {
  try {
    return resolvePassphrase(source, env);
  } catch (err) {
    // PassphraseError says what to do but is not one of the errors main.ts reports as expected.
    if (err instanceof PassphraseError) throw new CliError(err.message);
    throw err;
  }
}

/** Reads the key to import: a plain CometBFT file, owner-only (readSecretFile says chmod 600). */
function readSourceKey(sourcePath: string): ValidatorKey {
  const content = readSecretFile(sourcePath);
  try {
    const text = content.toString('utf8');
    if (isEncryptedKeyFileContent(text)) {
      throw new CliError(
        `${sourcePath} is a raft-signer encrypted key file: keys import takes a plain CometBFT priv_validator_key.json; ` +
          `copy the encrypted file into the node home and set keyFile and its passphrase source in config.yaml instead`,
      );
    }
    return parsePrivValidatorKeyJson(text, sourcePath);
  } finally {
    content.fill(0);
  }
}

function inspectKeyFile(filePath: string): KeyFileState {
  if (!fs.existsSync(filePath)) return { kind: 'absent' };
  try {
    const info = readValidatorKeyFilePublicInfo(filePath);
    return { kind: 'readable', encrypted: info.encrypted, address: info.address, publicKey: info.publicKey };
  } catch (err) {
    if (err instanceof KeyFileError) return { kind: 'unreadable', reason: err.message };
    throw err;
  }
}

function describeUnreadable(state: KeyFileState): string {
  return state.kind === 'unreadable' ? state.reason : state.kind === 'absent' ? 'it does not exist' : 'it is readable';
}

function differentKeyRefusal(
  chainId: string,
  configuredFile: string,
  current: KeyFileState,
  sourcePath: string,
  key: ValidatorKey,
  configFile: string,
): CliError {
  const now =
    current.kind === 'readable'
      ? `with the key of validator address ${current.address} (${configuredFile})`
      : current.kind === 'absent'
        ? `with key file ${configuredFile}, which does not exist`
        : `with key file ${configuredFile}, which cannot be read (${current.reason})`;
  return new CliError(
    `chain ${chainId} is already configured in ${configFile} ${now}; ${sourcePath} holds another key (validator address ${key.address}). ` +
      `Every node of the cluster must sign with the same key for a chain, so replacing it is refused; ` +
      `if this node really must switch to the new key, run again with --force`,
  );
}

/** Whether the file at `filePath` decrypts (or reads) to `key` with the given passphrase source. */
async function opensWith(filePath: string, key: ValidatorKey, source: PassphraseSource | undefined, env: NodeJS.ProcessEnv): Promise<boolean> {
  try {
    const loaded = await loadValidatorKeyFile(filePath, { passphrase: source, env });
    return loaded.equals(key);
  } catch (err) {
    // A wrong passphrase (or a damaged file): the caller writes a fresh file for the same key.
    if (err instanceof KeyFileError || err instanceof PassphraseError) return false;
    throw err;
  }
}

function sameKey(publicKey: Uint8Array, key: ValidatorKey): boolean {
  return Buffer.from(publicKey).equals(Buffer.from(key.publicKey));
}

function samePassphraseSource(chain: ChainConfig, source: PassphraseSource | undefined): boolean {
  if (source === undefined) return chain.passphraseEnv === undefined && chain.passphraseFile === undefined;
  if ('env' in source) return chain.passphraseEnv === source.env;
  return chain.passphraseFile !== undefined && samePath(chain.passphraseFile, source.file);
}

function passphraseFields(chain: ChainConfig): { passphraseEnv?: string; passphraseFile?: string } {
  const out: { passphraseEnv?: string; passphraseFile?: string } = {};
  if (chain.passphraseEnv !== undefined) out.passphraseEnv = chain.passphraseEnv;
  if (chain.passphraseFile !== undefined) out.passphraseFile = chain.passphraseFile;
  return out;
}

/** Compared case-insensitively: on macOS's default file system two such names are one file. */
function samePath(a: string, b: string): boolean {
  return path.resolve(a).toLowerCase() === path.resolve(b).toLowerCase();
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** `<home>/keys`, owner-only: created 0700, or tightened to 0700 if it is ours but looser. */
function ensureKeysDirectory(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: SECRET_DIR_MODE });
  const stat = fs.lstatSync(dir);
  if (!stat.isDirectory()) throw new CliError(`${dir} is not a directory: move it away so that keys can be stored there`);
  if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) fs.chmodSync(dir, SECRET_DIR_MODE);
}

interface ChainUpdate {
  /** Point the chain at this key file, with this passphrase source (none: a plain file). */
  keyFile?: string;
  passphrase?: PassphraseSource;
  /** Replace the chain's validator addresses. */
  validatorAddrs?: string[];
}

/**
 * config.yaml with the chain's entry added or updated. The YAML document is edited in place, so
 * comments, order and every other field stay; the result is checked exactly as the node checks
 * it at start, and must give the chain what was asked.
 */
function updatedConfigText(configFile: string, home: string, chainId: string, update: ChainUpdate): string {
  const text = fs.readFileSync(configFile, 'utf8');
  const doc = YAML.parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) throw new ConfigError(configFile, [`${configFile}: YAML syntax: ${doc.errors[0].message.split('\n')[0]}`]);
  const inHome = (p: string): string => {
    const relative = path.relative(home, p);
    return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : p;
  };

  let chains = doc.get('chains', true);
  if (chains === undefined || chains === null) {
    doc.set('chains', doc.createNode([]));
    chains = doc.get('chains', true);
  }
  if (!YAML.isSeq(chains)) throw new Error(`${configFile}: chains is not a sequence after loading (bug)`);
  let entry = chains.items.find((item): item is YAML.YAMLMap => YAML.isMap(item) && item.get('chainId') === chainId);
  if (entry === undefined) {
    entry = doc.createNode({ chainId }) as YAML.YAMLMap;
    chains.add(entry);
  }
  if (update.keyFile !== undefined) {
    entry.set('keyFile', inHome(update.keyFile));
    entry.delete('passphraseEnv');
    entry.delete('passphraseFile');
    if (update.passphrase !== undefined) {
      // Right after keyFile, where a reader looks for it.
      const pair =
        'env' in update.passphrase
          ? doc.createPair('passphraseEnv', update.passphrase.env)
          : doc.createPair('passphraseFile', inHome(update.passphrase.file));
      const at = entry.items.findIndex((item) => YAML.isScalar(item.key) ? item.key.value === 'keyFile' : item.key === 'keyFile');
      entry.items.splice(at + 1, 0, pair);
    }
  }
  if (update.validatorAddrs !== undefined) entry.set('validatorAddrs', doc.createNode([...update.validatorAddrs]));
  // lineWidth 0: do not re-fold long values the operator wrote on one line.
  const newText = doc.toString({ lineWidth: 0 });

  let checked: NodeConfig;
  try {
    checked = parseNodeConfig(newText, configFile, home);
  } catch (err) {
    if (err instanceof ConfigError) {
      throw new CliError(`the updated ${configFile} would not load, so nothing was written: ${err.problems.join('; ')}`);
    }
    throw err;
  }
  const chain = checked.chains.find((c) => c.chainId === chainId);
  if (chain === undefined || (update.keyFile !== undefined && !samePath(chain.keyFile, update.keyFile))) {
    throw new Error(`updating ${configFile} did not give chain ${chainId} the intended entry (bug)`);
  }
  return newText;
}

/** Replaces config.yaml atomically (temporary file, fsync, rename, fsync the directory), keeping its mode. */
function writeConfigText(configFile: string, text: string): void {
  const mode = fs.statSync(configFile).mode & 0o777;
  const dir = path.dirname(configFile);
  const tmp = `${configFile}.${process.pid}.${Date.now()}.tmp`;
  try {
    const fd = fs.openSync(tmp, 'wx', mode);
    try {
      fs.fchmodSync(fd, mode);
      fs.writeFileSync(fd, text);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, configFile);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    // A full disk or a read-only home: the operator's to fix, and config.yaml is as it was.
    throw new CliError(`cannot write ${configFile}: ${err instanceof Error ? err.message : String(err)}; nothing was changed`);
  }
  fsyncDirectory(dir);
}

// ---------------------------------------------------------------------------------------------
// keys show

export interface KeyShowEntry {
  chainId: string;
  keyFile: string;
  /** Absent when the file could not be read (see error). */
  encrypted?: boolean;
  passphraseEnv?: string;
  passphraseFile?: string;
  address?: string;
  publicKeyBase64?: string;
  publicKeyHex?: string;
  validatorAddrs: string[];
  /** Why the key file could not be read. */
  error?: string;
}

/**
 * The key of every configured chain (or of `chainId` only), read without any passphrase: the
 * encrypted format keeps the public key and address in the clear.
 */
export function showValidatorKeys(home: string, chainId?: string): { home: string; chains: KeyShowEntry[] } {
  const config = loadNodeConfig(home);
  let chains = config.chains;
  if (chainId !== undefined) {
    chains = chains.filter((c) => c.chainId === chainId);
    if (chains.length === 0) {
      const known = config.chains.map((c) => c.chainId);
      throw new CliError(
        `chain ${chainId} is not configured in ${configFilePath(config.home)} ` +
          (known.length > 0 ? `(configured: ${known.join(', ')})` : '(no chain is configured)') +
          `: import its key with raft-signer keys import`,
      );
    }
  }
  const entries = chains.map((chain): KeyShowEntry => {
    const entry: KeyShowEntry = { chainId: chain.chainId, keyFile: chain.keyFile, ...passphraseFields(chain), validatorAddrs: [...chain.validatorAddrs] };
    const state = inspectKeyFile(chain.keyFile);
    if (state.kind === 'readable') {
      entry.encrypted = state.encrypted;
      Object.assign(entry, publicKeyView(state.address, state.publicKey));
    } else {
      entry.error = state.kind === 'absent' ? `key file ${chain.keyFile} not found` : state.reason;
    }
    return entry;
  });
  return { home: config.home, chains: entries };
}

export function formatShowResult(result: { home: string; chains: KeyShowEntry[] }): string {
  if (result.chains.length === 0) {
    return `No chain is configured in ${configFilePath(result.home)}: import a key with raft-signer keys import.\n`;
  }
  const lines: string[] = [];
  for (const c of result.chains) {
    if (lines.length > 0) lines.push('');
    lines.push(`chain ${c.chainId}`);
    lines.push(`  key file           ${c.keyFile}`);
    if (c.error !== undefined) {
      lines.push(`  error              ${c.error}`);
    } else {
      lines.push(`  encrypted          ${c.encrypted ? `yes, passphrase from ${passphraseDescription(c)}` : 'no'}`);
      lines.push(...publicKeyLines(c as PublicKeyView));
    }
    lines.push(`  validator addrs    ${c.validatorAddrs.length > 0 ? c.validatorAddrs.join(', ') : 'none'}`);
  }
  return lines.join('\n') + '\n';
}

function publicKeyLines(v: PublicKeyView): string[] {
  return [
    `  validator address  ${v.address}`,
    `  public key         ${v.publicKeyBase64} (base64, as in genesis)`,
    `                     ${v.publicKeyHex} (hex)`,
  ];
}

function passphraseDescription(c: { passphraseEnv?: string; passphraseFile?: string }): string {
  if (c.passphraseEnv !== undefined) return `environment variable ${c.passphraseEnv}`;
  if (c.passphraseFile !== undefined) return `file ${c.passphraseFile}`;
  return 'nowhere (set passphraseEnv or passphraseFile for this chain, or the node cannot open the key)';
}

// ---------------------------------------------------------------------------------------------
// the commands

/** Adds `keys import` and `keys show` to the program. */
export function registerKeysCommand(program: Command): void {
  const keys = program.command('keys').description('import and show the validator keys this node signs with');

  const importCommand = keys
    .command('import')
    .description("copy a CometBFT priv_validator_key.json into the node home (keys/) and configure it for a chain")
    .requiredOption('--home <dir>', "the node's home directory (holds config.yaml)")
    .requiredOption('--chain-id <id>', 'the chain the key signs for')
    .requiredOption('--key-file <file>', 'the CometBFT priv_validator_key.json to import (mode 0600)')
    .option('--encrypt', 'store the key encrypted under a passphrase (scrypt + AES-256-GCM)')
    .addOption(
      new Option('--passphrase-env <var>', 'with --encrypt: environment variable holding the passphrase, now and at every start')
        .argParser(parseEnvName)
        .conflicts('passphraseFile'),
    )
    .addOption(new Option('--passphrase-file <file>', 'with --encrypt: owner-only file holding the passphrase, now and at every start'))
    .option('--validator-addr <addr>', "privval address of this node's validator node (repeatable; replaces the configured ones)", collectValidatorAddr)
    .option('--force', 'replace the key a chain is configured with by a different one (a replaced file in keys/ is kept as a backup)')
    .action(
      async (opts: {
        home: string;
        chainId: string;
        keyFile: string;
        encrypt?: boolean;
        passphraseEnv?: string;
        passphraseFile?: string;
        validatorAddr?: string[];
        force?: boolean;
      }) => {
        const hasSource = opts.passphraseEnv !== undefined || opts.passphraseFile !== undefined;
        if (opts.encrypt && !hasSource) {
          importCommand.error('error: --encrypt needs --passphrase-env <var> or --passphrase-file <file>', { exitCode: 2 });
        }
        if (!opts.encrypt && hasSource) {
          importCommand.error('error: --passphrase-env and --passphrase-file go with --encrypt', { exitCode: 2 });
        }
        const result = await importValidatorKey({
          home: opts.home,
          chainId: opts.chainId,
          keyFile: opts.keyFile,
          encrypt: opts.encrypt === true,
          passphraseEnv: opts.passphraseEnv,
          passphraseFile: opts.passphraseFile,
          validatorAddrs: opts.validatorAddr,
          force: opts.force === true,
        });
        process.stdout.write(formatImportResult(result));
      },
    );

  keys
    .command('show')
    .description('show the key of each configured chain: address and public key (never the private key)')
    .requiredOption('--home <dir>', "the node's home directory (holds config.yaml)")
    .option('--chain-id <id>', 'only this chain')
    .option('--json', 'one JSON object on stdout')
    .action((opts: { home: string; chainId?: string; json?: boolean }) => {
      const result = showValidatorKeys(opts.home, opts.chainId);
      if (opts.json) {
        // Field by field: only public data can get into the output, whatever KeyShowEntry grows.
        const chains = result.chains.map((c) => {
          const out: Record<string, unknown> = { chainId: c.chainId, keyFile: c.keyFile };
          if (c.error !== undefined) {
            out.error = c.error;
          } else {
            out.encrypted = c.encrypted;
            if (c.passphraseEnv !== undefined) out.passphraseEnv = c.passphraseEnv;
            if (c.passphraseFile !== undefined) out.passphraseFile = c.passphraseFile;
            out.address = c.address;
            out.publicKeyBase64 = c.publicKeyBase64;
            out.publicKeyHex = c.publicKeyHex;
          }
          out.validatorAddrs = c.validatorAddrs;
          return out;
        });
        process.stdout.write(JSON.stringify({ home: result.home, chains }) + '\n');
      } else {
        process.stdout.write(formatShowResult(result));
      }
      const failed = result.chains.filter((c) => c.error !== undefined);
      if (failed.length > 0) {
        throw new CliError(
          `the key file of ${failed.length === 1 ? `chain ${failed[0].chainId}` : `${failed.length} chains`} could not be read: ${failed[0].error ?? ''}`,
        );
      }
    });
}

function parseEnvName(value: string): string {
  if (!ENV_NAME_PATTERN.test(value)) {
    throw new InvalidArgumentError('must be an environment variable name (letters, digits and _, not starting with a digit)');
  }
  return value;
}

function collectValidatorAddr(value: string, previous: string[] | undefined): string[] {
  const problem = validatorAddressProblem(value);
  if (problem !== null) throw new InvalidArgumentError(`not a privval address: ${problem}`);
  return [...(previous ?? []), value];
}
