import type { Answer } from 'dns-packet';

/**
 * Record data in presentation format (RFC 1035 §5.1, as Route 53 stores it) -> dns-packet answers.
 */

/**
 * TXT/SPF values: one or more quoted character-strings (RFC 1035 §3.3.14), at most 255 octets each. Route 53 escapes
 * octets as \ooo in octal (not RFC 1035's decimal): https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/ResourceRecordTypes.html#TXTFormat
 */
export function parseCharacterStrings(value: string): string[] | undefined {
  const out: string[] = [];
  const re = /\s*"((?:[^"\\]|\\.)*)"\s*/y;
  let pos = 0;
  while (pos < value.length) {
    re.lastIndex = pos;
    const m = re.exec(value);
    if (!m) return undefined;
    out.push(m[1]!.replace(/\\([0-7]{3})|\\(.)/g, (_x, o: string | undefined, c: string | undefined) => (o ? String.fromCharCode(parseInt(o, 8)) : c!)));
    pos = re.lastIndex;
  }
  return out.length ? out : undefined;
}

const host = (s: string) => s.replace(/\.$/, '');

/** The answers for one record set, owner `name` (as the client asked it); undefined for types this server does not encode. */
export function toAnswers(name: string, type: string, ttl: number, values: string[]): Answer[] | undefined {
  const base = { name, ttl, class: 'IN' as const };
  const fields = (v: string) => v.trim().split(/\s+/);
  switch (type) {
    case 'A':
    case 'AAAA':
      return values.map((v) => ({ ...base, type, data: v }));
    case 'NS':
    case 'CNAME':
    case 'PTR':
      return values.map((v) => ({ ...base, type, data: host(v) }));
    case 'TXT':
      return values.map((v) => ({ ...base, type: 'TXT' as const, data: (parseCharacterStrings(v) ?? [v]).map((s) => Buffer.from(s, 'latin1')) }));
    case 'MX':
      return values.map((v) => {
        const [pref, exchange] = fields(v);
        return { ...base, type, data: { preference: Number(pref), exchange: host(exchange ?? '') } };
      });
    case 'SRV':
      return values.map((v) => {
        const [priority, weight, port, target] = fields(v);
        return { ...base, type, data: { priority: Number(priority), weight: Number(weight), port: Number(port), target: host(target ?? '') } };
      });
    case 'SOA':
      return values.map((v) => {
        const [mname, rname, serial, refresh, retry, expire, minimum] = fields(v);
        return {
          ...base,
          type,
          data: {
            mname: host(mname ?? ''),
            rname: host(rname ?? ''),
            serial: Number(serial),
            refresh: Number(refresh),
            retry: Number(retry),
            expire: Number(expire),
            minimum: Number(minimum),
          },
        };
      });
    case 'CAA':
      return values.map((v) => {
        const m = /^\s*(\d+)\s+(\S+)\s+"?(.*?)"?\s*$/.exec(v);
        return { ...base, type, data: { flags: Number(m?.[1] ?? 0), tag: (m?.[2] ?? 'issue') as 'issue', value: m?.[3] ?? '' } };
      });
    default:
      return undefined;
  }
}
