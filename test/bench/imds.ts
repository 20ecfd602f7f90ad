/**
 * `npm run bench -- imds [--runs N] [--seconds S] [--connections C]`: requests/s of the IMDSv2 credentials GET
 * (the request every SDK refresh makes) on `startImdsServer`, against a bare node:http server answering the same
 * path with a body of the same size: the difference is the per-request cost of the IMDS routes (Host check, token
 * MAC, provider call, JSON). Load from wrk (Debian `wrk`, installed by test/setup/install.sh), one thread, in its
 * own process, keep-alive; the two servers alternate (A B A B) and the ratio is the median of the per-pair ratios.
 * On a shared machine req/s mostly measures who got the CPU, so the server's own CPU time per request (utime +
 * stime from /proc/PID/stat over the run, divided by the requests wrk counted) is printed too: it is the steadier
 * figure.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const WRK = '/usr/bin/wrk';
const CREDS = '/latest/meta-data/iam/security-credentials/app';

async function startServer(kind: 'imds' | 'bare'): Promise<{ url: string; token: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [path.join(here, 'imds-server.js'), kind], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
    child.once('exit', (c) => reject(new Error(`${kind} server exited (${c})`)));
  });
  const [url, token] = line.split(' ') as [string, string];
  return { url, token, child };
}

/** user + system CPU time of a process so far, in microseconds (fields 14 and 15 of /proc/PID/stat, in clock ticks) */
function cpuMicros(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
    .replace(/^.*\) /, '')
    .split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100; // USER_HZ is 100 on Linux
}

interface Run {
  rps: number;
  cpuUsPerReq: number;
}

async function measure(server: { url: string; token: string; child: ChildProcess }, seconds: number, connections: number): Promise<Run> {
  const before = cpuMicros(server.child.pid!);
  const { rps, requests } = await wrk(server.url, server.token, seconds, connections);
  return { rps, cpuUsPerReq: (cpuMicros(server.child.pid!) - before) / requests };
}

function wrk(url: string, token: string, seconds: number, connections: number): Promise<{ rps: number; requests: number }> {
  return new Promise((resolve, reject) => {
    const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '-H', `X-aws-ec2-metadata-token: ${token}`, new URL(CREDS, url).href];
    const child = spawn(WRK, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', () => {
      const m = /Requests\/sec:\s+([\d.]+)/.exec(out);
      const n = /(\d+) requests in/.exec(out);
      if (/Non-2xx/.test(out) || !m || !n) reject(new Error(`wrk: ${out}`));
      else resolve({ rps: Number(m[1]), requests: Number(n[1]) });
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export default async function (args: string[]): Promise<void> {
  const o = { runs: 5, seconds: 5, connections: 16 };
  for (let i = 0; i < args.length; i += 2) {
    const k = args[i]?.replace(/^--/, '') as keyof typeof o;
    const v = Number(args[i + 1]);
    if (!(k in o) || !Number.isInteger(v) || v < 1) throw new Error(`bench imds: bad option ${args[i]} ${args[i + 1]}`);
    o[k] = v;
  }
  const imds = await startServer('imds');
  const bare = await startServer('bare');
  try {
    const a: Run[] = [];
    const b: Run[] = [];
    for (let r = 0; r < o.runs; r++) {
      a.push(await measure(imds, o.seconds, o.connections));
      b.push(await measure(bare, o.seconds, o.connections));
    }
    const line = (name: string, runs: Run[]) =>
      `  ${name}  median ${median(runs.map((x) => x.rps)).toFixed(0)} req/s (${runs.map((x) => x.rps.toFixed(0)).join(' ')}), ` +
      `server CPU ${median(runs.map((x) => x.cpuUsPerReq)).toFixed(1)} µs/request\n`;
    process.stdout.write(
      `IMDS credentials GET, ${o.connections} connections, ${o.runs}×${o.seconds}s each\n` +
        line('startImdsServer', a) +
        line('bare node:http ', b) +
        `  ratio imds/bare  req/s median ${median(a.map((x, i) => x.rps / b[i]!.rps)).toFixed(2)}, ` +
        `CPU/request median ${median(a.map((x, i) => x.cpuUsPerReq / b[i]!.cpuUsPerReq)).toFixed(2)}\n`,
    );
  } finally {
    imds.child.kill();
    bare.child.kill();
  }
}
