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

  const udp = dgram.createSocket('udp4');
  udp.on('message', (msg, rinfo) => {
    counts.udp++;
    if (mode.udp === 'drop') return;
    const q = dnsPacket.decode(msg);
    udp.send(dnsPacket.encode(reply(q, mode.udp === 'truncate', mode.udp === 'refuse')), rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
  const port = udp.address().port;

  const sockets = new Set<net.Socket>();
  const tcp = net.createServer((s) => {
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
  });
  // The same port number for TCP, as a real nameserver has; if it is taken, the test fails loudly.
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(port, '127.0.0.1', resolve);
  });

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
