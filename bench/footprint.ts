/**
 * Start-up time and memory in file mode, beside json-server 0.17.4 on the
 * same db.json: the time from spawning the process to its first HTTP answer,
 * its resident memory (VmRSS) once it has idled for a second, then what is
 * left after full collections (forced through footprint-probe.mjs, preloaded
 * with --expose-gc into both servers): the V8 heap used, the memory outside
 * it (external, array buffers included) and the RSS. The RSS at one second
 * carries whatever garbage V8's last collection left, which swings with when
 * that collection ran; the heap after a full collection is the stable figure.
 * restauth runs as built (bundled into a temp folder, as `npm run build`
 * makes dist/): what a user starts, without tsx compiling TypeScript at each
 * start. Three data sets: an empty db.json, 10,000 posts, and 50,000 users
 * (db.json and credentials.json as the file-store bench seeds them). Rounds
 * interleave the servers; the figures are medians. BENCH_ROUNDS sets the
 * rounds (5).
 */
import { execFile, spawn } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import bcrypt from 'bcrypt';
import { seed } from './file-store.js';
import { freePort, stopProcess, table } from './support.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const repoRoot = join(import.meta.dirname, '..');
const probe = pathToFileURL(join(import.meta.dirname, 'footprint-probe.mjs')).href;

/** What footprint-probe.mjs reports after full collections. */
interface Collected {
  heapUsedMiB: number;
  heapCommittedMiB: number;
  externalMiB: number;
  arrayBuffersMiB: number;
  rssMiB: number;
}

interface DataSet {
  name: string;
  files(): Promise<Record<string, string>>;
}

const dataSets: DataSet[] = [
  { name: 'empty db.json', files: async () => ({ 'db.json': '{}\n' }) },
  {
    name: '10,000 posts',
    files: async () => ({
      'db.json': JSON.stringify({
        posts: Array.from({ length: 10_000 }, (_, i) => ({
          id: i + 1,
          title: `Post number ${i + 1}`,
          author: `author${i % 97}`,
          views: i % 1000,
          body: 'Lorem ipsum dolor sit amet, consectetur adipiscing elit.',
        })),
      }),
    }),
  },
  {
    name: '50,000 users',
    files: async () => {
      const { data, credentials } = seed(50_000, await bcrypt.hash('bench-password', 4));
      return { 'db.json': data, 'credentials.json': credentials };
    },
  },
];

interface Target {
  name: string;
  /** The command line, after node, that serves db.json in the current folder on `port`. */
  args(port: number): string[];
}

/** restauth built as `npm run build` builds it (scripts/build.mjs), in a folder of its own beside a package.json. */
async function buildRestauth(): Promise<{ main: string; remove(): Promise<void> }> {
  const folder = await mkdtemp(join(tmpdir(), 'restauth-footprint-build-'));
  await promisify(execFile)(process.execPath, [join(repoRoot, 'scripts/build.mjs'), join(folder, 'dist')], {
    cwd: repoRoot,
  });
  await copyFile(join(repoRoot, 'package.json'), join(folder, 'package.json'));
  await symlink(join(repoRoot, 'node_modules'), join(folder, 'node_modules'));
  return {
    main: join(folder, 'dist/cli/main.js'),
    remove: () => rm(folder, { recursive: true, force: true }),
  };
}

