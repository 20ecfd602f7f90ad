/**
 * Shared by the credentials e2e tests: a running `serve` child process, an IMDSv2 client, and (when executed as
 * `node credentials-support.js caller-identity <endpoint>`) the AWS SDK for JavaScript v3 with its default
 * credential provider chain, run in a child process so each test's AWS_* environment stays in that process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { CliResult } from '../helpers/sandbox.js';
import { cliPath, repoRoot } from '../helpers/paths.js';
import { reapChild } from '../helpers/reaper.js';

export const ASSUMED_ROLE = /^arn:aws:sts::111122223333:assumed-role\/iamra-agent-sandbox\/[0-9a-f]+$/;

export interface Serve {
  url: string;
  socket?: string;
  child: ChildProcess;
  /** stderr so far (JSON log lines) */
  log(): string;
  stop(): Promise<number | null>;
}

/**
 * Starts `iamra-agent serve ARGS` and resolves once it logs where it listens; `o.entry` runs another entry file of
 * the CLI (default the package's), with `o.nodeArgs` before it.
 */
export function startServe(args: string[], env: NodeJS.ProcessEnv, o: { nodeArgs?: string[]; entry?: string } = {}): Promise<Serve> {
  const argv = [...(o.nodeArgs ?? []), o.entry ?? cliPath, 'serve', '--log-format', 'json', ...args];
  const child = reapChild(spawn(process.execPath, argv, { env, stdio: ['ignore', 'ignore', 'pipe'] }));
  let err = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    return exited;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`serve did not start: ${err}`));
    }, 30_000);
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      for (const line of err.split('\n')) {
        if (!line.includes('"serving credentials"')) continue;
        const j = JSON.parse(line) as { url?: string; socket?: string };
        clearTimeout(timer);
        resolve({ url: j.url ?? '', ...(j.socket ? { socket: j.socket } : {}), child, log: () => err, stop });
        return;
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${code}): ${err}`));
    });
  });
}

export interface ImdsReply {
  status: number;
  text: string;
  json?: Record<string, string>;
}

/** The IMDSv2 dance an SDK does: PUT a token, list the role, GET its credentials. */
export async function imdsCredentials(base: string): Promise<ImdsReply> {
  const t = await fetch(new URL('/latest/api/token', base), { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' } });
  if (t.status !== 200) return { status: t.status, text: await t.text() };
  const token = await t.text();
  const listUrl = new URL('/latest/meta-data/iam/security-credentials/', base);
  const list = await fetch(listUrl, { headers: { 'X-aws-ec2-metadata-token': token } });
  const role = (await list.text()).trim();
  const r = await fetch(new URL(role, listUrl), { headers: { 'X-aws-ec2-metadata-token': token } });
  const text = await r.text();
  let json: Record<string, string> | undefined;
  try {
    json = JSON.parse(text) as Record<string, string>;
  } catch {
    json = undefined;
  }
  return { status: r.status, text, ...(json ? { json } : {}) };
}

/** `sts get-caller-identity` through the JS SDK's default chain, in a child process with exactly `env`. */
export function sdkCallerIdentity(endpoint: string, env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const script = path.join(repoRoot, 'dist', 'test', 'e2e', 'credentials-support.js');
    const child = spawn(process.execPath, [script, 'caller-identity', endpoint], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

// Executed as a script (not when imported, nor when `node --test` loads every file under dist/test).
if (process.argv[2] === 'caller-identity' && process.argv[3]) {
  const client = new STSClient({ endpoint: process.argv[3], region: process.env.AWS_REGION ?? 'us-east-1' });
  const r = await client.send(new GetCallerIdentityCommand({}));
  process.stdout.write(JSON.stringify({ Arn: r.Arn, Account: r.Account }) + '\n');
}
