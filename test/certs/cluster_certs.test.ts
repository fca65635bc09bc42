import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  createClusterCa,
  issueClientCertificate,
  issueNodeCertificate,
} from '../../src/certs/cluster_certs';
import { readCertificateAndKey, writeCertificateAndKey } from '../../src/certs/cert_files';
import { CertificateError } from '../../src/certs/certificate_error';
import {
  EKU_CLIENT_AUTH,
  EKU_SERVER_AUTH,
  nodeIdOf,
  readCertificateIdentity,
} from '../../src/certs/certificate_identity';

describe('cluster certificates', () => {
  test('the CA is a self-signed ECDSA P-256 CA valid for about ten years', async () => {
    const ca = await createClusterCa();
    const cert = new X509Certificate(ca.certPem);
    expect(cert.ca).toBe(true);
    expect(cert.checkIssued(cert)).toBe(true);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    const years = (Date.parse(cert.validTo) - Date.now()) / (365.25 * 24 * 3600 * 1000);
    expect(years).toBeGreaterThan(9.9);
    expect(years).toBeLessThan(10.1);
    // The key is the CA's own.
    const spki = createPublicKey(createPrivateKey(ca.keyPem)).export({ type: 'spki', format: 'der' });
    expect(spki.equals(cert.publicKey.export({ type: 'spki', format: 'der' }))).toBe(true);
  });

  test('a node certificate names the node in CN and SAN, lists its hosts, and is signed by the CA', async () => {
    const ca = await createClusterCa();
    const node = await issueNodeCertificate(ca, 'node1', ['127.0.0.1', '::1', 'signer1.example.com']);
    const cert = new X509Certificate(node.certPem);
    const caCert = new X509Certificate(ca.certPem);
    expect(cert.ca).toBe(false);
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.subject).toContain('CN=node1');
    expect(cert.subjectAltName).toContain('DNS:node1');
    expect(cert.subjectAltName).toContain('DNS:signer1.example.com');
    expect(cert.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(cert.subjectAltName).toMatch(/IP Address:0:0:0:0:0:0:0:1|IP Address:::1/);
    expect(cert.keyUsage).toEqual(expect.arrayContaining([EKU_SERVER_AUTH, EKU_CLIENT_AUTH]));
    expect(cert.checkPrivateKey(createPrivateKey(node.keyPem))).toBe(true);

    const identity = readCertificateIdentity(cert.raw);
    expect(identity.role).toBe('node');
    expect(nodeIdOf(identity)).toBe('node1');
    expect(identity.ipAddresses).toEqual(expect.arrayContaining(['127.0.0.1']));
  });

  test('a client certificate is clientAuth only and is never read as a node, whatever its name', async () => {
    const ca = await createClusterCa();
    const client = await issueClientCertificate(ca, 'node1');
    const cert = new X509Certificate(client.certPem);
    expect(cert.verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
    expect(cert.keyUsage).toEqual([EKU_CLIENT_AUTH]);
    const identity = readCertificateIdentity(cert.raw);
    expect(identity.commonName).toBe('node1');
    expect(identity.role).toBe('client');
    expect(nodeIdOf(identity)).toBeNull();
  });

  test('bad names, a foreign key and a non-CA issuer are refused with a CertificateError', async () => {
    const ca = await createClusterCa();
    await expect(issueNodeCertificate(ca, 'node 1', [])).rejects.toThrow(CertificateError);
    await expect(issueNodeCertificate(ca, '', [])).rejects.toThrow(/node id/);
    await expect(issueNodeCertificate(ca, 'node1', ['bad host!'])).rejects.toThrow(/host name/);
    await expect(issueClientCertificate(ca, 'admin,O=x')).rejects.toThrow(CertificateError);

    const otherCa = await createClusterCa();
    await expect(issueNodeCertificate({ certPem: ca.certPem, keyPem: otherCa.keyPem }, 'node1', [])).rejects.toThrow(
      /does not belong/,
    );
    const leaf = await issueNodeCertificate(ca, 'node1', []);
    await expect(issueNodeCertificate(leaf, 'node2', [])).rejects.toThrow(/not a CA/);
    await expect(issueNodeCertificate(ca, 'node1', [], { validityDays: 4000 })).rejects.toThrow(/outlive/);
  });

  test('files: the key is written with mode 0600, read back unchanged, and not overwritten by default', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'raft-signer-certs-'));
    try {
      const ca = await createClusterCa();
      const node = await issueNodeCertificate(ca, 'node0', ['127.0.0.1']);
      const written = await writeCertificateAndKey(path.join(dir, 'tls'), 'node0', node);
      expect((await fs.stat(written.keyPath)).mode & 0o777).toBe(0o600);
      expect((await fs.stat(written.certPath)).mode & 0o777).toBe(0o644);
      expect(await readCertificateAndKey(path.join(dir, 'tls'), 'node0')).toEqual(node);
      await expect(writeCertificateAndKey(path.join(dir, 'tls'), 'node0', node)).rejects.toThrow(/already exists/);
      const replacement = await issueNodeCertificate(ca, 'node0', []);
      await writeCertificateAndKey(path.join(dir, 'tls'), 'node0', replacement, { overwrite: true });
      expect((await fs.stat(written.keyPath)).mode & 0o777).toBe(0o600);
      expect((await readCertificateAndKey(path.join(dir, 'tls'), 'node0')).keyPem).toBe(replacement.keyPem);
      // A key file handed where a certificate is expected is refused without echoing it.
      await fs.copyFile(written.keyPath, path.join(dir, 'tls', 'swapped.crt'));
      await fs.copyFile(written.keyPath, path.join(dir, 'tls', 'swapped.key'));
      const failure = readCertificateAndKey(path.join(dir, 'tls'), 'swapped');
      await expect(failure).rejects.toThrow(/does not contain a PEM CERTIFICATE/);
      await failure.catch((err: Error) => expect(err.message).not.toContain('BEGIN'));
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
