import { createRequire } from 'node:module';
import { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify';
import {
  pino,
  type Bindings,
  type ChildLoggerOptions,
  type DestinationStream,
  type LevelWithSilent,
  type Logger,
} from 'pino';
import type PinoPrettyStream from 'pino-pretty';
import type { Logger as ServiceLogger } from '../compose.js';
import { requestLineBatches } from './request-line-batches.js';
import { standardOutput } from './standard-output.js';
import { isDataException, withoutQuotedInput } from '../lib/quoted-input.js';

/**
 * How log lines are written: `pretty` for a person at a terminal, `json` for
 * a log collector, `json-server` as json-server's terminal showed them
 * (`GET /posts 200 4.2 ms - 245`, messages alone).
 */
export type LogFormat = 'auto' | 'pretty' | 'json' | 'json-server';

export interface LogSettings {
  level: LevelWithSilent;
  /**
   * `auto`: on a terminal, pretty (json-server's lines for a json-server
   * style configuration, see `jsonServerStyle`); JSON otherwise.
   */
  format: LogFormat;
  /** The configuration is json-server's (config.json): `auto` on a terminal writes json-server's lines. */
  jsonServerStyle?: boolean;
}

/** The format `settings` asks for on this output: `auto` resolved. */
export function formatOf(settings: LogSettings, terminal: boolean): Exclude<LogFormat, 'auto'> {
  if (settings.format !== 'auto') return settings.format;
  if (!terminal) return 'json';
  return settings.jsonServerStyle ? 'json-server' : 'pretty';
}

/** A line as json-server's logger (morgan's `dev` format) wrote it; a service's message as it is. */
export function jsonServerLine(log: Record<string, unknown>): string {
  if (typeof log.method === 'string' && typeof log.status === 'number') {
    return `${log.method} ${String(log.path)} ${log.status} ${String(log.ms)} ms - ${String(log.bytes ?? '-')}`;
  }
  const error = log.err as { message?: string } | undefined;
  return error?.message ? `${String(log.msg)}: ${error.message}` : String(log.msg ?? '');
}

/**
 * Where a secret could sit in a logged object: pino writes `[redacted]`
 * there, whoever logs it. A net under the rule that matters more: restauth
 * logs no request body, header, query string or cookie in the first place
 * (see the request line below and docs/operations.md#logs).
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'body',
  'req.body',
  'query',
  'req.query',
  ...[
    'password',
    'newpassword',
    'new_password',
    'token',
    'token_hash',
    'access_token',
    'refresh_token',
    'accessToken',
    'refreshToken',
    'secret',
    'jwtSecret',
    'otp',
    'authorization',
    'cookie',
  ].flatMap((key) => [key, `*.${key}`]),
];

/** The path of a URL without its query string: queries carry mailed tokens (GET /verify?token=...). */
export function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/**
 * PostgreSQL's detail of a refused row quotes it (`Failing row contains (id, ..., $2b$..., ...)`,
 * `Key (token)=(...) already exists`), and pg puts the detail on its error, which pino's err
 * serializer copies: a user's password hash or a refresh token reached the log whenever a
 * constraint an operator added, a trigger or a full disk refused a write. The table, column,
 * constraint and code stay, in their own fields.
 */
const ROW_VALUES = /^(Failing row contains \(|Key \()/u;

const QUOTED_FIELDS = ['message', 'stack', 'where'] as const;

/** A data exception's fields without the value it quotes (see quoted-input.ts); code, table, column stay. */
function withoutDataExceptionInput(fields: Record<string, unknown>): void {
  if (!isDataException(fields['code'])) return;
  for (const field of QUOTED_FIELDS) {
    const text = fields[field];
    // eslint-disable-next-line no-restricted-syntax -- the key is one of QUOTED_FIELDS, a fixed list.
    if (typeof text === 'string') fields[field] = withoutQuotedInput(text);
  }
}

/** pino's err serializer, without the row values of a database error's detail (its causes' too). */
function serializeError(error: Error): pino.SerializedError {
  const serialized = pino.stdSerializers.err(error);
  withoutRowValues(serialized, Object.getPrototypeOf(serialized) as object, 0);
  return serialized;
}

/** Clears `detail` on the serialized errors inside `value` (objects the serializer made, never the error's own). */
function withoutRowValues(value: unknown, made: object, depth: number): void {
  if (depth > 8 || typeof value !== 'object' || value === null) return;
  if (Array.isArray(value)) {
    for (const item of value) withoutRowValues(item, made, depth + 1);
    return;
  }
  if (Object.getPrototypeOf(value) !== made) return;
  const fields = value as Record<string, unknown>;
  if (typeof fields['detail'] === 'string' && ROW_VALUES.test(fields['detail'])) {
    fields['detail'] = '[redacted: the values of the refused row]';
  }
  withoutDataExceptionInput(fields);
  for (const nested of Object.values(fields)) withoutRowValues(nested, made, depth + 1);
}

// Whatever logs a request or reply object gets its method, path and status only: never its headers.
const SERIALIZERS: pino.LoggerOptions['serializers'] = {
  req: (request: { method?: string; url?: string }) => ({
    method: request.method,
    path: pathOf(request.url ?? ''),
  }),
  res: (reply: { statusCode?: number }) => ({ status: reply.statusCode }),
  err: serializeError,
};

/** Where a logger's request lines go when not where its other lines do (see requestLineBatches). */
const requestLineOutputs = new WeakMap<Logger, DestinationStream>();

/**
 * pino-pretty, required by the formats that write through it: its 29 files and their dependencies were
 * 0.7 MiB of an idle server logging JSON lines, which never calls it.
 */
function pinoPretty(): typeof PinoPrettyStream {
  return createRequire(import.meta.url)('pino-pretty') as typeof PinoPrettyStream;
}

/**
 * The server's pino logger: JSON lines, or pino-pretty's short lines when
 * asked or on a terminal. `destination` replaces standard output (tests).
 */
export function createLogger(settings: LogSettings, destination?: DestinationStream): Logger {
  const format = formatOf(settings, process.stdout.isTTY === true);
  const options: pino.LoggerOptions = {
    level: settings.level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: SERIALIZERS,
  };
  if (format === 'json') {
    if (destination) return pino(options, destination);
    const log = pino(options, standardOutput());
    // Below info no request line is written: no buffer, no timer.
    if (log.isLevelEnabled('info')) requestLineOutputs.set(log, requestLineBatches());
    return log;
  }
  if (format === 'json-server') {
    const lines = pinoPretty()({
      colorize: false,
      // Only the line itself: no time, level or fields, as json-server's terminal.
      ignore: 'pid,hostname,time,level',
      hideObject: true,
      messageFormat: (log) => jsonServerLine(log),
      destination: (destination ?? standardOutput()) as NodeJS.WritableStream,
    });
    return pino(options, lines);
  }
  const stream = pinoPretty()({
    colorize: destination === undefined && process.stdout.isTTY === true,
    translateTime: 'SYS:HH:MM:ss.l',
    // The request line's message already says all of these.
    ignore: 'pid,hostname,reqId,method,path,route,status,ms,bytes',
    singleLine: true,
    // Standard output's lines are written synchronously: out before the process may exit (a signal's
    // close, a failed start).
    destination: (destination ?? standardOutput()) as NodeJS.WritableStream,
  });
  return pino(options, stream);
}

/**
 * The logger of the request lines (RequestLineLogController): `log`'s level, output and format, without
 * its redaction. A request line's fields are made from the method, the path without its query, the route
 * pattern, the status, the time and the size, none of which a redacted path can name, and redacting
 * them was over half of what a line cost (@pinojs/redact walks each object against every path,
 * wildcards included). A failed request's line, which carries its error, goes through `log`.
 */
export function requestLineLogger(log: Logger): Logger {
  const output =
    requestLineOutputs.get(log) ??
    (log as unknown as Record<symbol, DestinationStream>)[pino.symbols.streamSym]!;
  return pino({ level: log.level, serializers: SERIALIZERS }, output);
}

/** The services' `info`/`warn` lines (start-up, store, mail worker) through the same logger. */
export function serviceLogger(log: Logger): ServiceLogger {
  return {
    info: (message) => log.info(message),
    // pino's err serializer keeps the error's type, message, stack and code.
    warn: (message, error) => (error === undefined ? log.warn(message) : log.warn({ err: error }, message)),
  };
}

type LogMethod = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/**
 * A request's `request.log` that becomes pino's child logger (`parent.child(bindings, options)`) only
 * when something logs through it: most requests log nothing of their own (the request line is written
 * by RequestLineLogController without it), and a child built per request, its reqId binding
 * serialised and redacted, was 2-3 µs of every request's CPU. A call at a level `parent` does not
 * write builds nothing; the first call that may write builds the child once, and every later call
 * goes to it, so the lines are the child's to the byte.
 */
export class DeferredChildLogger implements FastifyBaseLogger {
  private built: FastifyBaseLogger | null = null;

  constructor(
    private readonly parent: Logger,
    private readonly bindings: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}

  /** The child logger, built at the first call that needs it. */
  get logger(): FastifyBaseLogger {
    return (this.built ??= this.parent.child(this.bindings, this.options) as FastifyBaseLogger);
  }

  get level(): string {
    return this.built?.level ?? this.options.level ?? this.parent.level;
  }

  set level(level: string) {
    this.logger.level = level;
  }

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.logger.child(bindings, options);
  }

  // Methods on the prototype, as pino's: fields holding a closure each were made for every request.
  fatal(...args: unknown[]): void {
    this.write('fatal', args);
  }
  error(...args: unknown[]): void {
    this.write('error', args);
  }
  warn(...args: unknown[]): void {
    this.write('warn', args);
  }
  info(...args: unknown[]): void {
    this.write('info', args);
  }
  debug(...args: unknown[]): void {
    this.write('debug', args);
  }
  trace(...args: unknown[]): void {
    this.write('trace', args);
  }
  silent(): void {}

  private write(method: LogMethod, args: unknown[]): void {
    // Its own level (a route's logLevel) or a level set since: only the child knows what it writes.
    if (this.built === null && this.options.level === undefined && !this.parent.isLevelEnabled(method))
      return;
    (this.logger[method] as (...args: unknown[]) => void)(...args);
  }
}

/**
 * Fastify's childLoggerFactory making each request's logger a DeferredChildLogger of the logger Fastify
 * would make it a child of (the server's pino logger, or a plugin's child of it).
 */
export function deferredChildLogger(
  logger: FastifyBaseLogger,
  bindings: Bindings,
  options: ChildLoggerOptions,
): FastifyBaseLogger {
  return new DeferredChildLogger(logger as Logger, bindings, options);
}

/**
 * One line per request, when its answer is sent, instead of Fastify's two
 * ("incoming request" with the full URL, "request completed"):
 * `POST /auth/v1/token 200 4.2ms`, with method, path, route pattern, status
 * and milliseconds as fields. The path is logged without its query string,
 * and no header or body is logged. Requests are not logged at all below info
 * (the check is made once, not per request: request logging is on the hot path).
 */
export class RequestLineLogController extends LogController {
  private readonly enabled: boolean;

  /** `lines`: requestLineLogger's, for the lines of answered requests. */
  constructor(private readonly lines: Logger) {
    super();
    this.enabled = lines.isLevelEnabled('info');
  }

  override incomingRequest(): void {}

  override routeNotFound(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    if (!this.enabled) return;
    const path = pathOf(request.originalUrl);
    const status = reply.statusCode;
    const ms = Math.round(reply.elapsedTime * 10) / 10;
    // The answer's size, as json-server's lines end with it ("- 245"); absent for a stream.
    const length = reply.getHeader('content-length');
    const bytes = length === undefined ? undefined : Number(length);
    const fields = { method: request.method, path, route: request.routeOptions.url, status, ms, bytes };
    const line = `${request.method} ${path} ${status} ${ms}ms`;
    if (error) request.log.error({ ...fields, err: error }, line);
    // request.log's reqId binding, written by hand: a child logger per line would cost more than the line.
    else this.lines.info({ reqId: request.id, ...fields }, line);
  }
}
