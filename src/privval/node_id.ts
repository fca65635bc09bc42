// CometBFT node ids and the privval addresses that may carry one.
//
// A node id is the hex of the first 20 bytes of SHA-256 of the node's Ed25519 public key
// (CometBFT p2p.PubKeyToID, i.e. crypto.Address of the key), written in lower case. The validator
// node's SecretConnection identity is its node key, so an operator who writes
// `tcp://<id>@host:port` as the node's address pins the node the signer talks to (the same form
// CometBFT uses for persistent peers and tmkms/horcrux use for validator addresses).

import { createHash } from 'node:crypto';
import { isIP, isIPv6 } from 'node:net';
import { RaftSignerError } from '../util/errors';

const ED25519_PUBLIC_KEY_BYTES = 32;
const NODE_ID_BYTES = 20;
const NODE_ID_HEX_PATTERN = /^[0-9a-fA-F]{40}$/;

/** Lower-case hex of the first 20 bytes of SHA-256(pubkey); throws RangeError on a bad key size. */
export function nodeIdFromPublicKey(ed25519PublicKey: Uint8Array): string {
  if (ed25519PublicKey.length !== ED25519_PUBLIC_KEY_BYTES) {
    throw new RangeError(`an Ed25519 public key is ${ED25519_PUBLIC_KEY_BYTES} bytes, got ${ed25519PublicKey.length}`);
  }
  return createHash('sha256').update(ed25519PublicKey).digest().subarray(0, NODE_ID_BYTES).toString('hex');
}

/** True if the string is a node id: 40 hex digits (either case; compare after lower-casing). */
export function isNodeId(s: string): boolean {
  return NODE_ID_HEX_PATTERN.test(s);
}

/** `tcp://[<node id>@]host:port`: dialled with SecretConnection. */
export interface TcpPrivvalAddress {
  kind: 'tcp';
  /** Host name or IP address, IPv6 without the brackets. */
  host: string;
  port: number;
  /** The node id the remote SecretConnection identity must have, lower case, when given. */
  expectedNodeId?: string;
}

/** `unix:///absolute/path`: plain framing over a unix domain socket. */
export interface UnixPrivvalAddress {
  kind: 'unix';
  path: string;
}

export type PrivvalAddress = TcpPrivvalAddress | UnixPrivvalAddress;

export type PrivvalAddressErrorReason =
  | 'empty'
  | 'missing-scheme'
  | 'unsupported-scheme'
  | 'bad-node-id'
  | 'missing-host'
  | 'bad-host'
  | 'missing-port'
  | 'bad-port'
  | 'unexpected-suffix'
  | 'bad-unix-path';

/** An address that cannot be used, with the reason (machine-readable) and the address itself. */
export class PrivvalAddressError extends RaftSignerError<{
  code: 'PRIVVAL_ADDRESS_INVALID';
  reason: PrivvalAddressErrorReason;
  address: string;
}> {
  constructor(
    readonly reason: PrivvalAddressErrorReason,
    readonly address: string,
    detail: string,
  ) {
    super({ code: 'PRIVVAL_ADDRESS_INVALID', reason, address }, `invalid privval address ${JSON.stringify(address)}: ${detail}`);
    this.name = 'PrivvalAddressError';
  }
}

// RFC 1123 host names, plus '_' which container and service-discovery names sometimes carry.
const HOST_LABEL_PATTERN = /^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?$/;
const MAX_HOST_NAME_LENGTH = 253;

function isHostName(host: string): boolean {
  if (host.length === 0 || host.length > MAX_HOST_NAME_LENGTH) return false;
  const withoutRootDot = host.endsWith('.') ? host.slice(0, -1) : host;
  return withoutRootDot.split('.').every((label) => label.length <= 63 && HOST_LABEL_PATTERN.test(label));
}

/**
 * Parses `tcp://<id>@host:port`, `tcp://host:port` (IPv6 as `[::1]:port`) or `unix:///path`.
 * Throws PrivvalAddressError naming what is wrong. Stricter than CometBFT's own parsing on
 * purpose: no default scheme, no relative unix paths, no trailing path or query, a port in
 * 1..65535, so that a typo in an operator's configuration fails at start-up instead of dialling
 * somewhere unexpected.
 */
