// One base for raft-signer's errors, in the style of Lodestar's LodestarError: besides its message,
// every error carries a `type`, a small object with a stable `code` (SCREAMING_SNAKE_CASE, unique
// to one kind of failure) and the structured fields of that failure (its payload). Code that
// needs to tell failures apart can switch on `type.code`; logs and reports can take the payload
// from getMetadata() instead of parsing the message.
//
// The message stays the operator's text and `name` the class name: this base changes neither.
// This file sits at the bottom of the import graph: it imports nothing from the rest of src.

/** The code every error type carries; the rest of the type is the payload. */
export type RaftSignerErrorType = { code: string };

export class RaftSignerError<T extends RaftSignerErrorType = RaftSignerErrorType> extends Error {
  /**
   * The code and the payload. Not enumerable, so that util.inspect, console.error and structured
   * loggers show an error exactly as they did before the base existed.
   */
  declare readonly type: T;

  constructor(type: T, message?: string, options?: { cause?: unknown }) {
    super(message ?? type.code, options);
    Object.defineProperty(this, 'type', { value: type, enumerable: false, writable: false, configurable: true });
    // No own `name` here: each subclass sets its own after super(), as before, so the order of an
    // error's own properties (JSON.stringify, inspect) is what it was. The base's name is on its prototype.
  }

  /** The code and the payload as a plain object, for logs and reports. */
  getMetadata(): Record<string, unknown> {
    return { ...this.type };
  }
}

// Like Error.prototype.name: writable, so a subclass's `this.name = '...'` makes an own property.
Object.defineProperty(RaftSignerError.prototype, 'name', { value: 'RaftSignerError', writable: true, enumerable: false, configurable: true });
