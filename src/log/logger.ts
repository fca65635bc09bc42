// One logger for the whole process. JSON lines when stdout is not a terminal (so log shippers can
// parse them), short readable lines when a person is watching. Never pass key material or whole
// sign requests to it: log heights, rounds, steps, chain ids and reasons only.

import winston from 'winston';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export const LOG_LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug'];

export type Logger = winston.Logger;

export interface LoggerOptions {
  level?: LogLevel;
  /** Force JSON (true) or readable lines (false); default: JSON unless stdout is a TTY. */
  json?: boolean;
  /** Fields added to every line, e.g. { node: 'node0' }. */
  defaultMeta?: Record<string, string>;
  /** Where lines go; default stdout. Tests pass their own stream to read what was logged. */
  stream?: NodeJS.WritableStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const json = options.json ?? !process.stdout.isTTY;
  const format = json
    ? winston.format.combine(winston.format.timestamp(), winston.format.json())
    : winston.format.combine(
        winston.format.timestamp({ format: 'HH:mm:ss.SSS' }),
        winston.format.printf((info) => {
          const { timestamp, level, message, ...rest } = info as Record<string, unknown>;
          const extra = Object.keys(rest).length > 0 ? ' ' + JSON.stringify(rest) : '';
          return `${String(timestamp)} ${String(level).toUpperCase().padEnd(5)} ${String(message)}${extra}`;
        }),
      );
  const transport = options.stream
    ? new winston.transports.Stream({ stream: options.stream })
    : new winston.transports.Console();
  return winston.createLogger({
    level: options.level ?? 'info',
    format,
    defaultMeta: options.defaultMeta,
    transports: [transport],
  });
}

/** A logger that drops everything, for tests and tools that must stay quiet. */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}

/**
 * A logger that does nothing at all, for code that runs thousands of times in one synchronous
 * turn (the simulator): winston hands every entry, even to a silent logger, to its stream, which
 * processes it only when the event loop turns, so entries pile up meanwhile. Only the leveled
 * methods and child() exist; `error` may be replaced on a derived object (Object.create).
 */
export function discardLogger(): Logger {
  const logger: Record<string, unknown> = {};
  const self = (): Logger => logger as unknown as Logger;
  for (const level of [...LOG_LEVELS, 'log', 'verbose', 'silly']) logger[level] = self;
  logger.child = self;
  logger.isLevelEnabled = () => false;
  return self();
}
