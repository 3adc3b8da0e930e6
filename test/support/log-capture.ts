import assert from 'node:assert/strict';
import { after } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { createLogger } from '../../src/http/logging.js';
import { lineSink } from './log-lines.js';

/**
 * Every test app's log, kept and scanned for secrets (issue 16: "no secret,
 * password, token or code in any log line of the whole test run"). Each test
 * app made by createTestApp logs at trace, as `restauth serve` would at its
 * most verbose, into this process's capture; the secrets its requests and
 * answers carried are gathered on the way; once the test file is done, a
 * last check finds none of them, and no JWT, in any captured line.
 */
const lines: string[] = [];
const secrets = new Set<string>();
/** Six-digit codes: looked for as whole numbers (timestamps hold such digits). */
const codes = new Set<string>();
/**
 * What is logged by design: the paths requested, and the identifiers sent
 * (a mail's address is logged). A value a test also sent as one of these is
 * no secret: attack tests send the same words ("constructor", a victim's
 * name) as a password, in a path and as a login.
 */
const published: string[] = [];
const IDENTIFIER_FIELDS = /^(email|username|user|login|name|phone|id|userId)$/iu;

/** Body and query fields that carry secrets in some dialect. */
const SECRET_FIELDS =
  /^(password|password_confirm|current_password|new_password|new_password_confirm|newpassword|token|token_hash|reset_token|refresh_token|access_token|code|otp|secret)$/iu;
/** Anything shaped as a JWT (header.payload.signature, base64url): no log line may hold one. */
const JWT = /eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{8,}/u;

/**
 * A value worth looking for: long enough not to be an ordinary word of a log
 * line, and not an identifier or address that attack tests also put in paths
 * (a path is logged, and names no secret).
 */
function remember(value: unknown): void {
  if (typeof value !== 'string') return;
  if (/^\d{6}$/u.test(value)) codes.add(value);
  else if (value.length >= 10 && !IDENTIFIER.test(value)) secrets.add(value);
}

const IDENTIFIER = /^(\d+|[\da-f]{8}-[\da-f]{4}-[\da-f]{4}-[\da-f]{4}-[\da-f]{12}|[^\s@]+@[^\s@]+)$/iu;

/** The secrets in a parsed body or query (bounded: fuzz tests send deep and huge ones). */
function harvest(value: unknown, depth = 0): void {
  if (depth > 4 || typeof value !== 'object' || value === null) return;
  for (const [key, field] of Object.entries(value).slice(0, 64)) {
    if (SECRET_FIELDS.test(key)) remember(field);
    else if (IDENTIFIER_FIELDS.test(key) && typeof field === 'string') published.push(field.slice(0, 1000));
    else harvest(field, depth + 1);
  }
}

/** Gathers the secrets of every request and answer of `app` (call before it is ready). */
export function gatherSecrets(app: FastifyInstance): void {
  app.addHook('preHandler', (request, _reply, done) => {
    published.push(request.originalUrl.split('?')[0] ?? '');
    harvest(request.body);
    harvest(request.query);
    const authorization = request.headers.authorization;
    if (typeof authorization === 'string') remember(authorization.replace(/^\S+\s+/u, ''));
    for (const cookie of (request.headers.cookie ?? '').split(';')) remember(cookie.split('=')[1]?.trim());
    done();
  });
  app.addHook('onSend', (_request, _reply, payload, done) => {
    if (typeof payload === 'string' && payload.startsWith('{') && payload.length < 100_000) {
      try {
        harvest(JSON.parse(payload));
      } catch {
        // Not JSON after all: nothing to gather.
      }
    }
    done(null, payload);
  });
}

/** Remembers a configured secret (the JWT secret, an SMTP password). */
export function rememberSecret(value: unknown): void {
  remember(value);
}

/** A trace-level logger of the server's own kind, writing into the capture. */
export function capturedLogger(): Logger {
  return createLogger(
    { level: 'trace', format: 'json' },
    lineSink((line) => lines.push(line)),
  );
}

/** The lines every test app of this file has logged so far (a test reads those after a count it kept). */
export function capturedLines(): readonly string[] {
  return lines;
}

after(() => {
  const known = published.join('\n');
  const secret = [...secrets].filter((value) => !known.includes(value));
  const leaks: string[] = [];
  for (const line of lines) {
    if (JWT.test(line)) leaks.push(`a JWT in: ${line}`);
    for (const value of secret) if (line.includes(value)) leaks.push(`${value} in: ${line}`);
    for (const number of line.match(/(?<!\d)\d{6}(?!\d)/gu) ?? []) {
      if (codes.has(number)) leaks.push(`code ${number} in: ${line}`);
    }
    if (leaks.length >= 20) break;
  }
  assert.deepEqual(leaks, [], `secrets in the log of this file's test apps (${lines.length} lines)`);
});
