// Shared by the cluster command tests: a node home made outside the testnet (a new member with its
// own certificate from the testnet's CA, `join: true`), and its process.

import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { issueNodeCertificate } from '../../src/certs/cluster_certs';
import { findFreePorts } from '../../src/testnet/testnet';
import { writeNodeConfig } from '../../src/config/node_config';
import { CLI_ENTRY, ProcessCluster } from '../../src/harness/process_cluster';

export interface ExtraNode {
  id: string;
  home: string;
  address: string;
  start(): ChildProcess;
  kill(): Promise<void>;
  log(): string;
}

/**
 * Writes the home of a node that joins `cluster`'s testnet as `id`: a node certificate issued by
 * the testnet's CA (as an operator would with ca/ca.key), the validator key, and a config.yaml
 * listing the founding members and itself, with join: true (it starts empty and waits to be added).
 */
export async function makeJoiningNode(cluster: ProcessCluster, id: string, chainId: string): Promise<ExtraNode> {
  const net = cluster.testnet;
  const [port] = await findFreePorts(1);
  const address = `127.0.0.1:${port}`;
  const home = path.join(cluster.root, id);
  fs.mkdirSync(path.join(home, 'tls'), { recursive: true, mode: 0o700 });
  const ca = { certPem: fs.readFileSync(net.caCertFile, 'utf8'), keyPem: fs.readFileSync(net.caKeyFile, 'utf8') };
  const pair = await issueNodeCertificate(ca, id, ['127.0.0.1']);
  fs.writeFileSync(path.join(home, 'tls', 'ca.pem'), ca.certPem);
  fs.writeFileSync(path.join(home, 'tls', 'node.pem'), pair.certPem);
  fs.writeFileSync(path.join(home, 'tls', 'node.key'), pair.keyPem, { mode: 0o600 });
  fs.copyFileSync(net.validatorKeyFile, path.join(home, 'priv_validator_key.json'));
  fs.chmodSync(path.join(home, 'priv_validator_key.json'), 0o600);
  writeNodeConfig(home, {
    id,
    listen: address,
    peers: [...net.peers, { id, address }],
    join: true,
    tls: { ca: 'tls/ca.pem', cert: 'tls/node.pem', key: 'tls/node.key' },
    chains: [{ chainId, keyFile: 'priv_validator_key.json', validatorAddrs: [] }],
  });
  const logFile = path.join(cluster.root, `${id}.log`);
  let child: ChildProcess | null = null;
  const running = (): boolean => child !== null && child.exitCode === null && child.signalCode === null;
  return {
    id,
    home,
    address,
    start(): ChildProcess {
      const fd = fs.openSync(logFile, 'a');
      child = spawn(process.execPath, [CLI_ENTRY, 'start', '--home', home], { stdio: ['ignore', fd, fd] });
      fs.closeSync(fd);
      return child;
    },
    async kill(): Promise<void> {
      const c = child;
      if (!c || !running()) return;
      const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
      c.kill('SIGKILL');
      await exited;
    },
    log(): string {
      return fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '';
    },
  };
}
