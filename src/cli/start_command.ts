// `raft-signer start --home DIR`: runs one node in the foreground until SIGTERM or SIGINT. The
// first signal stops it gracefully (a leader hands over leadership first); a second one exits at
// once. Whatever the node acknowledged is on disk before it was acknowledged, so even that loses
// nothing.

import { Command, Option } from 'commander';
import { LOG_LEVELS, LogLevel } from '../log/logger';
import { startNodeProcess } from '../node/node_process';
import { CliError, expectedErrorMessage } from './cli_errors';

export function registerStartCommand(program: Command): void {
  program
    .command('start')
    .description('run a node in the foreground until SIGTERM or SIGINT')
    .requiredOption('--home <dir>', "the node's home directory (holds config.yaml)")
    .addOption(new Option('--log-level <level>', 'log level (default: logLevel in config.yaml)').choices(LOG_LEVELS as string[]))
    .option('--new-cluster', 'found a new cluster with an empty store (testnet homes need no flag; never for a node that lost its data)')
    .action(async (opts: { home: string; logLevel?: LogLevel; newCluster?: boolean }) => {
      const running = await startNodeProcess(opts.home, { logLevel: opts.logLevel, newCluster: opts.newCluster });
      await new Promise<void>((resolve, reject) => {
        let signals = 0;
        const onSignal = (signal: NodeJS.Signals): void => {
          signals++;
          if (signals > 1) {
            running.logger.warn(`second ${signal}: exiting now`);
            process.exit(1);
          }
          running.logger.info(`${signal} received: stopping`);
          running.stop().then(resolve, reject);
        };
        process.on('SIGTERM', onSignal);
        process.on('SIGINT', onSignal);
        const watch = setInterval(() => {
          const failure = running.node.failure();
          if (failure) {
            clearInterval(watch);
            // A refusal the node explains (a rolled-back home, a failed write) reads as one; anything
            // else is a bug and keeps its stack.
            const text = `the node stopped: ${failure.message}`;
            reject(expectedErrorMessage(failure) !== null ? new CliError(text) : new Error(text));
          }
        }, 200);
        watch.unref();
      });
    });
}
