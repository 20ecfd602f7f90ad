/**
 * `npm run bench -- enrol [--runs N] [--lego-poll S]`: wall time of one enrolment, the agent vs lego, against one
 * `sandbox up` (same Pebble, same Route 53 stand-in, same INSYNC delay, same DNS-01 name and least-privilege key).
 *
 * - agent: the built CLI as a cold process, `bootstrap --force` (account already registered: a warm-up run first).
 * - lego: Debian's lego 4.9.1 `run` with its route53 provider (a warm-up run registers its account first). lego v5
 *   cannot be installed here — the Go module proxy refuses it — so v4.9.1 reaches the stand-in through the
 *   intercepting HTTPS proxy of test/helpers/lego.ts. Its GetChange polling interval is set to --lego-poll seconds
 *   (default 1; lego's own default is 4), and its propagation self-check is off (the agent's stays on).
 *
 * Runs alternate (agent, lego, agent, …) so drift on the shared machine hits both alike. Goal: agent ≤ ½ × lego.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { E2eSandbox } from '../helpers/sandbox.js';
import { dnsUserCredentials, enrolSandbox, grantPrintedPolicy } from '../helpers/enrol.js';
import { interceptingProxy, legoRun, type InterceptingProxy } from '../helpers/lego.js';

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
  const legoPoll = flag(args, 'lego-poll', 1);
  let sb: E2eSandbox | undefined;
  let proxy: InterceptingProxy | undefined;
  try {
    sb = await enrolSandbox();
    await grantPrintedPolicy(sb, sb.info.name);
    proxy = await interceptingProxy(sb.dir, new URL(sb.info.awsUrl));
    const legoDir = path.join(sb.dir, 'lego-home');
    mkdirSync(legoDir);
    const s = sb;
    const p = proxy;
    const agent = async (): Promise<number> => {
      const t = performance.now();
      const r = await s.cli(['bootstrap', '--force']);
      const ms = performance.now() - t;
      if (r.code !== 0) throw new Error(`agent bootstrap failed: ${r.stderr}`);
      return ms;
    };
    const lego = async (): Promise<number> => {
      const r = await legoRun({
        dir: legoDir,
        directoryUrl: s.info.directoryUrl,
        acmeCaPath: path.join(s.dir, 'pebble', 'tls-ca.pem'),
        proxy: p,
        dnsServer: s.info.dnsServer,
        domain: s.info.name,
        credentials: dnsUserCredentials(s),
        hostedZoneId: s.info.zoneId,
        pollingIntervalSec: legoPoll,
      });
      if (r.code !== 0) throw new Error(`lego failed: ${r.stderr}`);
      return r.ms;
    };
    process.stdout.write(`enrol bench: ${runs} runs each against sandbox ${sb.dir} (INSYNC delay 500 ms; lego GetChange poll ${legoPoll} s)\n`);
    await agent();
    await lego();
    const a: number[] = [];
    const l: number[] = [];
    for (let i = 0; i < runs; i++) {
      a.push(await agent());
      l.push(await lego());
      process.stdout.write(`  run ${i + 1}: agent ${a[i]!.toFixed(0)} ms, lego ${l[i]!.toFixed(0)} ms\n`);
    }
    const ma = median(a);
    const ml = median(l);
    const ratio = ma / ml;
    process.stdout.write(
      `median: agent ${ma.toFixed(0)} ms, lego 4.9.1 ${ml.toFixed(0)} ms, ratio agent/lego ${ratio.toFixed(2)} (goal ≤ 0.50: ${ratio <= 0.5 ? 'met' : 'NOT met'})\n`,
    );
  } finally {
    await proxy?.close();
    await sb?.stop();
  }
}
