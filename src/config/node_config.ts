// A node's config.yaml: read from its home directory, checked against the schema (ajv) and then
// for what a schema cannot say (this node among the peers, unique ids and addresses, host:port
// syntax, election timeout against heartbeat, ...), defaults applied and paths resolved against
// the home. Everything is checked at start so that a mistake stops the node with a message naming
// the file and the field, instead of surfacing later as a node that cannot reach its peers.

import Ajv, { ErrorObject } from 'ajv';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import YAML from 'yaml';
import { fsyncDirectory } from '../keys/key_file_permissions';
import type { LogLevel } from '../log/logger';
import {
  ChainConfigFile,
  MetricsConfigFile,
  NODE_CONFIG_SCHEMA,
  NodeConfigFile,
  PeerConfigFile,
  RevokedCertificateFile,
  TlsConfigFile,
} from './node_config_schema';
import { RaftSignerError } from '../util/errors';

export const CONFIG_FILE_NAME = 'config.yaml';

export interface RaftConfig {
  heartbeatMs: number;
  /** Followers wait a random time in [t, 2t) without hearing a leader before campaigning. */
  electionTimeoutMs: number;
  /** Compact the log after this many applied entries. */
  snapshotEntries: number;
  maxAppendEntries: number;
  maxInflightAppends: number;
}

export interface SigningConfig {
  /** Give up on a sign request after this; below the validator node's 5 s read timeout. */
  deadlineMs: number;
}

export interface ChainConfig {
  chainId: string;
  /** Absolute path of a plain CometBFT key file or an encrypted one (told apart by content). */
  keyFile: string;
  passphraseEnv?: string;
  /** Absolute path. */
  passphraseFile?: string;
  /** Privval addresses of this node's validator node(s): tcp://[id@]host:port or unix:///path. */
  validatorAddrs: string[];
}

export type PeerConfig = PeerConfigFile;
export type TlsConfig = TlsConfigFile;
export type MetricsConfig = MetricsConfigFile;

/** A node's configuration, checked, with defaults applied and every path absolute. */
export interface NodeConfig {
  /** Absolute path of the node's home directory (holds config.yaml). */
  home: string;
  id: string;
  listen: string;
  /** Every member of the cluster, this node included. */
  peers: PeerConfig[];
  /** True: join an existing cluster rather than bootstrap one. */
  join: boolean;
  dataDir: string;
  tls: TlsConfig;
  raft: RaftConfig;
  signing: SigningConfig;
  chains: ChainConfig[];
  metrics?: MetricsConfig;
  logLevel: LogLevel;
  /**
   * Certificates of the cluster CA that every RPC and every Raft stream refuses, whatever their
   * role (src/transport/authorization.ts), as written (hex, colons allowed).
   */
  revokedCertificates: { serials: string[]; sha256: string[] };
}

export const DEFAULT_RAFT_CONFIG: Readonly<RaftConfig> = {
  heartbeatMs: 50,
  electionTimeoutMs: 500,
  snapshotEntries: 10000,
  maxAppendEntries: 256,
  maxInflightAppends: 64,
};
export const DEFAULT_SIGNING_CONFIG: Readonly<SigningConfig> = { deadlineMs: 3000 };
export const DEFAULT_DATA_DIR = 'data';
export const DEFAULT_LOG_LEVEL: LogLevel = 'info';
/** An election timeout under a few heartbeats lets one delayed heartbeat depose a healthy leader. */
export const MIN_ELECTION_TIMEOUT_HEARTBEATS = 3;
/** sun_path is 108 bytes on Linux, including the terminating NUL. */
export const MAX_UNIX_SOCKET_PATH_BYTES = 107;

/** The configuration is missing or wrong; `problems` lists each, already prefixed by the file. */
export class ConfigError extends RaftSignerError<{ code: 'CONFIG_INVALID'; source: string; problems: string[] }> {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super({ code: 'CONFIG_INVALID', source, problems }, problems.join('\n'));
    this.name = 'ConfigError';
  }
}

const ajv = new Ajv({ allErrors: true, verbose: true, strict: true });
const validateSchema = ajv.compile<NodeConfigFile>(NODE_CONFIG_SCHEMA);

export function configFilePath(home: string): string {
  return path.join(path.resolve(home), CONFIG_FILE_NAME);
}

