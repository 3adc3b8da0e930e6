import type { FastifyRequest } from 'fastify';
import type { Client } from '../core/audit.js';
import { clientAddress } from './rate-limit.js';

/** Who sent this request, as the use cases it calls record it in the audit log. */
export function clientOf(request: FastifyRequest): Client {
  return { ip: clientAddress(request) };
}
