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