/** Reads, checks and resolves `<home>/config.yaml`. */
export function loadNodeConfig(home: string): NodeConfig {
  const file = configFilePath(home);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new ConfigError(file, [`config file ${file} not found: create it with raft-signer testnet or by hand`]);
    }
    const reason = err instanceof Error ? err.message : String(err);
    throw new ConfigError(file, [`config file ${file} cannot be read: ${reason}`]);
  }
  return parseNodeConfig(text, file, home);
}

/**
 * Parses and checks config.yaml text; `sourceName` prefixes every message. Relative paths are
 * resolved against `home` (default: the directory of `sourceName`).
 */
export function parseNodeConfig(
  text: string,
  sourceName: string,
  home: string = path.dirname(path.resolve(sourceName)),
): NodeConfig {
  return resolveNodeConfig(parseNodeConfigFile(text, sourceName), home);
}

/** Parses and checks config.yaml text, without applying defaults or resolving paths. */
export function parseNodeConfigFile(text: string, sourceName: string): NodeConfigFile {
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    // The first line of a pretty error is "<what> at line L, column C:"; the rest quotes the file.
    throw new ConfigError(
      sourceName,
      doc.errors.map((e) => `${sourceName}: YAML syntax: ${e.message.split('\n')[0].replace(/:$/, '')}`),
    );
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // yaml refuses alias bombs and the like here.
    throw new ConfigError(sourceName, [`${sourceName}: ${err instanceof Error ? err.message : String(err)}`]);
  }
  return checkNodeConfigFile(value, sourceName);
}

/** Checks an already-parsed config value: schema first, then the rules a schema cannot express. */
export function checkNodeConfigFile(value: unknown, sourceName: string): NodeConfigFile {
  if (value === null || value === undefined) {
    throw new ConfigError(sourceName, [`${sourceName}: the file is empty: it must set at least id, listen, peers and tls`]);
  }
  if (!validateSchema(value)) {
    throw new ConfigError(sourceName, schemaProblems(validateSchema.errors ?? [], sourceName));
  }
  const problems = semanticProblems(value).map((p) => `${sourceName}: ${p}`);
  if (problems.length > 0) throw new ConfigError(sourceName, problems);
  return value;
}

/** Applies defaults and resolves paths against `home`. */
export function resolveNodeConfig(file: NodeConfigFile, home: string): NodeConfig {
  const absoluteHome = path.resolve(home);
  const resolve = (p: string): string => path.resolve(absoluteHome, p);
  const config: NodeConfig = {
    home: absoluteHome,
    id: file.id,
    listen: file.listen,
    peers: file.peers.map((p) => ({ id: p.id, address: p.address })),
    join: file.join ?? false,
    dataDir: resolve(file.dataDir ?? DEFAULT_DATA_DIR),
    tls: { ca: resolve(file.tls.ca), cert: resolve(file.tls.cert), key: resolve(file.tls.key) },
    raft: { ...DEFAULT_RAFT_CONFIG, ...file.raft },
    signing: { ...DEFAULT_SIGNING_CONFIG, ...file.signing },
    chains: (file.chains ?? []).map((c) => resolveChain(c, resolve)),
    logLevel: file.logLevel ?? DEFAULT_LOG_LEVEL,
    revokedCertificates: {
      serials: (file.revokedCertificates ?? []).flatMap((r) => (r.serial !== undefined ? [r.serial] : [])),
      sha256: (file.revokedCertificates ?? []).flatMap((r) => (r.sha256 !== undefined ? [r.sha256] : [])),
    },
  };
  if (file.metrics) config.metrics = { listen: file.metrics.listen };
  return config;
}

export interface WriteNodeConfigOptions {
  /** Replace an existing config.yaml. Default false. */
  overwrite?: boolean;
}

/**
 * Writes `<home>/config.yaml` after checking it exactly as loadNodeConfig will, so a node never
 * starts from a file its own tools wrote wrong. Paths inside the home are written relative to
 * it, so the home directory can be moved or copied as a whole. Returns the file's path.
 */
