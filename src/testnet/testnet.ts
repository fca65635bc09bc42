// The testnet library: writes a ready-to-run local cluster (what `raft-signer testnet` runs).
// Every node home is complete (config, TLS, validator key), so that `raft-signer start --home
// DIR/nodeI` is all that is left to do. Everything is checked before the first file is written,
// and a failure half-way removes what was written, so a refused or failed run never leaves a
// half-made cluster that a second run would then refuse to write over.

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { isValidCertificateName } from '../certs/certificate_identity';
import { createClusterCa, issueClientCertificate, issueNodeCertificate, PemCertificateAndKey } from '../certs/cluster_certs';
import { checkNodeConfigFile, configFilePath, parseHostPort, validatorAddressProblem, writeNodeConfig } from '../config/node_config';
import { MAX_CHAIN_ID_LENGTH, NodeConfigFile, PeerConfigFile } from '../config/node_config_schema';
import { fsyncDirectory, SECRET_DIR_MODE, writeSecretFile } from '../keys/key_file_permissions';
import { ValidatorKey, writePlainValidatorKeyFile } from '../keys/validator_key';
import { writeNewClusterMarker } from '../node/new_cluster_marker';
import { RaftSignerError } from '../util/errors';

/**
 * A refused testnet (a bad option, a non-empty --out): the message says what is wrong and what to
 * do. The CLI prints it as one line like any expected failure (src/cli/cli_errors.ts). The messages
 * name the command-line options, since the command is how operators meet them.
 */
export class TestnetError extends RaftSignerError<{ code: 'TESTNET_REFUSED' }> {
  constructor(message: string) {
    super({ code: 'TESTNET_REFUSED' }, message);
    this.name = 'TestnetError';
  }
}

export const MIN_TESTNET_NODES = 1;
/** Node ids and listen ports are numbered by index; two digits keep both readable. */
export const MAX_TESTNET_NODES = 99;
/** What the validator address template must contain; replaced by the node index. */
export const NODE_INDEX_PLACEHOLDER = '{i}';
export const EVEN_NODES_WARNING = 'an even number of nodes tolerates no more failures than one fewer';

/** File and directory names inside a testnet; tests and the chaos harness rely on them. */
export const TESTNET_LAYOUT = {
  validatorKeyFile: 'priv_validator_key.json',
  caDir: 'ca',
  caCertFile: 'ca.pem',
  caKeyFile: 'ca.key',
  adminDir: 'admin',
  adminName: 'admin',
  tlsDir: 'tls',
  tlsCaFile: 'ca.pem',
  nodeCertFile: 'node.pem',
  nodeKeyFile: 'node.key',
  adminCertFile: 'admin.pem',
  adminKeyFile: 'admin.key',
} as const;

const CERTIFICATE_FILE_MODE = 0o644;

export interface TestnetOptions {
  /** How many nodes, 1 to 99. */
  nodes: number;
  /** The directory to write; created if missing, refused if not empty. */
  outDir: string;
  chainId: string;
  /** Privval address of node i's validator node, with {i} standing for i. */
  validatorAddrTemplate: string;
  /** Node i listens on basePort + i. Default: free ports found on 127.0.0.1. */
  basePort?: number;
  /** One host per node: nodes listen on 0.0.0.0 and peers dial hosts[i]. Default: all on 127.0.0.1. */
  hosts?: readonly string[];
  /** Where warnings go (they do not stop the run); default stderr. */
  warn?: (message: string) => void;
}

export interface TestnetNodeSummary {
  id: string;
  /** Absolute path of the node's home directory. */
  home: string;
  configFile: string;
  listen: string;
  /** The address its peers dial. */
  address: string;
  /** The privval address of the validator node it serves. */
  validatorAddr: string;
}

