import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { connect, type AddressInfo, type Socket } from 'node:net';

export interface ConnectProxy {
  /** What nodemailer's `proxy` option names. */
  url: string;
  /** Each tunnel's target, `host:port`, in the order asked. */
  tunnels: string[];
  server: Server;
  /** Resolves when the next tunnel's client side (restauth's connection to the proxy) closes. */
  clientClosed(): Promise<void>;
  close(): void;
}

/**
 * An HTTP CONNECT proxy (what nodemailer's `proxy: "http://..."` speaks) that records each tunnel.
 * With `stallAfterMail`, it stalls once a tunnel carried a whole mail (the `.` that ends SMTP's
 * DATA): the server's answers go no further, as a proxy hung half-way holds them. With `tls` (its
 * key and certificate), an https proxy: CONNECT is spoken in TLS.
 */
export async function startConnectProxy(
  options: { stallAfterMail?: boolean; tls?: { key: string; cert: string } } = {},
): Promise<ConnectProxy> {
  const tunnels: string[] = [];
  const sockets = new Set<Socket>();
  let onClientClose: () => void = () => {};
  const server: Server = options.tls ? createTlsServer(options.tls) : createServer();
  server.on('connect', (request, client: Socket, head: Buffer) => {
    tunnels.push(request.url ?? '');
    const [host, port] = (request.url ?? '').split(':');
    const upstream = connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection established\r\n\r\n');
      upstream.write(head);
      let stalled = false;
      let sent = '';
      client.on('data', (chunk: Buffer) => {
        upstream.write(chunk);
        // The last bytes are enough to see the end of DATA across chunks.
        sent = (sent + chunk.toString('latin1')).slice(-5);
        if (options.stallAfterMail && sent === '\r\n.\r\n') stalled = true;
      });
      upstream.on('data', (chunk: Buffer) => {
        if (!stalled) client.write(chunk);
      });
      client.once('end', () => upstream.end());
      upstream.once('end', () => client.end());
    });
    client.once('close', () => onClientClose());
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.once('close', () => sockets.delete(socket));
    }
  });
  server.on('close', () => sockets.forEach((socket) => socket.destroy()));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`,
    tunnels,
    server,
    clientClosed: () => new Promise<void>((resolve) => (onClientClose = resolve)),
    close: () => {
      server.close();
      server.closeAllConnections();
    },
  };
}