export function parsePrivvalAddress(address: string): PrivvalAddress {
  if (address.length === 0) throw new PrivvalAddressError('empty', address, 'the address is empty');
  if (address.trim() !== address) {
    throw new PrivvalAddressError('unexpected-suffix', address, 'leading or trailing white space');
  }
  const schemeEnd = address.indexOf('://');
  if (schemeEnd < 0) {
    throw new PrivvalAddressError('missing-scheme', address, 'expected tcp://host:port, tcp://<node id>@host:port or unix:///path');
  }
  const scheme = address.slice(0, schemeEnd).toLowerCase();
  const rest = address.slice(schemeEnd + 3);
  if (scheme === 'unix') return parseUnix(address, rest);
  if (scheme === 'tcp') return parseTcp(address, rest);
  throw new PrivvalAddressError(
    'unsupported-scheme',
    address,
    `scheme ${JSON.stringify(scheme)} is not supported; use tcp:// (SecretConnection) or unix://`,
  );
}

function parseUnix(address: string, path: string): UnixPrivvalAddress {
  if (path.length === 0) throw new PrivvalAddressError('bad-unix-path', address, 'the unix socket path is empty');
  if (!path.startsWith('/')) {
    throw new PrivvalAddressError(
      'bad-unix-path',
      address,
      `the unix socket path must be absolute (unix:///path), got ${JSON.stringify(path)}`,
    );
  }
  if (path.includes('\0')) throw new PrivvalAddressError('bad-unix-path', address, 'the unix socket path contains a NUL byte');
  return { kind: 'unix', path };
}

function parseTcp(address: string, authority: string): TcpPrivvalAddress {
  if (/[/?#]/.test(authority)) {
    throw new PrivvalAddressError('unexpected-suffix', address, 'a tcp address has no path, query or fragment');
  }
  let expectedNodeId: string | undefined;
  let hostPort = authority;
  const at = authority.lastIndexOf('@');
  if (at >= 0) {
    const id = authority.slice(0, at);
    if (!isNodeId(id)) {
      throw new PrivvalAddressError(
        'bad-node-id',
        address,
        `the node id before '@' must be 40 hex digits (20 bytes), got ${JSON.stringify(id)}`,
      );
    }
    expectedNodeId = id.toLowerCase();
    hostPort = authority.slice(at + 1);
  }
  let host: string;
  let portText: string;
  if (hostPort.startsWith('[')) {
    const close = hostPort.indexOf(']');
    if (close < 0) throw new PrivvalAddressError('bad-host', address, "an IPv6 host opened with '[' is not closed with ']'");
    host = hostPort.slice(1, close);
    if (!isIPv6(host)) throw new PrivvalAddressError('bad-host', address, `${JSON.stringify(host)} is not an IPv6 address`);
    const afterHost = hostPort.slice(close + 1);
    if (afterHost.length === 0) throw new PrivvalAddressError('missing-port', address, 'the port is missing (host:port)');
    if (!afterHost.startsWith(':')) {
      throw new PrivvalAddressError('unexpected-suffix', address, `unexpected ${JSON.stringify(afterHost)} after the IPv6 host`);
    }
    portText = afterHost.slice(1);
  } else {
    const colon = hostPort.lastIndexOf(':');
    if (colon < 0) throw new PrivvalAddressError('missing-port', address, 'the port is missing (host:port)');
    host = hostPort.slice(0, colon);
    portText = hostPort.slice(colon + 1);
    if (host.length === 0) throw new PrivvalAddressError('missing-host', address, 'the host is missing (host:port)');
    if (host.includes(':')) {
      throw new PrivvalAddressError('bad-host', address, 'an IPv6 host must be written in brackets, e.g. tcp://[::1]:26659');
    }
    if (isIP(host) === 0 && !isHostName(host)) {
      throw new PrivvalAddressError('bad-host', address, `${JSON.stringify(host)} is neither an IP address nor a host name`);
    }
  }
  if (portText.length === 0) throw new PrivvalAddressError('missing-port', address, 'the port is missing (host:port)');
  if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
    throw new PrivvalAddressError('bad-port', address, `the port must be a number from 1 to 65535, got ${JSON.stringify(portText)}`);
  }
  const result: TcpPrivvalAddress = { kind: 'tcp', host, port: Number(portText) };
  if (expectedNodeId !== undefined) result.expectedNodeId = expectedNodeId;
  return result;
}