export interface TestnetSummary {
  /** Absolute path of the testnet directory. */
  outDir: string;
  chainId: string;
  nodes: TestnetNodeSummary[];
  /** The peers list every node's config.yaml holds. */
  peers: PeerConfigFile[];
  /** The validator key every node signs with (CometBFT format, mode 0600). */
  validatorKeyFile: string;
  /** CometBFT address (upper-case hex) of the validator key. */
  validatorAddress: string;
  /** Base64 Ed25519 public key of the validator key, as CometBFT's genesis lists it. */
  validatorPublicKey: string;
  caCertFile: string;
  /** The cluster CA's private key (mode 0600): whoever holds it can join nodes to the cluster. */
  caKeyFile: string;
  /** The admin client's directory: tls/ca.pem, tls/admin.pem, tls/admin.key. */
  adminDir: string;
  adminCaFile: string;
  adminCertFile: string;
  adminKeyFile: string;
  /** Warnings issued (also passed to `warn`). */
  warnings: string[];
}

/** Writes a testnet as described in the file header; returns what it wrote. */
export async function createTestnet(options: TestnetOptions): Promise<TestnetSummary> {
  const warn = options.warn ?? ((message: string) => process.stderr.write(`warning: ${message}\n`));
  const plan = planTestnet(options);
  const outDir = plan.outDir;
  const warnings: string[] = [];
  if (plan.nodeCount % 2 === 0) {
    const tolerated = Math.floor((plan.nodeCount - 1) / 2);
    const warning =
      `${plan.nodeCount} nodes: ${EVEN_NODES_WARNING} (${plan.nodeCount} and ${plan.nodeCount - 1} nodes ` +
      `both tolerate ${tolerated} failed node${tolerated === 1 ? '' : 's'}); consider --nodes ${plan.nodeCount + 1}`;
    warnings.push(warning);
    warn(warning);
  }

  const ports = plan.basePort !== undefined ? consecutivePorts(plan.basePort, plan.nodeCount) : await findFreePorts(plan.nodeCount);
  const nodes = plan.hosts.map((host, i) => nodePlan(i, host, ports[i], plan));
  const peers = nodes.map((n) => ({ id: n.id, address: n.address }));
  const configs = nodes.map((n) => nodeConfigFile(n, peers, plan.chainId));
  // The same checks the node runs at start, before anything is written.
  configs.forEach((config, i) => checkNodeConfigFile(config, configFilePath(nodes[i].home)));

  const createdOutDir = prepareEmptyDirectory(outDir);

  const caDir = path.join(outDir, TESTNET_LAYOUT.caDir);
  const adminTlsDir = path.join(outDir, TESTNET_LAYOUT.adminDir, TESTNET_LAYOUT.tlsDir);
  const validatorKeyFile = path.join(outDir, TESTNET_LAYOUT.validatorKeyFile);
  try {
    const ca = await createClusterCa({ commonName: 'raft-signer testnet CA' });
    writeCertificateFile(path.join(caDir, TESTNET_LAYOUT.caCertFile), ca.certPem);
    writeSecretFile(path.join(caDir, TESTNET_LAYOUT.caKeyFile), ca.keyPem, { what: 'CA key file' });

    const validatorKey = ValidatorKey.generate();
    writePlainValidatorKeyFile(validatorKeyFile, validatorKey);

    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i];
      const tlsDir = path.join(node.home, TESTNET_LAYOUT.tlsDir);
      const pair = await issueNodeCertificate(ca, node.id, [node.host]);
      writeTlsFiles(tlsDir, ca.certPem, TESTNET_LAYOUT.nodeCertFile, TESTNET_LAYOUT.nodeKeyFile, pair);
      writePlainValidatorKeyFile(path.join(node.home, TESTNET_LAYOUT.validatorKeyFile), validatorKey);
      writeNodeConfig(node.home, configs[i]);
      // The first start founds the cluster; a later empty store is lost data (new_cluster_marker.ts).
      writeNewClusterMarker(node.home);
    }

    const admin = await issueClientCertificate(ca, TESTNET_LAYOUT.adminName);
    writeTlsFiles(adminTlsDir, ca.certPem, TESTNET_LAYOUT.adminCertFile, TESTNET_LAYOUT.adminKeyFile, admin);

    return {
      outDir,
      chainId: plan.chainId,
      nodes: nodes.map((n) => ({
        id: n.id,
        home: n.home,
        configFile: configFilePath(n.home),
        listen: n.listen,
        address: n.address,
        validatorAddr: n.validatorAddr,
      })),
      peers,
      validatorKeyFile,
      validatorAddress: validatorKey.address,
      validatorPublicKey: validatorKey.publicKeyBase64,
      caCertFile: path.join(caDir, TESTNET_LAYOUT.caCertFile),
      caKeyFile: path.join(caDir, TESTNET_LAYOUT.caKeyFile),
      adminDir: path.join(outDir, TESTNET_LAYOUT.adminDir),
      adminCaFile: path.join(adminTlsDir, TESTNET_LAYOUT.tlsCaFile),
      adminCertFile: path.join(adminTlsDir, TESTNET_LAYOUT.adminCertFile),
      adminKeyFile: path.join(adminTlsDir, TESTNET_LAYOUT.adminKeyFile),
      warnings,
    };
  } catch (err) {
    // The directory was empty (or absent) before: everything in it now is ours to remove.
    for (const entry of fs.readdirSync(outDir)) fs.rmSync(path.join(outDir, entry), { recursive: true, force: true });
    if (createdOutDir) fs.rmdirSync(outDir);
    throw err;
  }
}

