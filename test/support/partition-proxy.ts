import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';

export interface PartitionProxy {
  /** `host:port` to connect to in place of the target's. */
  readonly host: string;
  readonly port: number;
  /** Connections the proxy holds now (client sides). */
  readonly connections: number;
  /** Stops forwarding, both ways, on every connection and for new ones: no RST, no FIN, only silence. */
  partition(): void;
  /**
   * Lets the next bytes a client writes reach the target, then partitions: the statement runs (and
   * commits), its answer is held. The client cannot tell whether it ran.
   */
  partitionAfterNextWrite(): void;
  /** Forwards again: what was held back goes on, as TCP retransmits once a partition heals. */
  heal(): void;
  close(): Promise<void>;
}

/**
 * A TCP proxy in front of `target` that a test can partition silently, as a switch or a firewall
 * that drops packets does: bytes in both directions are held (not lost, not refused), connections
 * stay open, and a new connection is accepted (the kernel's handshake) but never reaches the
 * target. Nothing the client sees tells it the peer is gone; only its own bounds end its waits.
 * On heal, the bytes held go on in order, as TCP delivers them after a partition.
 */
export async function startPartitionProxy(target: { host: string; port: number }): Promise<PartitionProxy> {
  let partitioned = false;
  let armed = false;
  const resumes = new Set<() => void>();
  const sockets = new Set<Socket>();
  const clients = new Set<Socket>();

  /** Copies `from` to `to`, holding chunks while partitioned. */
  const pipe = (from: Socket, to: Socket, towardTarget: boolean) => {
    const held: Buffer[] = [];
    const flush = () => {
      for (const chunk of held.splice(0)) if (!to.destroyed) to.write(chunk);
    };
    resumes.add(flush);
    to.on('close', () => resumes.delete(flush));
    from.on('data', (chunk: Buffer) => {
      if (partitioned || held.length > 0) held.push(chunk);
      else {
        to.write(chunk);
        if (armed && towardTarget) [armed, partitioned] = [false, true];
      }
    });
    // An end or a reset crosses once the partition heals, after the bytes sent before it.
    const finish = (error?: Error) => {
      const close = () => {
        resumes.delete(close);
        flush();
        resumes.delete(flush);
        if (error) to.destroy();
        else to.end();
      };
      if (partitioned) resumes.add(close);
      else close();
    };
    from.on('end', () => finish());
    from.on('error', (error) => finish(error));
  };

  const server = createServer((client) => {
    sockets.add(client);
    clients.add(client);
    client.on('close', () => {
      sockets.delete(client);
      clients.delete(client);
    });
    const open = () => {
      resumes.delete(open);
      const upstream = connect(target.port, target.host);
      sockets.add(upstream);
      upstream.on('close', () => sockets.delete(upstream));
      pipe(client, upstream, true);
      pipe(upstream, client, false);
    };
    // A connection made during the partition reaches the target only once it heals.
    if (partitioned) {
      client.pause();
      resumes.add(() => {
        client.resume();
        open();
      });
    } else open();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  return {
    host: '127.0.0.1',
    port,
    get connections() {
      return clients.size;
    },
    partition() {
      partitioned = true;
    },
    partitionAfterNextWrite() {
      armed = true;
    },
    heal() {
      partitioned = false;
      armed = false;
      for (const resume of [...resumes]) resume();
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

/** The proxy in front of the server at `url` (a postgres:// URL with a host and port). */
export function startPartitionProxyTo(url: string): Promise<PartitionProxy> {
  const { hostname, port } = new URL(url);
  return startPartitionProxy({ host: hostname, port: Number(port || 5432) });
}

/** `url` (the same database, user and options) reached through `proxy`. */
export function partitionedUrl(url: string, proxy: PartitionProxy): string {
  const through = new URL(url);
  through.hostname = proxy.host;
  through.port = String(proxy.port);
  return through.toString();
}
