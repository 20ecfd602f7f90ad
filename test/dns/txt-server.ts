import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';

/**
 * A tiny authoritative TXT server for tests (UDP + TCP on one 127.0.0.1 ephemeral port). `records` is live: tests
 * change it while a waiter polls. Modes: truncate UDP (TC bit, no answers) to force the TCP retry; drop UDP;
 * answer REFUSED.
 */
export interface TxtServer {
  port: number;
  address: string;
  records: Map<string, string[][]>;
  mode: { udp: 'answer' | 'truncate' | 'drop' | 'refuse' };
  counts: { udp: number; tcp: number };
  close(): Promise<void>;
}

export async function startTxtServer(): Promise<TxtServer> {
  const records = new Map<string, string[][]>();
  const mode: TxtServer['mode'] = { udp: 'answer' };
  const counts = { udp: 0, tcp: 0 };
  const reply = (q: dnsPacket.DecodedPacket, truncate: boolean, refuse: boolean): dnsPacket.Packet => {
    const question = q.questions![0]!;
    const name = question.name.toLowerCase();
    const sets = records.get(name);
    const rcode = refuse ? 5 : sets === undefined ? 3 : 0;
    return {
      type: 'response',
      id: q.id ?? 0,
      flags: dnsPacket.AUTHORITATIVE_ANSWER | (truncate ? dnsPacket.TRUNCATED_RESPONSE : 0) | rcode,
      questions: [question],
      answers: truncate || refuse || question.type !== 'TXT' ? [] : (sets ?? []).map((data) => ({ type: 'TXT' as const, name: question.name, ttl: 10, data })),
    };
  };

  const onMessage = (udp: dgram.Socket) => (msg: Buffer, rinfo: dgram.RemoteInfo) => {
    counts.udp++;
    if (mode.udp === 'drop') return;
    const q = dnsPacket.decode(msg);
    udp.send(dnsPacket.encode(reply(q, mode.udp === 'truncate', mode.udp === 'refuse')), rinfo.port, rinfo.address);
  };

  const sockets = new Set<net.Socket>();
  const onConnection = (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    let buf = Buffer.alloc(0);
    s.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
      counts.tcp++;
      const q = dnsPacket.decode(buf.subarray(2, 2 + buf.readUInt16BE(0)));
      s.end(dnsPacket.streamEncode(reply(q, false, false)));
    });
    s.on('error', () => undefined);
  };

  // One port number for both transports, as a real nameserver has: UDP takes an ephemeral port (bound, never
  // released), then TCP binds the same number. Another process may hold that TCP port: close both and try a new
  // pair (bounded), so a busy machine never fails with EADDRINUSE and a failed start leaves no socket open.
  const { udp, tcp, port } = await (async () => {
    let last: unknown;
    for (let attempt = 0; attempt < 20; attempt++) {
      const u = dgram.createSocket('udp4');
      u.on('message', onMessage(u));
      await new Promise<void>((resolve) => u.bind(0, '127.0.0.1', resolve));
      const p = u.address().port;
      const t = net.createServer(onConnection);
      try {
        await new Promise<void>((resolve, reject) => {
          t.once('error', reject);
          t.listen(p, '127.0.0.1', () => {
            t.off('error', reject);
            resolve();
          });
        });
        return { udp: u, tcp: t, port: p };
      } catch (e) {
        last = e;
        await new Promise<void>((r) => u.close(() => r()));
      }
    }
    throw last;
  })();

  return {
    port,
    address: `127.0.0.1:${port}`,
    records,
    mode,
    counts,
    close: async () => {
      for (const s of sockets) s.destroy();
      await Promise.all([new Promise<void>((r) => udp.close(() => r())), new Promise<void>((r) => tcp.close(() => r()))]);
    },
  };
}
