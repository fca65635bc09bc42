// `raft-signer testnet`: the command wiring (options, the printed summary) over the testnet
// library in src/testnet/testnet.ts, which checks everything and writes the cluster.

import { Command, InvalidArgumentError } from 'commander';
import path from 'node:path';
import { createTestnet, MAX_TESTNET_NODES, MIN_TESTNET_NODES, NODE_INDEX_PLACEHOLDER, TestnetSummary } from '../testnet/testnet';

/** The summary printed at the end of `raft-signer testnet`: where things are, what to run next. */
export function formatTestnetSummary(summary: TestnetSummary): string {
  const lines: string[] = [];
  const n = summary.nodes.length;
  lines.push(`Wrote a ${n}-node raft-signer testnet for chain ${summary.chainId} in ${summary.outDir}`);
  for (const node of summary.nodes) {
    lines.push(`  ${node.id.padEnd(7)} home ${node.home}  listens on ${node.listen}  signs for ${node.validatorAddr}`);
  }
  lines.push(`  validator key  ${summary.validatorKeyFile} (address ${summary.validatorAddress}; every node signs with it)`);
  lines.push(`  admin client   ${summary.adminDir} (certificate for the admin commands)`);
  lines.push(`  cluster CA     ${path.dirname(summary.caCertFile)} (ca.key issues certificates: keep it secret)`);
  lines.push('');
  lines.push(`Start every node (each in its own terminal or as a service):`);
  for (const node of summary.nodes) lines.push(`  raft-signer start --home ${node.home}`);
  lines.push('Then see the cluster:');
  lines.push(`  raft-signer status --home ${summary.nodes[0].home}`);
  lines.push(
    `Each validator node must listen on its address above (priv_validator_laddr); its genesis public key is ${summary.validatorPublicKey}.`,
  );
  return lines.join('\n') + '\n';
}

/** Adds `testnet` to the program. */
export function registerTestnetCommand(program: Command): void {
  program
    .command('testnet')
    .description('write a ready-to-run local cluster: node homes, TLS certificates and a validator key')
    .requiredOption('--nodes <n>', `number of nodes (${MIN_TESTNET_NODES} to ${MAX_TESTNET_NODES}; odd is best)`, parseWholeNumber)
    .requiredOption('--out <dir>', 'directory to write (created if missing; must be empty)')
    .requiredOption('--chain-id <id>', 'chain id the validator key signs for')
    .requiredOption(
      '--validator-addr <template>',
      `privval address of each node's validator node, ${NODE_INDEX_PLACEHOLDER} = node index (unix:///tmp/val{i}.sock, tcp://127.0.0.1:2666{i})`,
    )
    .option('--base-port <port>', 'node i listens on port+i (default: free ports)', parseWholeNumber)
    .option('--hosts <list>', 'comma-separated host of each node: listen on 0.0.0.0, peers dial host:port', parseHostList)
    .action(async (opts: { nodes: number; out: string; chainId: string; validatorAddr: string; basePort?: number; hosts?: string[] }) => {
      const summary = await createTestnet({
        nodes: opts.nodes,
        outDir: opts.out,
        chainId: opts.chainId,
        validatorAddrTemplate: opts.validatorAddr,
        basePort: opts.basePort,
        hosts: opts.hosts,
      });
      process.stdout.write(formatTestnetSummary(summary));
    });
}

function parseWholeNumber(value: string): number {
  if (!/^[0-9]+$/.test(value)) throw new InvalidArgumentError('must be a whole number');
  return Number(value);
}

function parseHostList(value: string): string[] {
  const hosts = value.split(',').map((h) => h.trim());
  if (hosts.some((h) => h === '')) throw new InvalidArgumentError('must be host names or IPs separated by commas, none empty');
  return hosts;
}
