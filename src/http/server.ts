import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { DocumentStore } from '../core/ports/documents.js';
import { resolveJwtSecret } from '../config/secret.js';
import { createServices } from '../compose.js';
import { buildApp } from './app.js';
import { createLogger, formatOf, serviceLogger } from './logging.js';
import { resourceBanner, resourceNames } from '../data/banner.js';
import { listenMetrics, type MetricsServer } from './metrics.js';

export interface RunningServer {
  url: string;
  /** Where the metrics are served when they have a port of their own (metrics.port). */
  metricsUrl: string | null;
  /** The data API's document (db.json in file mode), null when there is none. */
  documents: DocumentStore | null;
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
  const logSettings = {
    level: config.logLevel,
    format: config.logFormat,
    jsonServerStyle: config.source === 'json-data-server',
  };
  const log = options.log ?? createLogger(logSettings);
  // Start-up messages (generated secret, reloaded files) go through the same logger as requests.
  const lines = serviceLogger(log);
  const resolved = await resolveJwtSecret(config, lines);
  const services = await createServices(resolved, lines);
  const app = await buildApp(services, { logger: log });
  let metricsServer: MetricsServer | null = null;
  // In dependency order: the HTTP server (no new request, every one in flight over or past its bound),
  // then the metrics port, then the services (background work, mail, stores, hashing threads).
  const close = async () => {
    try {
      await app.close();
    } finally {
      await metricsServer?.close();
      await services.close();
    }
  };
  try {
    const url = await app.listen({ port: config.port, host: config.host });
    if (services.documents && config.data.enabled && config.store.type === 'file') {
      // json-server listed its resources once it listened: on its terminal as it did, else as one line.
      const { data } = services.documents;
      if (formatOf(logSettings, process.stdout.isTTY === true) === 'json-server')
        log.info(resourceBanner(url, data, config.data.routes));
      else log.info({ resources: resourceNames(data) }, `data API: ${resourceNames(data).length} resources`);
    }
    const { metrics } = services;
    if (metrics && config.metrics.port !== null) {
      const host = config.metrics.host ?? config.host;
      const { requestTimeout, keepAliveTimeout, maxConnections, answerMinRate, requestHeaderBudget } = config;
      const bounds = {
        requestTimeout,
        keepAliveTimeout,
        maxConnections,
        answerMinRate,
        requestHeaderBudget,
        warn: (line: string) => log.warn(line),
      };
      metricsServer = await listenMetrics(metrics, host, config.metrics.port, bounds).catch(
        (error: unknown) => {
          // Named as the metrics' port: the caller's messages about `port` mean the main one.
          throw new Error(
            `metrics.port ${config.metrics.port}: cannot listen on ${host}: ${(error as Error).message}`,
          );
        },
      );
      log.info(`metrics at ${metricsServer.url}`);
    }
    return {
      url,
      metricsUrl: metricsServer?.url ?? null,
      documents: services.documents,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
