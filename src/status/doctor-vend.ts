import { constants, promises as fsp } from 'node:fs';
import http from 'node:http';
import { formatError } from '../core/errors.js';
import { type DoctorOutcome, fail, ok, warn } from './doctor.js';

/**
 * doctor's vending checks: `serve` answers as an IMDSv2 client sees it (token PUT, role listing, credentials GET),
 * and `update`'s shared credentials file is there, private and fresh. Neither prints a secret: the evidence names
 * the role and the expiry only.
 */

export type ServeTarget = { socket: string } | { host: string; port: number };

const SERVE_UNIT = 'iamra-agent-serve.service';
const START_SERVE = `systemctl start ${SERVE_UNIT} (journalctl -u ${SERVE_UNIT} says why it stopped), or run iamra-agent serve`;

interface Reply {
  status: number;
  body: string;
}

function request(t: ServeTarget, method: string, path: string, headers: Record<string, string>, timeoutMs: number): Promise<Reply> {
  return new Promise((resolve, reject) => {
    // Host: localhost is accepted on TCP and on the socket (serve refuses other names: DNS rebinding)
    const where = 'socket' in t ? { socketPath: t.socket } : { host: t.host, port: t.port };
    const req = http.request({ ...where, method, path, timeout: timeoutMs, headers: { host: 'localhost', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

export function describeTarget(t: ServeTarget): string {
  return 'socket' in t ? `unix socket ${t.socket}` : `${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}`;
}

const CREDS = '/latest/meta-data/iam/security-credentials/';

/** The IMDSv2 exchange an AWS SDK makes; a refused connection or a missing socket is "serve not running". */
export async function probeServe(t: ServeTarget, o: { now: () => Date; timeoutMs: number }): Promise<DoctorOutcome> {
  const where = describeTarget(t);
  const step = async (what: string, method: string, path: string, headers: Record<string, string>): Promise<Reply> => {
    const r = await request(t, method, path, headers, o.timeoutMs);
    if (r.status !== 200) throw new StepError(`${what} answered HTTP ${r.status}: ${r.body.trim().slice(0, 200)}`);
    return r;
  };
  try {
    const token = (await step('the token PUT', 'PUT', '/latest/api/token', { 'x-aws-ec2-metadata-token-ttl-seconds': '60' })).body;
    const auth = { 'x-aws-ec2-metadata-token': token };
    const role = (await step('the role listing', 'GET', CREDS, auth)).body.split('\n')[0]?.trim() ?? '';
    if (!role) return fail(`serve at ${where} lists no role`, START_SERVE);
    const creds = JSON.parse((await step(`the credentials GET for ${role}`, 'GET', CREDS + role, auth)).body) as { Code?: string; Expiration?: string };
    const expires = Date.parse(creds.Expiration ?? '');
    if (creds.Code !== 'Success' || !(expires > o.now().getTime())) {
      return fail(`serve at ${where} gave role ${role} credentials with Code ${creds.Code ?? '?'}, Expiration ${creds.Expiration ?? '?'}`, START_SERVE);
    }
    return ok(`serve answers at ${where}: IMDSv2 token, role ${role}, credentials until ${new Date(expires).toISOString()}`);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ECONNREFUSED' || code === 'ENOENT') return fail(`serve not running: nothing listens on ${where} (${code})`, START_SERVE);
    if (e instanceof StepError) return fail(`serve at ${where}: ${e.message}`, `see the create-session check and journalctl -u ${SERVE_UNIT}`);
    return fail(`serve at ${where} did not answer as IMDSv2: ${formatError(e)}`, START_SERVE);
  }
}

class StepError extends Error {}

/** What a shared credentials file holds for one profile, and the file's mode. */
export interface CredentialsFileFacts {
  file: string;
  profile: string;
  /** undefined: the file does not exist */
  text: string | undefined;
  mode: number;
}

/** The section's key = value pairs (first section of that name, as the SDKs and `update` use it). */
function profileKeys(text: string, profile: string): Map<string, string> | undefined {
  let inside = false;
  let found: Map<string, string> | undefined;
  for (const line of text.split(/\r?\n/)) {
    const section = /^\s*\[([^\]]*)\]/.exec(line);
    if (section) {
      if (found) break;
      inside = section[1]!.trim() === profile;
      if (inside) found = new Map();
      continue;
    }
    const kv = inside ? /^([^\s=#;[][^=]*?)\s*=\s*(.*)$/.exec(line) : null;
    if (kv && !found!.has(kv[1]!.toLowerCase())) found!.set(kv[1]!.toLowerCase(), kv[2]!.trim());
  }
  return found;
}

/**
 * `update` rewrites the profile once less than refreshBefore is left; half of that left means it missed its turn
 * (WARN), an expired or absent profile means it is not running (FAIL). A mode wider than 0600 is a FAIL: the file
 * holds a secret key.
 */
export function judgeCredentialsFile(f: CredentialsFileFacts, now: Date, refreshBeforeMs: number): DoctorOutcome {
  const start = `iamra-agent update (its unit or your supervisor) keeps ${f.file} fresh; run iamra-agent update --once to write it now`;
  if (f.text === undefined) return fail(`${f.file} does not exist: update is not running`, start);
  if ((f.mode & 0o077) !== 0) return fail(`${f.file} has mode 0${(f.mode & 0o777).toString(8)}: readable by others`, `chmod 600 ${f.file}`);
  const keys = profileKeys(f.text, f.profile);
  if (!keys?.get('aws_access_key_id')) return fail(`${f.file} has no credentials in profile [${f.profile}]`, start);
  const expiresAt = Date.parse(keys.get('x_security_token_expires') ?? '');
  if (!Number.isFinite(expiresAt)) return fail(`${f.file} [${f.profile}] has no x_security_token_expires: not written by update`, start);
  const left = expiresAt - now.getTime();
  const until = new Date(expiresAt).toISOString();
  if (left <= 0) return fail(`${f.file} [${f.profile}] expired at ${until}: update is not running`, start);
  if (left < refreshBeforeMs / 2) return warn(`${f.file} [${f.profile}] expires at ${until} and was not refreshed in time`, start);
  return ok(`${f.file} [${f.profile}] is 0600 and valid until ${until}`);
}

/** Reads the facts without following a symbolic link (update refuses one as well). */
export async function readCredentialsFile(file: string, profile: string): Promise<CredentialsFileFacts> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { file, profile, text: undefined, mode: 0 };
    throw e;
  }
  try {
    return { file, profile, text: await fh.readFile('utf8'), mode: (await fh.stat()).mode };
  } finally {
    await fh.close();
  }
}