export function writeNodeConfig(
  home: string,
  config: NodeConfigFile | NodeConfig,
  options: WriteNodeConfigOptions = {},
): string {
  const absoluteHome = path.resolve(home);
  const file = configFilePath(absoluteHome);
  const shape = toFileShape(config, absoluteHome);
  const text =
    '# raft-signer node configuration. Durations are in milliseconds; relative paths are relative\n' +
    '# to this directory. Every field is described, with its default, in deploy/config.example.yaml\n' +
    '# of the raft-signer source tree (docs/operations.md says how to deploy).\n' +
    YAML.stringify(shape);
  checkNodeConfigFile(YAML.parse(text), file);

  if (!options.overwrite && fs.existsSync(file)) {
    throw new ConfigError(file, [`config file ${file} already exists: refusing to overwrite it`]);
  }
  // The home holds the keys: create it owner-only.
  fs.mkdirSync(absoluteHome, { recursive: true, mode: 0o700 });
  // Temporary file, fsync, rename, fsync the directory: a crash leaves the old file or the new.
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    const fd = fs.openSync(tmp, 'w', 0o644);
    try {
      fs.writeFileSync(fd, text);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDirectory(absoluteHome);
  return file;
}

/** Splits "host:port" (IPv6 in brackets); null if it is not one. */
export function parseHostPort(value: string): { host: string; port: number } | null {
  const bracketed = /^\[([^\]]+)\]:([0-9]{1,5})$/.exec(value);
  const plain = /^([^:[\]]+):([0-9]{1,5})$/.exec(value);
  const match = bracketed ?? plain;
  if (!match) return null;
  const host = match[1];
  const port = Number(match[2]);
  if (port < 1 || port > 65535) return null;
  if (bracketed) return net.isIPv6(host) ? { host, port } : null;
  if (/^[0-9.]+$/.test(host)) return net.isIPv4(host) ? { host, port } : null;
  if (!isHostname(host)) return null;
  return { host, port };
}

/** Checks the syntax of a privval address; returns why it is wrong, or null if it is right. */
export function validatorAddressProblem(value: string): string | null {
  if (value.startsWith('tcp://')) {
    let rest = value.slice('tcp://'.length);
    const at = rest.indexOf('@');
    if (at >= 0) {
      const nodeId = rest.slice(0, at);
      if (!/^[0-9a-fA-F]{40}$/.test(nodeId)) return 'its node id (before @) must be 40 hex digits';
      rest = rest.slice(at + 1);
    }
    return parseHostPort(rest) ? null : `"${rest}" is not host:port`;
  }
  if (value.startsWith('unix://')) {
    const socketPath = value.slice('unix://'.length);
    if (!socketPath.startsWith('/')) return 'a unix socket path must be absolute (unix:///path/to/socket)';
    if (socketPath.includes('\0')) return 'a unix socket path cannot contain a NUL byte';
    const bytes = Buffer.byteLength(socketPath, 'utf8');
    if (bytes > MAX_UNIX_SOCKET_PATH_BYTES) {
      return `its socket path is ${bytes} bytes; the system allows at most ${MAX_UNIX_SOCKET_PATH_BYTES}: use a shorter path`;
    }
    return null;
  }
  return 'it must start with tcp:// or unix://';
}

/** What makes two valid privval addresses the same place to dial: host:port (host in lower case) or the socket path. */
function validatorEndpointKey(value: string): string {
  if (value.startsWith('unix://')) return `unix:${path.posix.normalize(value.slice('unix://'.length))}`;
  const rest = value.slice('tcp://'.length);
  const hp = parseHostPort(rest.slice(rest.indexOf('@') + 1));
  return hp ? `tcp:${hp.host.toLowerCase()}:${hp.port}` : value;
}

function resolveChain(chain: ChainConfigFile, resolve: (p: string) => string): ChainConfig {
  const resolved: ChainConfig = {
    chainId: chain.chainId,
    keyFile: resolve(chain.keyFile),
    validatorAddrs: [...(chain.validatorAddrs ?? [])],
  };
  if (chain.passphraseEnv !== undefined) resolved.passphraseEnv = chain.passphraseEnv;
  if (chain.passphraseFile !== undefined) resolved.passphraseFile = resolve(chain.passphraseFile);
  return resolved;
}

