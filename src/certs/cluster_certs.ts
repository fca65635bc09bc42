// The cluster's private PKI: one self-signed CA per cluster, a certificate per node (used both as
// gRPC server and as client towards its peers) and client certificates for the admin CLI.
// ECDSA P-256 with SHA-256 throughout: keys generate in milliseconds (RSA takes seconds) and every
// TLS stack in use accepts them. Everything goes in and out as PEM strings; see cert_files.ts for
// writing them to disk.

import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { CertificateError } from './certificate_error';
import {
  assertValidCertificateName,
  CERTIFICATE_ORGANIZATION,
  CLIENT_CERTIFICATE_ROLE,
  EKU_CLIENT_AUTH,
  EKU_SERVER_AUTH,
  NODE_CERTIFICATE_ROLE,
} from './certificate_identity';
import { webcrypto, x509 } from './x509_library';

/** A certificate and its private key, both PEM. `keyPem` is secret: never log it. */
export interface PemCertificateAndKey {
  certPem: string;
  /** PKCS#8 "PRIVATE KEY" PEM. */
  keyPem: string;
}

/** The cluster CA: signs node and client certificates. Keep `keyPem` offline if you can. */
export type ClusterCa = PemCertificateAndKey;

export interface CertificateValidity {
  /** Days the certificate stays valid from now. */
  validityDays?: number;
  /** "Now", for tests; default the current time. */
  now?: Date;
}

export const CA_VALIDITY_DAYS = 3650;
/** Node and client certificates: long enough that expiry is not an outage to plan every year. */
export const LEAF_VALIDITY_DAYS = 1825;
/** notBefore is set this far in the past so that a node whose clock lags a bit accepts new certs. */
const CLOCK_SKEW_MS = 5 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;
const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;

export async function createClusterCa(
  options: CertificateValidity & { commonName?: string } = {},
): Promise<ClusterCa> {
  const commonName = options.commonName ?? 'raft-signer cluster CA';
  if (!/^[\x20-\x7e]{1,64}$/.test(commonName) || /[,=+<>#;"\\]/.test(commonName)) {
    throw new CertificateError(
      `CA common name ${JSON.stringify(commonName)} must be 1-64 printable characters without , = + < > # ; " \\`,
    );
  }
  const keys = await generateKeyPair();
  const { notBefore, notAfter } = validityWindow(options, CA_VALIDITY_DAYS);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialNumber(),
    name: [{ CN: [commonName] }, { O: [CERTIFICATE_ORGANIZATION] }],
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      // pathLength 0: this CA signs leaves only, never intermediate CAs.
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await exportPrivateKeyPem(keys.privateKey) };
}

/**
 * A node certificate: CN = nodeId, SAN DNS nodeId plus each of `hosts` (IP addresses as IP SANs,
 * anything else as DNS), extended key usage serverAuth + clientAuth (a node is a gRPC server for
 * its peers and a client of theirs).
 */
export async function issueNodeCertificate(
  ca: ClusterCa,
  nodeId: string,
  hosts: readonly string[],
  options: CertificateValidity = {},
): Promise<PemCertificateAndKey> {
  assertValidCertificateName(nodeId, 'node id');
  const altNames: x509.JsonGeneralName[] = [{ type: 'dns', value: nodeId }];
  for (const host of hosts) {
    if (isIP(host) !== 0) {
      altNames.push({ type: 'ip', value: host });
    } else {
      assertValidCertificateName(host, 'host name');
      if (host !== nodeId) altNames.push({ type: 'dns', value: host });
    }
  }
  return issueLeaf(ca, {
    commonName: nodeId,
    role: NODE_CERTIFICATE_ROLE,
    altNames,
    usages: [EKU_SERVER_AUTH, EKU_CLIENT_AUTH],
    options,
  });
}

/**
 * A client certificate for the admin CLI: CN = name, clientAuth only and role "client", so the
 * Raft service never takes it for a cluster member even if its name equals a node id.
 */