/**
 * `count` distinct TCP ports that were free on `host` a moment ago: all are bound at once (port 0,
 * so the kernel picks) before any is closed, which is what makes them distinct. Another process
 * may still take one before the node starts; for a local testnet that risk is accepted.
 */
export async function findFreePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = net.createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ port: 0, host, exclusive: true }, () => resolve());
      });
    }
    return servers.map((s) => (s.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve()))));
  }
}

interface TestnetPlan {
  outDir: string;
  nodeCount: number;
  chainId: string;
  validatorAddrTemplate: string;
  basePort?: number;
  /** The host of each node (127.0.0.1 for all without --hosts). */
  hosts: string[];
  listenHost: string;
}

interface NodePlan {
  id: string;
  home: string;
  host: string;
  listen: string;
  address: string;
  validatorAddr: string;
}

/** Checks every option; nothing here touches the disk or the network. */
function planTestnet(options: TestnetOptions): TestnetPlan {
  const n = options.nodes;
  if (!Number.isInteger(n) || n < MIN_TESTNET_NODES || n > MAX_TESTNET_NODES) {
    throw new TestnetError(`--nodes must be a whole number from ${MIN_TESTNET_NODES} to ${MAX_TESTNET_NODES} (got ${n})`);
  }
  if (options.outDir === '') throw new TestnetError('--out must name a directory');
  const chainId = options.chainId;
  if (chainId.length < 1 || chainId.length > MAX_CHAIN_ID_LENGTH) {
    throw new TestnetError(`--chain-id must be 1 to ${MAX_CHAIN_ID_LENGTH} characters, as CometBFT requires (got ${chainId.length})`);
  }
  checkValidatorAddrTemplate(options.validatorAddrTemplate, n);

  if (options.basePort !== undefined) {
    const p = options.basePort;
    if (!Number.isInteger(p) || p < 1 || p + n - 1 > 65535) {
      throw new TestnetError(`--base-port must be a whole number from 1 to ${65535 - n + 1} so that ${n} consecutive ports fit (got ${p})`);
    }
  }

  let hosts: string[];
  let listenHost: string;
  if (options.hosts !== undefined) {
    if (options.hosts.length !== n) {
      throw new TestnetError(`--hosts lists ${options.hosts.length} host${options.hosts.length === 1 ? '' : 's'} but --nodes is ${n}: give exactly one host per node, in node order`);
    }
    hosts = options.hosts.map((h, i) => checkHost(h, i));
    // The hosts are how peers reach a node from elsewhere; the node must accept them on any interface.
    listenHost = '0.0.0.0';
  } else {
    hosts = Array.from({ length: n }, () => '127.0.0.1');
    listenHost = '127.0.0.1';
  }
  const plan: TestnetPlan = {
    outDir: path.resolve(options.outDir),
    nodeCount: n,
    chainId,
    validatorAddrTemplate: options.validatorAddrTemplate,
    hosts,
    listenHost,
  };
  if (options.basePort !== undefined) plan.basePort = options.basePort;
  return plan;
}

