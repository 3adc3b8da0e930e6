import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const repoRoot = join(import.meta.dirname, '..', '..');
const BUNDLE = join(repoRoot, 'dist', 'cli', 'main.js');

let checked = false;

/**
 * The `restauth` command as Node arguments: the bundle `npm run build` makes (`npm test` builds it first),
 * which is what users run. A start through tsx on the sources took 1.9 s of CPU, the bundle 0.3 s, and the
 * suite starts the command a few hundred times. A bundle older than a source file would test old code, so
 * that is refused with the command that fixes it.
 */
export function restauthCommand(): string[] {
  if (!checked) {
    const built = statSync(BUNDLE, { throwIfNoEntry: false })?.mtimeMs;
    const newer = sourcesNewerThan(built ?? 0);
    if (built === undefined || newer !== undefined) {
      throw new Error(
        `${BUNDLE} is ${built === undefined ? 'missing' : `older than ${newer}`}: run \`npm run build\``,
      );
    }
    checked = true;
  }
  return [BUNDLE];
}

/**
 * The first source the bundle is built from (src/, the build script) changed after `time`, if any. Only
 * .ts files: in the test mirror (scripts/test-build.mjs) each has a compiled .js beside it, made later.
 */
function sourcesNewerThan(time: number): string | undefined {
  const sources = readdirSync(join(repoRoot, 'src'), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => join(entry.parentPath, entry.name));
  sources.push(join(repoRoot, 'scripts', 'build.mjs'));
  return sources.find((file) => statSync(file).mtimeMs > time);
}