export async function issueClientCertificate(
  ca: ClusterCa,
  name: string,
  options: CertificateValidity = {},
): Promise<PemCertificateAndKey> {
  assertValidCertificateName(name, 'client name');
  return issueLeaf(ca, {
    commonName: name,
    role: CLIENT_CERTIFICATE_ROLE,
    altNames: [{ type: 'dns', value: name }],
    usages: [EKU_CLIENT_AUTH],
    options,
  });
}

interface LeafSpec {
  commonName: string;
  role: string;
  altNames: x509.JsonGeneralName[];
  usages: string[];
  options: CertificateValidity;
}

async function issueLeaf(ca: ClusterCa, spec: LeafSpec): Promise<PemCertificateAndKey> {
  const { caCert, caKey } = await loadClusterCa(ca);
  const keys = await generateKeyPair();
  const { notBefore, notAfter } = validityWindow(spec.options, LEAF_VALIDITY_DAYS);
  if (notAfter > caCert.notAfter) {
    throw new CertificateError(
      `the certificate for ${spec.commonName} would outlive the cluster CA (expires ${caCert.notAfter.toISOString()}): ` +
        'ask for fewer validity days or create a new CA',
    );
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialNumber(),
    subject: [{ CN: [spec.commonName] }, { OU: [spec.role] }, { O: [CERTIFICATE_ORGANIZATION] }],
    issuer: caCert.subject,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(spec.usages, false),
      new x509.SubjectAlternativeNameExtension(spec.altNames, false),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await exportPrivateKeyPem(keys.privateKey) };
}

interface LoadedCa {
  caCert: x509.X509Certificate;
  caKey: webcrypto.CryptoKey;
}

/** Parses the CA and checks that it is a CA and that the key belongs to the certificate. */
async function loadClusterCa(ca: ClusterCa): Promise<LoadedCa> {
  let caCert: x509.X509Certificate;
  try {
    caCert = new x509.X509Certificate(ca.certPem);
  } catch (err) {
    throw new CertificateError(`the CA certificate is not a readable PEM certificate: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const constraints = caCert.getExtension(x509.BasicConstraintsExtension);
  if (!constraints || !constraints.ca) {
    throw new CertificateError(`the certificate "${caCert.subject}" is not a CA (basicConstraints CA is missing)`);
  }
  let keyDer: Buffer;
  let publicDer: Buffer;
  try {
    const privateKey = createPrivateKey({ key: ca.keyPem, format: 'pem' });
    keyDer = privateKey.export({ format: 'der', type: 'pkcs8' });
    publicDer = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  } catch (err) {
    // The error text of a PEM parse failure never contains the key itself.
    throw new CertificateError(`the CA private key is not a readable PEM key: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (!publicDer.equals(Buffer.from(caCert.publicKey.rawData))) {
    throw new CertificateError(`the CA private key does not belong to the CA certificate "${caCert.subject}"`);
  }
  let caKey: webcrypto.CryptoKey;
  try {
    caKey = await webcrypto.subtle.importKey('pkcs8', keyDer, KEY_ALGORITHM, false, ['sign']);
  } catch (err) {
    throw new CertificateError(`the CA private key is not an ECDSA P-256 key: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return { caCert, caKey };
}

async function generateKeyPair(): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
}

async function exportPrivateKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

function validityWindow(options: CertificateValidity, defaultDays: number): { notBefore: Date; notAfter: Date } {
  const days = options.validityDays ?? defaultDays;
  if (!Number.isInteger(days) || days < 1 || days > 36500) {
    throw new CertificateError(`validity of ${days} days is out of range: use a whole number from 1 to 36500`);
  }
  const now = (options.now ?? new Date()).getTime();
  return { notBefore: new Date(now - CLOCK_SKEW_MS), notAfter: new Date(now + days * DAY_MS) };
}

/** 16 random bytes with the top bit clear: unique, positive, within RFC 5280's 20 octets. */
function randomSerialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] & 0x7f) | 0x01;
  return bytes.toString('hex');
}
