// Errors raised while creating, loading or checking certificates. The message always says what to
// do about it (which file, which name, which option), because operators meet these at setup time.

export class CertificateError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CertificateError';
  }
}
