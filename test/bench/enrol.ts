/**
 * `npm run bench -- enrol [--runs N]`: wall time of one enrolment, the agent vs lego v5, against one `sandbox up`
 * (same Pebble, same Route 53 stand-in, same INSYNC delay, same DNS-01 name and least-privilege key).
 *
 * - agent: the built CLI as a cold process, `bootstrap --force` (account already registered: a warm-up run first).
 * - lego v5.6.0 (test/peers/lego5, its route53 provider via AWS_ENDPOINT_URL_ROUTE_53) as a cold process, twice per
 *   round: at lego's defaults (PollingInterval 4 s, which is both its GetChange interval and its wait before each
 *   propagation check) and with PollingInterval set to the agent's dns.pollInterval. It registers a fresh account
 *   per run (one request; its registerMs is printed). Both check propagation at the sandbox's DNS server only.
 *
 * Runs alternate (agent, lego default, lego at the agent's interval, …) so drift on the shared machine hits all alike.
 * Prints both ratios agent/lego. Goal: agent ≤ ½ × lego at lego's defaults.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parseDurationMs } from '../../src/config/schema.js';
import type { E2eSandbox } from '../helpers/sandbox.js';
import { dnsUserCredentials, enrolSandbox, grantPrintedPolicy } from '../helpers/enrol.js';
import { lego5Run } from '../helpers/lego5.js';

function flag(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(`--${name}`);
  const v = i >= 0 ? Number(args[i + 1]) : dflt;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
  return v;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export default async function enrolBench(args: string[]): Promise<void> {
  const runs = flag(args, 'runs', 10);
  let sb: E2eSandbox | undefined;
  try {
    sb = await enrolSandbox();
    await grantPrintedPolicy(sb, sb.info.name);
    const s = sb;
    const cfg = parseYaml(readFileSync(path.join(s.dir, 'agent.yaml'), 'utf8')) as { dns: { pollInterval: string } };
    const agentPollMs = parseDurationMs(String(cfg.dns.pollInterval))!;
    const legoDir = path.join(s.dir, 'lego-home');
    mkdirSync(legoDir);
    const agent = async (): Promise<number> => {
      const t = performance.now();
      const r = await s.cli(['bootstrap', '--force']);
      const ms = performance.now() - t;
      if (r.code !== 0) throw new Error(`agent bootstrap failed: ${r.stderr}`);
      return ms;
    };
    const lego = async (pollingIntervalMs?: number): Promise<number> => {
      const r = await lego5Run({
        dir: legoDir,
        directoryUrl: s.info.directoryUrl,
        acmeCaPath: path.join(s.dir, 'pebble', 'tls-ca.pem'),
        dnsServer: s.info.dnsServer,
        route53Url: s.info.awsUrl,
        domains: [s.info.name],
        credentials: dnsUserCredentials(s),
        hostedZoneId: s.info.zoneId,
        certPath: path.join(legoDir, 'cert.pem'),
        ...(pollingIntervalMs === undefined ? {} : { pollingIntervalMs }),
        timeoutMs: 180_000,
      });
      if (r.code !== 0) throw new Error(`lego failed: ${r.stderr}`);
      return r.ms;
    };
    process.stdout.write(
      `enrol bench: ${runs} runs each against sandbox ${s.dir} (INSYNC delay 500 ms; agent dns.pollInterval ${agentPollMs} ms; lego v5.6.0 at its default PollingInterval 4 s and at ${agentPollMs} ms)\n`,
    );
    await agent();
    const a: number[] = [];
    const ld: number[] = [];
    const lp: number[] = [];
    for (let i = 0; i < runs; i++) {
      a.push(await agent());
      ld.push(await lego());
      lp.push(await lego(agentPollMs));
      process.stdout.write(
        `  run ${i + 1}: agent ${a[i]!.toFixed(0)} ms, lego default ${ld[i]!.toFixed(0)} ms, lego at ${agentPollMs} ms ${lp[i]!.toFixed(0)} ms\n`,
      );
    }
    const ma = median(a);
    const mld = median(ld);
    const mlp = median(lp);
    const r1 = ma / mld;
    const r2 = ma / mlp;
    process.stdout.write(
      `median: agent ${ma.toFixed(0)} ms, lego v5 default ${mld.toFixed(0)} ms, lego v5 at the agent's interval ${mlp.toFixed(0)} ms\n` +
        `ratio agent/lego (lego's defaults): ${r1.toFixed(2)} (goal ≤ 0.50: ${r1 <= 0.5 ? 'met' : 'NOT met'})\n` +
        `ratio agent/lego (PollingInterval ${agentPollMs} ms): ${r2.toFixed(2)}\n`,
    );
  } finally {
    await sb?.stop();
  }
}
