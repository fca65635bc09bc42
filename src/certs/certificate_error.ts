// Errors raised while creating, loading or checking certificates. The message always says what to
// do about it (which file, which name, which option), because operators meet these at setup time.

import { RaftSignerError } from '../util/errors';

export class CertificateError extends RaftSignerError<{ code: 'CERTIFICATE' }> {
  constructor(message: string, options?: { cause?: unknown }) {
    super({ code: 'CERTIFICATE' }, message, options);
    this.name = 'CertificateError';
  }
}