function checkValidatorAddrTemplate(template: string, n: number): void {
  if (n > 1 && !template.includes(NODE_INDEX_PLACEHOLDER)) {
    throw new TestnetError(
      `--validator-addr "${template}" has no ${NODE_INDEX_PLACEHOLDER}: all ${n} nodes would dial the same validator node; ` +
        `put ${NODE_INDEX_PLACEHOLDER} where the node index goes (unix:///tmp/val{i}.sock or tcp://127.0.0.1:2666{i})`,
    );
  }
  for (let i = 0; i < n; i++) {
    const addr = expandTemplate(template, i);
    const problem = validatorAddressProblem(addr);
    if (problem !== null) {
      throw new TestnetError(`--validator-addr "${template}" gives "${addr}" for node${i}, which is not a privval address: ${problem}`);
    }
  }
}

function checkHost(raw: string, index: number): string {
  // Accept "[::1]" as well as "::1": the brackets belong to host:port, not to the host.
  const host = /^\[.*\]$/.test(raw) ? raw.slice(1, -1) : raw;
  if (net.isIP(host) === 0 && !isValidCertificateName(host)) {
    throw new TestnetError(
      `--hosts entry ${index + 1} "${raw}" is not an IP address or host name (letters, digits, '-' and '.'): it goes into node${index}'s certificate and its peers' config`,
    );
  }
  return host;
}

function expandTemplate(template: string, index: number): string {
  return template.split(NODE_INDEX_PLACEHOLDER).join(String(index));
}

function hostPort(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

function nodePlan(index: number, host: string, port: number, plan: TestnetPlan): NodePlan {
  const id = `node${index}`;
  const address = hostPort(host, port);
  if (!parseHostPort(address)) throw new TestnetError(`node${index}'s address ${address} is not a usable host:port`);
  return {
    id,
    home: path.join(plan.outDir, id),
    host,
    listen: hostPort(plan.listenHost, port),
    address,
    validatorAddr: expandTemplate(plan.validatorAddrTemplate, index),
  };
}

function nodeConfigFile(node: NodePlan, peers: PeerConfigFile[], chainId: string): NodeConfigFile {
  const tls = (file: string): string => path.join(TESTNET_LAYOUT.tlsDir, file);
  return {
    id: node.id,
    listen: node.listen,
    peers: peers.map((p) => ({ ...p })),
    tls: { ca: tls(TESTNET_LAYOUT.tlsCaFile), cert: tls(TESTNET_LAYOUT.nodeCertFile), key: tls(TESTNET_LAYOUT.nodeKeyFile) },
    chains: [{ chainId, keyFile: TESTNET_LAYOUT.validatorKeyFile, validatorAddrs: [node.validatorAddr] }],
  };
}

function consecutivePorts(base: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => base + i);
}

/** Creates `dir` (owner-only: it will hold keys) or checks that it is an empty directory; true if created. */
function prepareEmptyDirectory(dir: string): boolean {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new TestnetError(`cannot use --out ${dir}: ${(err as Error).message}`);
    }
    fs.mkdirSync(dir, { recursive: true, mode: SECRET_DIR_MODE });
    return true;
  }
  if (!stat.isDirectory()) throw new TestnetError(`--out ${dir} exists and is not a directory: choose another path`);
  if (fs.readdirSync(dir).length > 0) {
    throw new TestnetError(
      `--out ${dir} is not empty: testnet writes a fresh cluster and never writes over files; choose a new directory or empty this one first`,
    );
  }
  return false;
}

/** `<dir>/ca.pem`, the certificate and its key (0600) under the given names. */
function writeTlsFiles(dir: string, caCertPem: string, certFile: string, keyFile: string, pair: PemCertificateAndKey): void {
  fs.mkdirSync(dir, { recursive: true, mode: SECRET_DIR_MODE });
  writeCertificateFile(path.join(dir, TESTNET_LAYOUT.tlsCaFile), caCertPem);
  writeCertificateFile(path.join(dir, certFile), pair.certPem);
  writeSecretFile(path.join(dir, keyFile), pair.keyPem, { what: 'TLS key file' });
}

/** A certificate is public: 0644, written once ('wx' refuses to replace anything), fsynced. */
function writeCertificateFile(filePath: string, pem: string): void {
  const dir = path.dirname(filePath);
  fs.mkdirSync(dir, { recursive: true, mode: SECRET_DIR_MODE });
  const fd = fs.openSync(filePath, 'wx', CERTIFICATE_FILE_MODE);
  try {
    fs.writeFileSync(fd, pem);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fsyncDirectory(dir);
}
