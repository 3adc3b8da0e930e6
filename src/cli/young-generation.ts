import { setFlagsFromString } from 'node:v8';

/**
 * V8 doubles its young generation (two semi-spaces) after a scavenge in which most objects survive,
 * as they do while modules load and the app is built, and keeps it: a start left it at 4 MiB
 * semi-spaces, 7 MiB of an idle server's RSS (78 → 71 MiB on an empty db.json, interleaved starts)
 * that no request had needed. So main.ts holds its growth before the program's modules load and
 * releases it once the command has started: a load of requests grows it again as far as it needs,
 * as before. An operator's own semi-space flags (NODE_OPTIONS, node's command line) are left alone.
 *
 * `--semi-space-growth-factor` is read at each growth, so setting it at run time takes effect; Node
 * keeps V8's flags writable for v8.setFlagsFromString.
 */
const SEMI_SPACE_FLAG = /^--(?:semi|max-semi|min-semi)[-_]space/;
/** V8's default growth factor, put back once started. */
const DEFAULT_GROWTH_FACTOR = 2;

const operatorChose = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((flag) =>
  SEMI_SPACE_FLAG.test(flag),
);
let held = false;

/** Keeps the young generation at its initial size (until released). */
export function holdYoungGeneration(): void {
  if (operatorChose || held) return;
  setFlagsFromString('--semi-space-growth-factor=1');
  held = true;
}

/** Lets the young generation grow again (once started). */
export function releaseYoungGeneration(): void {
  if (!held) return;
  setFlagsFromString(`--semi-space-growth-factor=${DEFAULT_GROWTH_FACTOR}`);
  held = false;
}
