import { Transform, type TransformCallback } from 'node:stream';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { AuthError } from '../core/errors.js';
import { ByteBudget } from '../lib/byte-budget.js';

/**
 * Seconds a client refused for the budget is told to wait (Retry-After): bodies are held for as
 * long as their request runs, a few seconds at most for one sent at speed.
 */
export const BODY_BUDGET_RETRY_AFTER_S = 5;

/**
 * Bytes of request bodies received and not yet answered, across every request of the server
 * (requestBodyBudget). Each route bounds its own body (bodyLimit), but that alone let N clients
 * that send headers and then a body slowly, or never, hold N times it: a body is buffered whole
 * before it is parsed, and maxConnections allows 10,000 of them (1 GB at the default bodyLimit).
 */
export class RequestBodyBudget extends ByteBudget {}

function overBudget(): AuthError {
  return new AuthError('over_capacity', 'Too many request bodies are being received; retry shortly', {
    retryAfter: BODY_BUDGET_RETRY_AFTER_S,
  });
}

/** A body larger than the whole budget: it could never be taken, whatever the wait. */
function tooLarge(): AuthError {
  return new AuthError('payload_too_large');
}

/**
 * A chunked body (no Content-Length) counted as it comes: each chunk is taken from the budget before
 * it is passed on, and what was taken is given back when the answer is over (giveBackAtClose).
 */
class CountedBody extends Transform {
  taken = 0;
  /** Fastify's body parsers compare it with bodyLimit, as they do the request's own. */
  receivedEncodedLength = 0;

  constructor(private readonly budget: RequestBodyBudget) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.taken + chunk.length > this.budget.bytes) return callback(tooLarge());
    if (!this.budget.take(chunk.length)) return callback(overBudget());
    this.taken += chunk.length;
    this.receivedEncodedLength += chunk.length;
    callback(null, chunk);
  }
}

/** Gives `bytes` back once the answer is over: sent, or its client gone. */
function giveBackAtClose(reply: FastifyReply, budget: RequestBodyBudget, bytes: () => number): void {
  reply.raw.once('close', () => budget.give(bytes()));
}

/**
 * Bounds the request bodies held at once by `budget`. Each body takes its bytes as they arrive, before
 * they are passed on to the parser, and gives them back when its answer is over: past what is left
 * of the budget it is cut, 503 with Retry-After, so slow uploaders cannot add up and other routes
 * (bodiless ones, small bodies once some is given back) keep answering. A declared Content-Length
 * larger than the whole budget is refused 413 before a byte is read. The bytes counted are the ones
 * received, not the ones declared: a client that sends headers declaring a large body and then
 * nothing holds nothing, so a few hundred such sockets cannot spend the budget and refuse every
 * sign-in. A refusal closes the connection: the rest of its body is not read. Registered on the
 * root, before any route, so every dialect's bodies share the one budget.
 */
export function boundRequestBodies(app: FastifyInstance, budget: RequestBodyBudget): void {
  app.addHook('preParsing', (request, reply, payload, done) => {
    const { headers } = request.raw;
    const declared = headers['content-length'];
    if (declared === undefined && headers['transfer-encoding'] === undefined) return done(null, payload);
    // Node's parser let only digits through.
    const length = declared === undefined ? null : Number(declared);
    if (length === 0) return done(null, payload);
    if (length !== null && length > budget.bytes) {
      void reply.header('connection', 'close');
      return done(tooLarge());
    }
    // The whole declared body received already (a small body comes with its headers: a sign-in's):
    // those bytes are taken at once and the parser reads the request itself. A CountedBody piped in
    // between cost each such request a stream, a pipe and a pass through both (about 2 % of the event
    // loop's CPU per argon2id login in a storm, perf); the bytes counted are still the ones received.
    if (length !== null && payload === request.raw && payload.readableLength >= length) {
      if (!budget.take(length)) {
        void reply.header('connection', 'close');
        return done(overBudget());
      }
      giveBackAtClose(reply, budget, () => length);
      return done(null, payload);
    }
    const counted = new CountedBody(budget);
    payload.on('error', (error) => counted.destroy(error));
    counted.on('error', () => {
      void reply.header('connection', 'close');
    });
    giveBackAtClose(reply, budget, () => counted.taken);
    done(null, payload.pipe(counted));
  });
}
