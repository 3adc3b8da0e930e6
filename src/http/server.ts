import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { resolveJwtSecret } from '../config/secret.js';
import { createServices } from '../compose.js';
import { buildApp } from './app.js';
import { createLogger, serviceLogger } from './logging.js';
import { currentRequestContext } from './request-context.js';

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

export interface StartOptions {
  /** The logger to write to; default: one made from the config's logLevel and logFormat. */
  log?: Logger;
}

/**
 * Starts restauth on the configured host and port. Throws an Error with
 * `code === 'EADDRINUSE'` when the port is taken, and the store's own error
 * when another restauth already holds the data files.
 */
export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  const log = options.log ?? createLogger({ level: config.logLevel, format: config.logFormat });
  // Start-up messages (generated secret, reloaded files) go through the same logger as requests.
  const lines = serviceLogger(log);
  const resolved = await resolveJwtSecret(config, lines);
  const services = await createServices(resolved, lines, { requestContext: currentRequestContext });
  const app = await buildApp(services, { logger: log });
  app.addHook('onClose', async () => services.close());
  try {
    const url = await app.listen({ port: config.port, host: config.host });
    return { url, close: () => app.close() };
  } catch (error) {
    await app.close();
    throw error;
  }
}
