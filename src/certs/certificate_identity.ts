// What a cluster certificate says about its holder, read from its DER bytes. Both sides of every
// mutual-TLS connection use this: the server to decide whether a caller is a cluster member, the
// client to check that the server it reached is the peer it meant to reach.
//
// Roles: a node certificate carries OU=NODE_CERTIFICATE_ROLE and the serverAuth+clientAuth
// extended key usages; an admin client certificate carries OU=CLIENT_CERTIFICATE_ROLE and only
// clientAuth. Both come from the same cluster CA, so the role (not the CA) is what keeps an admin
// certificate, whatever its CN, from being taken for a Raft member.

import { CertificateError } from './certificate_error';
import { x509 } from './x509_library';

export const NODE_CERTIFICATE_ROLE = 'raft-signer node';
export const CLIENT_CERTIFICATE_ROLE = 'raft-signer client';
export const CERTIFICATE_ORGANIZATION = 'raft-signer';

export const EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
export const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

const OID_COMMON_NAME = '2.5.4.3';
const OID_ORGANIZATIONAL_UNIT = '2.5.4.11';

export type CertificateRole = 'node' | 'client' | 'unknown';

export interface CertificateIdentity {
  /** The subject's common name ("" if it has none). For node certificates: the node id. */
  commonName: string;
  /** Every DNS name in the subject alternative names. */
  dnsNames: string[];
  /** Every IP address in the subject alternative names. */
  ipAddresses: string[];
  role: CertificateRole;
  /** Extended key usage OIDs (empty if the extension is absent). */
  extendedKeyUsages: string[];
  /** Hex serial number, for log lines. */
  serialNumber: string;
}

// A DNS name made of letters, digits and hyphens, at most 253 characters: valid as a SAN dNSName
// and free of characters that TLS libraries escape or quote (which would make exact comparison of
// identities fragile).
const NAME_PATTERN =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** Whether `name` may be used as a node id or client name in a certificate. */
export function isValidCertificateName(name: string): boolean {
  return NAME_PATTERN.test(name);
}

/** Throws a CertificateError naming the rule if `name` cannot be a node id or client name. */
export function assertValidCertificateName(name: string, what: string): void {
  if (!isValidCertificateName(name)) {
    throw new CertificateError(
      `${what} ${JSON.stringify(name)} is not usable in a certificate: use 1-253 characters of ` +
        `letters, digits, '-' and '.', in labels of at most 63 that start and end with a letter or digit`,
    );
  }
}

/** Parses a DER (or PEM) certificate and extracts its identity. Throws CertificateError if malformed. */
export function readCertificateIdentity(certificate: Uint8Array | string): CertificateIdentity {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(certificate instanceof Uint8Array ? toArrayBuffer(certificate) : certificate);
  } catch (err) {
    throw new CertificateError(`cannot parse the certificate: ${(err as Error).message}`, { cause: err });
  }
  const commonNames = cert.subjectName.getField(OID_COMMON_NAME);
  const units = cert.subjectName.getField(OID_ORGANIZATIONAL_UNIT);
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  if (san) {
    for (const name of san.names.items) {
      if (name.type === 'dns') dnsNames.push(name.value);
      else if (name.type === 'ip') ipAddresses.push(name.value);
    }
  }
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  const extendedKeyUsages = eku ? eku.usages.map((usage) => String(usage)) : [];
  return {
    // Several CNs in one subject would make "the" identity ambiguous: treat that as none.
    commonName: commonNames.length === 1 ? commonNames[0] : '',
    dnsNames,
    ipAddresses,
    role: roleOf(units, extendedKeyUsages),
    extendedKeyUsages,
    serialNumber: cert.serialNumber,
  };
}

function roleOf(units: string[], usages: string[]): CertificateRole {
  if (units.length !== 1) return 'unknown';
  if (units[0] === NODE_CERTIFICATE_ROLE && usages.includes(EKU_SERVER_AUTH) && usages.includes(EKU_CLIENT_AUTH)) {
    return 'node';
  }
  if (units[0] === CLIENT_CERTIFICATE_ROLE && usages.includes(EKU_CLIENT_AUTH) && !usages.includes(EKU_SERVER_AUTH)) {
    return 'client';
  }
  return 'unknown';
}

/**
 * The node id a certificate proves, or null when it is not a well-formed node certificate: role
 * node, a valid CN, and the same name among its SAN DNS names (so that CN and SAN never disagree
 * about who the holder is).
 */
export function nodeIdOf(identity: CertificateIdentity): string | null {
  if (identity.role !== 'node') return null;
  if (!isValidCertificateName(identity.commonName)) return null;
  if (!identity.dnsNames.includes(identity.commonName)) return null;
  return identity.commonName;
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}