function toFileShape(config: NodeConfigFile | NodeConfig, home: string): NodeConfigFile {
  const rel = (p: string): string => {
    if (!path.isAbsolute(p)) return p;
    const relative = path.relative(home, p);
    return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : p;
  };
  // Copy field by field: a NodeConfig carries `home`, which is not a config field, and an object
  // from elsewhere might carry more; the schema would refuse either.
  const shape: NodeConfigFile = {
    id: config.id,
    listen: config.listen,
    peers: config.peers.map((p) => ({ id: p.id, address: p.address })),
    tls: { ca: rel(config.tls.ca), cert: rel(config.tls.cert), key: rel(config.tls.key) },
  };
  if (config.join !== undefined) shape.join = config.join;
  if (config.dataDir !== undefined) shape.dataDir = rel(config.dataDir);
  if (config.raft !== undefined) shape.raft = { ...config.raft };
  if (config.signing !== undefined) shape.signing = { ...config.signing };
  if (config.chains !== undefined) {
    shape.chains = config.chains.map((c) => {
      const chain: ChainConfigFile = { chainId: c.chainId, keyFile: rel(c.keyFile) };
      if (c.passphraseEnv !== undefined) chain.passphraseEnv = c.passphraseEnv;
      if (c.passphraseFile !== undefined) chain.passphraseFile = rel(c.passphraseFile);
      if (c.validatorAddrs !== undefined) chain.validatorAddrs = [...c.validatorAddrs];
      return chain;
    });
  }
  if (config.metrics !== undefined) shape.metrics = { listen: config.metrics.listen };
  if (config.logLevel !== undefined) shape.logLevel = config.logLevel;
  const revoked = revokedEntries(config.revokedCertificates);
  if (revoked.length > 0) shape.revokedCertificates = revoked;
  return shape;
}

function revokedEntries(revoked: NodeConfigFile['revokedCertificates'] | NodeConfig['revokedCertificates'] | undefined): RevokedCertificateFile[] {
  if (revoked === undefined) return [];
  if (Array.isArray(revoked)) return revoked.map((r) => ({ ...r }));
  const resolved = revoked as NodeConfig['revokedCertificates'];
  return [...resolved.serials.map((serial) => ({ serial })), ...resolved.sha256.map((sha256) => ({ sha256 }))];
}

function schemaProblems(errors: ErrorObject[], sourceName: string): string[] {
  const problems: string[] = [];
  for (const error of errors) {
    const field = fieldPath(error.instancePath);
    let problem: string;
    if (error.keyword === 'additionalProperties') {
      const extra = (error.params as { additionalProperty: string }).additionalProperty;
      problem = `unknown field "${joinField(field, extra)}"`;
    } else if (error.keyword === 'required') {
      const missing = (error.params as { missingProperty: string }).missingProperty;
      problem = `missing field "${joinField(field, missing)}"`;
    } else {
      const what = field === '' ? 'the file' : field;
      problem = `${what} must be ${expectation(error)}${got(error)}`;
    }
    const line = `${sourceName}: ${problem}`;
    if (!problems.includes(line)) problems.push(line);
  }
  return problems;
}

/** What a field must be, from its schema: its description, or for integers their bounds. */
function expectation(error: ErrorObject): string {
  const schema = (error.parentSchema ?? {}) as { description?: string; type?: string; minimum?: number; maximum?: number };
  if (schema.description !== undefined) return schema.description;
  if (schema.type === 'integer') {
    if (error.keyword === 'maximum' && schema.maximum !== undefined) return `an integer <= ${schema.maximum}`;
    return `an integer >= ${schema.minimum ?? 0}`;
  }
  return error.message ?? 'valid';
}

function got(error: ErrorObject): string {
  if (error.data === undefined || typeof error.data === 'object') {
    return error.data === null ? ' (got nothing)' : '';
  }
  const text = JSON.stringify(error.data);
  return ` (got ${text.length > 60 ? text.slice(0, 60) + '…' : text})`;
}

/** "/peers/2/id" -> "peers[2].id". */
function fieldPath(instancePath: string): string {
  if (instancePath === '') return '';
  let out = '';
  for (const raw of instancePath.slice(1).split('/')) {
    const token = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^[0-9]+$/.test(token) ? `[${token}]` : out === '' ? token : `.${token}`;
  }
  return out;
}

function joinField(parent: string, child: string): string {
  return parent === '' ? child : `${parent}.${child}`;
}

