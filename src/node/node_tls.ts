// Reading a node's TLS files at start, and refusing the ones it must not run with:
//  - a TLS key file that group or others may read or write (as a validator key file is refused:
//    whoever copies it can pose as this node to every peer);
//  - a certificate that is not a node certificate, or names another node than config.yaml's `id`
//    (another node's tls/ copied into this home: the peers would take this process for that node,
//    and its streams would compete with the real one's);
//  - a certificate listed in config.yaml's revokedCertificates;
//  - a certificate not issued by the cluster CA, or a key that does not belong to it.
// Everything is checked before the store is opened or a port is bound; each refusal is one line
// naming the file and saying what to do.

import { createHash, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import { nodeIdOf, readCertificateIdentity, type CertificateIdentity } from '../certs/certificate_identity';
import { type NodeConfig } from '../config/node_config';
import { readSecretFile } from '../keys/key_file_permissions';
import { isRevoked, revocationList } from '../transport/authorization';
import { checkTlsMaterial, TransportConfigError, type TlsPem } from '../transport/grpc_server';

function readCertificateFile(what: string, file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new TransportConfigError(`cannot read the ${what} ${file}: ${(e as Error).message}`);
  }
}

function identityOf(file: string, pem: string): { identity: CertificateIdentity; sha256: string } {
  try {
    const raw = new X509Certificate(pem).raw;
    return { identity: readCertificateIdentity(raw), sha256: createHash('sha256').update(raw).digest('hex') };
  } catch (e) {
    throw new TransportConfigError(`the TLS certificate ${file} cannot be read as a certificate: ${(e as Error).message}`);
  }
}

/** This node's CA, certificate and key, checked as the file header says. */
export function readNodeTls(config: NodeConfig): TlsPem {
  const ca = readCertificateFile('cluster CA certificate', config.tls.ca);
  const cert = readCertificateFile('TLS certificate', config.tls.cert);
  const keyBytes = readSecretFile(config.tls.key, 'TLS key file');
  const key = keyBytes.toString('utf8');
  keyBytes.fill(0);

  const own = `node ${config.id}'s own certificate and key (issued by the cluster CA for node id ${config.id}) in ${config.tls.cert} and ${config.tls.key}`;
  const { identity, sha256 } = identityOf(config.tls.cert, cert);
  const certNodeId = nodeIdOf(identity);
  if (certNodeId === null) {
    const role = identity.role === 'unknown' ? 'a certificate of no raft-signer role' : `a ${identity.role} certificate`;
    throw new TransportConfigError(`the TLS certificate ${config.tls.cert} is not a node certificate (CN=${identity.commonName}, ${role}): put ${own}`);
  }
  if (certNodeId !== config.id) {
    throw new TransportConfigError(
      `the TLS certificate ${config.tls.cert} is node ${certNodeId}'s, but config.yaml says this node is ${config.id}: ` +
        `every node needs its own; put ${own}`,
    );
  }
  if (isRevoked(revocationList(config.revokedCertificates), { identity, sha256 })) {
    throw new TransportConfigError(
      `the TLS certificate ${config.tls.cert} of node ${config.id} (serial ${identity.serialNumber}) is listed in revokedCertificates of ` +
        `config.yaml: issue ${config.id} a new certificate with the cluster CA`,
    );
  }
  const tls = { ca, cert, key };
  // Issued by the cluster CA, and the key is the certificate's (names the files, never the key).
  try {
    checkTlsMaterial(tls, 'node');
  } catch (e) {
    throw new TransportConfigError(`${(e as Error).message} (${config.tls.cert}, ${config.tls.key}, CA ${config.tls.ca})`);
  }
  return tls;
}