/** Spawns, waits for the first answer (any status), idles a second, reads VmRSS, collects, reads again, stops. */
async function measure(target: Target, files: Record<string, string>) {
  const dir = await mkdtemp(join(tmpdir(), 'restauth-footprint-'));
  try {
    for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
    const port = await freePort();
    const started = performance.now();
    const child = spawn(process.execPath, ['--expose-gc', '--import', probe, ...target.args(port)], {
      cwd: dir,
      // Request logs at warn, as json-server's terminal lines are a few per start.
      env: { ...process.env, RESTAUTH_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    let reported: (figures: Collected) => void = () => {};
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const line = /^footprint-probe (.*)$/m.exec(stderr);
      if (line) reported(JSON.parse(line[1]!) as Collected);
    });
    try {
      let listening: number | null = null;
      while (listening === null) {
        if (child.exitCode !== null) throw new Error(`${target.name} exited (${child.exitCode}): ${stderr}`);
        if (performance.now() - started > 60_000) throw new Error(`${target.name} did not start: ${stderr}`);
        try {
          await fetch(`http://127.0.0.1:${port}/`);
          listening = performance.now() - started;
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
      const rssMiB = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]) / 1024;
      const collected = new Promise<Collected>((resolve) => (reported = resolve));
      child.kill('SIGWINCH');
      return { startMs: listening, rssMiB, collected: await collected };
    } finally {
      await stopProcess(child);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export async function runFootprintBench(): Promise<void> {
  console.log(
    `\n## Footprint in file mode: start to listening and idle RSS beside json-server 0.17.4 ` +
      `(medians of ${ROUNDS} interleaved rounds)\n`,
  );
  const built = await buildRestauth();
  const targets: Target[] = [
    { name: 'restauth', args: (port) => [built.main, 'db.json', '--port', String(port)] },
    {
      name: 'json-server 0.17.4',
      args: (port) => [
        join(repoRoot, 'node_modules/json-server/lib/cli/bin.js'),
        'db.json',
        '--port',
        String(port),
        '--quiet',
      ],
    },
  ];
  try {
    const rows: Array<Record<string, string>> = [];
    const collectedRows: Array<Record<string, string>> = [];
    for (const dataSet of dataSets) {
      const files = await dataSet.files();
      const samples = new Map(
        targets.map((target) => [
          target.name,
          { startMs: [] as number[], rss: [] as number[], collected: [] as Collected[] },
        ]),
      );
      for (let round = 0; round < ROUNDS; round++) {
        for (const target of targets) {
          const { startMs, rssMiB, collected } = await measure(target, files);
          samples.get(target.name)!.startMs.push(startMs);
          samples.get(target.name)!.rss.push(rssMiB);
          samples.get(target.name)!.collected.push(collected);
        }
      }
      const ours = samples.get('restauth')!;
      const peer = samples.get('json-server 0.17.4')!;
      rows.push({
        'data set': dataSet.name,
        'restauth start ms': median(ours.startMs).toFixed(0),
        'json-server start ms': median(peer.startMs).toFixed(0),
        'start ×': (median(ours.startMs) / median(peer.startMs)).toFixed(2),
        'restauth RSS MiB': median(ours.rss).toFixed(1),
        'json-server RSS MiB': median(peer.rss).toFixed(1),
        'RSS ×': (median(ours.rss) / median(peer.rss)).toFixed(2),
      });
      const after = (of: Collected[], figure: keyof Collected) => median(of.map((c) => c[figure]));
      collectedRows.push({
        'data set': dataSet.name,
        'restauth heap MiB': after(ours.collected, 'heapUsedMiB').toFixed(1),
        'json-server heap MiB': after(peer.collected, 'heapUsedMiB').toFixed(1),
        'heap ×': (after(ours.collected, 'heapUsedMiB') / after(peer.collected, 'heapUsedMiB')).toFixed(2),
        'restauth external MiB': after(ours.collected, 'externalMiB').toFixed(1),
        'json-server external MiB': after(peer.collected, 'externalMiB').toFixed(1),
        'restauth RSS MiB': after(ours.collected, 'rssMiB').toFixed(1),
        'json-server RSS MiB': after(peer.collected, 'rssMiB').toFixed(1),
        'RSS ×': (after(ours.collected, 'rssMiB') / after(peer.collected, 'rssMiB')).toFixed(2),
      });
    }
    console.log(table(rows));
    console.log('\nAfter full collections (heap used, memory outside the heap, RSS):\n');
    console.log(table(collectedRows));
  } finally {
    await built.remove();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await runFootprintBench();
