/**
 * Whether this instance can serve: what `/ready` and GoTrue's `/health`
 * answer. Each store says what it depends on, each check as one word or
 * phrase a load balancer's log can show (never an error message, which may
 * name hosts or paths).
 */
/** Seconds a client is told to wait (Retry-After) while the store cannot serve. */
export const OUTAGE_RETRY_AFTER_SECONDS = 5;

export interface Readiness {
  ready: boolean;
  checks: Record<string, string>;
}

export type ReadinessProbe = () => Promise<Readiness>;

/** A report from checks that each answer 'ok' or what is wrong. */
export function readinessOf(checks: Record<string, string>): Readiness {
  return { ready: Object.values(checks).every((state) => state === 'ok'), checks };
}

/** The checks that fail, as "name: state" for a message. */
export function failingChecks(report: Readiness): string {
  return Object.entries(report.checks)
    .filter(([, state]) => state !== 'ok')
    .map(([name, state]) => `${name}: ${state}`)
    .join('; ');
}

/**
 * `probe`, run once at a time: a call while one runs gets that run's report. /ready and GoTrue's
 * /health answer anyone, unlimited, and each PostgreSQL probe runs a few catalogue queries on a pooled
 * connection: a flood of probes held as many of the pool's connections as it sent at once, the ones
 * sign-ins and refreshes wait for. Now it holds one. Nothing is kept after a run: each call after it
 * sees the store as it is then (a fault is reported at the next probe, not a cache's length later).
 */
export function oneProbeAtATime(probe: ReadinessProbe): ReadinessProbe {
  let running: Promise<Readiness> | null = null;
  return () => {
    running ??= probe().finally(() => {
      running = null;
    });
    return running;
  };
}