function semanticProblems(config: NodeConfigFile): string[] {
  const problems: string[] = [];
  const hostPortHint = 'is not host:port (such as 127.0.0.1:26700; IPv6 in brackets, port 1 to 65535)';

  if (!parseHostPort(config.listen)) problems.push(`listen "${config.listen}" ${hostPortHint}`);

  const idIndex = new Map<string, number>();
  const addressIndex = new Map<string, number>();
  config.peers.forEach((peer, i) => {
    const previousId = idIndex.get(peer.id);
    if (previousId !== undefined) problems.push(`peers[${i}].id "${peer.id}" is a duplicate of peers[${previousId}].id`);
    else idIndex.set(peer.id, i);
    const parsed = parseHostPort(peer.address);
    if (!parsed) {
      problems.push(`peers[${i}].address "${peer.address}" ${hostPortHint}`);
      return;
    }
    const normal = `${parsed.host.toLowerCase()}:${parsed.port}`;
    const previousAddress = addressIndex.get(normal);
    if (previousAddress !== undefined) {
      problems.push(`peers[${i}].address "${peer.address}" is a duplicate of peers[${previousAddress}].address`);
    } else addressIndex.set(normal, i);
  });
  if (!idIndex.has(config.id)) {
    problems.push(`id "${config.id}" is not among peers[].id (${[...idIndex.keys()].join(', ')}): list this node in peers too`);
  }
  if (config.join === true && config.peers.every((p) => p.id === config.id)) {
    problems.push('join is true but peers lists no other node to join');
  }

  const raft = { ...DEFAULT_RAFT_CONFIG, ...config.raft };
  if (raft.electionTimeoutMs < MIN_ELECTION_TIMEOUT_HEARTBEATS * raft.heartbeatMs) {
    const source = (field: keyof typeof DEFAULT_RAFT_CONFIG): string =>
      config.raft?.[field] === undefined ? ' (the default)' : '';
    problems.push(
      `raft.electionTimeoutMs ${raft.electionTimeoutMs}${source('electionTimeoutMs')} must be at least ` +
        `${MIN_ELECTION_TIMEOUT_HEARTBEATS} × raft.heartbeatMs ${raft.heartbeatMs}${source('heartbeatMs')} = ` +
        `${MIN_ELECTION_TIMEOUT_HEARTBEATS * raft.heartbeatMs}`,
    );
  }

  const chainIndex = new Map<string, number>();
  const validatorAddrIndex = new Map<string, string>();
  (config.chains ?? []).forEach((chain, i) => {
    const previous = chainIndex.get(chain.chainId);
    if (previous !== undefined) problems.push(`chains[${i}].chainId "${chain.chainId}" is a duplicate of chains[${previous}].chainId`);
    else chainIndex.set(chain.chainId, i);
    if (chain.passphraseEnv !== undefined && chain.passphraseFile !== undefined) {
      problems.push(`chains[${i}]: passphraseEnv and passphraseFile are mutually exclusive: set one of them`);
    }
    (chain.validatorAddrs ?? []).forEach((addr, j) => {
      const field = `chains[${i}].validatorAddrs[${j}]`;
      const problem = validatorAddressProblem(addr);
      if (problem !== null) {
        problems.push(`${field} "${addr}" is not a privval address: ${problem}`);
        return;
      }
      // One validator node runs one chain and listens on one priv_validator_laddr: listing it
      // twice would have two connections competing for it, and listing it for two chains would
      // serve it a chain it does not run (its connection serves only the chain that lists it).
      // Compared as the place dialled: host case and a pinned node id do not make another node.
      const key = validatorEndpointKey(addr);
      const earlier = validatorAddrIndex.get(key);
      if (earlier !== undefined) problems.push(`${field} "${addr}" is a duplicate of ${earlier}: a validator address belongs to one chain`);
      else validatorAddrIndex.set(key, field);
    });
  });

  (config.revokedCertificates ?? []).forEach((entry, i) => {
    if ((entry.serial === undefined) === (entry.sha256 === undefined)) {
      problems.push(`revokedCertificates[${i}] must set exactly one of serial and sha256`);
    }
  });

  if (config.metrics !== undefined) {
    const metrics = parseHostPort(config.metrics.listen);
    if (!metrics) problems.push(`metrics.listen "${config.metrics.listen}" ${hostPortHint}`);
    else if (config.metrics.listen === config.listen) {
      problems.push(`metrics.listen "${config.metrics.listen}" is the same as listen: use another port`);
    }
  }
  return problems;
}

function isHostname(host: string): boolean {
  if (host.length > 253) return false;
  return host
    .split('.')
    // '_' is not legal in DNS names, but container runtimes resolve names with it, so allow it.
    .every((label) => /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(label));
}
