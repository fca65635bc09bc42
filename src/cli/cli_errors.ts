// How the CLI tells an expected failure (a refusal, a bad file, a missing key: something the
// operator can fix from the message alone) from a bug. Expected failures print one line,
// "error: <message>", and exit 1; a bug prints its stack, because that is what a bug report needs.

import { CertificateError } from '../certs/certificate_error';
import { ConfigError } from '../config/node_config';
import { PassphraseError } from '../keys/encrypted_key_file';
import { KeyFileError } from '../keys/key_file_permissions';
import { StorageError } from '../storage/errors';
import { TestnetError } from '../testnet/testnet';
import { TransportConfigError } from '../transport/grpc_server';
import { RaftSignerError } from '../util/errors';

/** Exit code for a failure the message explains (commander uses 2 for usage errors, see main.ts). */
export const EXIT_FAILURE = 1;
/** Exit code for a command line commander cannot parse (unknown option, missing option, ...). */
export const EXIT_USAGE = 2;

/** A refusal by a CLI command; the message says what is wrong and what to do about it. */
export class CliError extends RaftSignerError<{ code: 'CLI_REFUSED' }> {
  constructor(message: string) {
    super({ code: 'CLI_REFUSED' }, message);
    this.name = 'CliError';
  }
}

/**
 * The one-line message for an error the operator can act on, or null for anything else (a bug).
 * Errors from the config, certificate, key and testnet modules count as expected: they already
 * name the file and the fix.
 */
export function expectedErrorMessage(err: unknown): string | null {
  if (
    err instanceof CliError ||
    err instanceof ConfigError ||
    err instanceof CertificateError ||
    err instanceof KeyFileError ||
    err instanceof PassphraseError ||
    err instanceof StorageError ||
    err instanceof TestnetError ||
    err instanceof TransportConfigError
  ) {
    // A ConfigError lists one problem per line; keep the promise of a single line on stderr.
    return err.message
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '')
      .join('; ');
  }
  return null;
}
