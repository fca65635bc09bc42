// The JSON schema of a node's config.yaml, and the TypeScript shape of the file as written (before
// defaults and path resolution; see node_config.ts for those and for the checks a schema cannot
// express). Every object refuses unknown fields, so a misspelt option (`heartbeat` for
// `heartbeatMs`) is an error at start rather than a default silently in force.
//
// Each leaf carries a `description` that finishes the sentence "<field> must be ...": the loader
// turns ajv's errors into messages from it, so they read the same whatever keyword failed.

import type { LogLevel } from '../log/logger';

export interface PeerConfigFile {
  id: string;
  address: string;
}

export interface TlsConfigFile {
  ca: string;
  cert: string;
  key: string;
}

export interface RaftConfigFile {
  heartbeatMs?: number;
  electionTimeoutMs?: number;
  snapshotEntries?: number;
  maxAppendEntries?: number;
  maxInflightAppends?: number;
}

export interface SigningConfigFile {
  deadlineMs?: number;
}

export interface ChainConfigFile {
  chainId: string;
  keyFile: string;
  passphraseEnv?: string;
  passphraseFile?: string;
  validatorAddrs?: string[];
}

export interface MetricsConfigFile {
  listen: string;
}

/** One revoked certificate: by its serial number or by its SHA-256 fingerprint (exactly one). */
export interface RevokedCertificateFile {
  serial?: string;
  sha256?: string;
  /** Free text for the operator (whose certificate, why); not used. */
  comment?: string;
}

/** config.yaml as an operator writes it: optional fields may be left out. */
export interface NodeConfigFile {
  id: string;
  listen: string;
  peers: PeerConfigFile[];
  join?: boolean;
  dataDir?: string;
  tls: TlsConfigFile;
  raft?: RaftConfigFile;
  signing?: SigningConfigFile;
  chains?: ChainConfigFile[];
  metrics?: MetricsConfigFile;
  logLevel?: LogLevel;
  revokedCertificates?: RevokedCertificateFile[];
}

/** Largest delay setTimeout honours; a longer one fires at once, so no duration may exceed it. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
/** CometBFT's read/write deadline on the privval connection: an answer after it is never read. */
export const VALIDATOR_READ_TIMEOUT_MS = 5000;
/** CometBFT's MaxChainIDLen. */
export const MAX_CHAIN_ID_LENGTH = 50;

const nonEmptyPath = { type: 'string', minLength: 1, description: 'a non-empty file path' } as const;
const hostPort = {
  type: 'string',
  minLength: 1,
  description: 'host:port (such as 127.0.0.1:26700, or [::1]:26700 for IPv6)',
} as const;
const integer = (minimum: number, maximum: number) => ({ type: 'integer', minimum, maximum }) as const;

export const NODE_CONFIG_SCHEMA = {
  type: 'object',
  description: 'a YAML mapping with at least id, listen, peers and tls',
  additionalProperties: false,
  required: ['id', 'listen', 'peers', 'tls'],
  properties: {
    id: {
      type: 'string',
      pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$',
      description: "a node id: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit",
    },
    listen: hostPort,
    peers: {
      type: 'array',
      minItems: 1,
      description: 'a list of every cluster member (this node included), each {id, address}',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'address'],
        description: 'a mapping {id, address}',
        properties: {
          id: {
            type: 'string',
            pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$',
            description: "a node id: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit",
          },
          address: hostPort,
        },
      },
    },
    join: { type: 'boolean', description: 'true or false' },
    dataDir: { type: 'string', minLength: 1, description: 'a non-empty directory path' },
    tls: {
      type: 'object',
      additionalProperties: false,
      required: ['ca', 'cert', 'key'],
      description: 'a mapping {ca, cert, key} of PEM file paths',
      properties: { ca: nonEmptyPath, cert: nonEmptyPath, key: nonEmptyPath },
    },
    raft: {
      type: 'object',
      additionalProperties: false,
      description: 'a mapping of Raft settings',
      properties: {
        heartbeatMs: integer(1, MAX_TIMER_MS),
        electionTimeoutMs: integer(1, MAX_TIMER_MS),
        snapshotEntries: integer(1, Number.MAX_SAFE_INTEGER),
        maxAppendEntries: integer(1, 1_000_000),
        maxInflightAppends: integer(1, 1_000_000),
      },
    },
    signing: {
      type: 'object',
      additionalProperties: false,
      description: 'a mapping of signing settings',
      properties: {
        deadlineMs: {
          ...integer(1, VALIDATOR_READ_TIMEOUT_MS - 1),
          description: `an integer from 1 to ${VALIDATOR_READ_TIMEOUT_MS - 1}: the validator node stops reading an answer after ${VALIDATOR_READ_TIMEOUT_MS} ms`,
        },
      },
    },
    chains: {
      type: 'array',
      description: 'a list of chains, each {chainId, keyFile, ...}',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['chainId', 'keyFile'],
        description: 'a mapping {chainId, keyFile, passphraseEnv?, passphraseFile?, validatorAddrs?}',
        properties: {
          chainId: {
            type: 'string',
            minLength: 1,
            maxLength: MAX_CHAIN_ID_LENGTH,
            description: `a chain id of 1 to ${MAX_CHAIN_ID_LENGTH} characters`,
          },
          keyFile: nonEmptyPath,
          passphraseEnv: {
            type: 'string',
            pattern: '^[A-Za-z_][A-Za-z0-9_]*$',
            description: 'an environment variable name (letters, digits and _, not starting with a digit)',
          },
          passphraseFile: nonEmptyPath,
          validatorAddrs: {
            type: 'array',
            description: 'a list of privval addresses (tcp://[id@]host:port or unix:///path)',
            items: {
              type: 'string',
              minLength: 1,
              description: 'a privval address: tcp://[id@]host:port or unix:///absolute/path',
            },
          },
        },
      },
    },
    metrics: {
      type: 'object',
      additionalProperties: false,
      required: ['listen'],
      description: 'a mapping {listen}',
      properties: { listen: hostPort },
    },
    logLevel: { type: 'string', enum: ['error', 'warn', 'info', 'debug'], description: 'one of error, warn, info, debug' },
    revokedCertificates: {
      type: 'array',
      description: 'a list of revoked certificates, each {serial} or {sha256}',
      items: {
        type: 'object',
        additionalProperties: false,
        description: 'a mapping {serial} or {sha256}, with an optional comment',
        properties: {
          serial: {
            type: 'string',
            pattern: '^[0-9A-Fa-f]{1,2}(:?[0-9A-Fa-f]{2}){0,19}$',
            description:
              'a certificate serial number: 1 to 40 hex digits, colons allowed, in quotes (openssl x509 -noout -serial -in CERT prints it after serial=)',
          },
          sha256: {
            type: 'string',
            pattern: '^[0-9A-Fa-f]{2}(:?[0-9A-Fa-f]{2}){31}$',
            description:
              'a SHA-256 certificate fingerprint: 64 hex digits, colons allowed (openssl x509 -noout -fingerprint -sha256 -in CERT)',
          },
          comment: { type: 'string', description: 'text' },
        },
      },
    },
  },
} as const;
