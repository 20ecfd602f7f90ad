import { execFileSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import path from 'node:path';
import type { AcmeSettings } from '../../src/acme/index.js';
import type { DnsChallengeProvider } from '../../src/dns/types.js';
import { buildCsr } from '../../src/keys/csr.js';
import { FileKeyHandle } from '../../src/keys/file.js';
import { startChallTestSrv, startPebble, type ChallTestSrvInstance, type PebbleInstance, type PebbleOptions } from '../../src/sandbox/pebble.js';
import { tempDir } from '../helpers/paths.js';
import { forget, reapOnExit } from '../helpers/reaper.js';

/**
 * Test double of the DNS-01 port over the real pebble-challtestsrv DNS (its management API): present adds a value
 * (challtestsrv appends), cleanup removes only that value (clear-txt drops all, so the others are put back).
 * It records every call so tests can check that cleanup ran for each value presented.
 */
export class ChallTestDns implements DnsChallengeProvider {
  readonly calls: { op: 'present' | 'cleanup'; fqdn: string; value: string }[] = [];
  private readonly values = new Map<string, string[]>();
  constructor(
    private readonly srv: ChallTestSrvInstance,
    private readonly o: { publish?: (value: string) => string; onPresent?: () => void } = {},
  ) {}

  async present(fqdn: string, value: string): Promise<void> {
    this.calls.push({ op: 'present', fqdn, value });
    const published = this.o.publish ? this.o.publish(value) : value;
    this.values.set(fqdn, [...(this.values.get(fqdn) ?? []), published]);
    await this.srv.setTxt(fqdn, published);
    this.o.onPresent?.();
  }

  async cleanup(fqdn: string, value: string): Promise<void> {
    this.calls.push({ op: 'cleanup', fqdn, value });
    const published = this.o.publish ? this.o.publish(value) : value;
    const rest = (this.values.get(fqdn) ?? []).filter((v) => v !== published);
    this.values.set(fqdn, rest);
    await this.srv.clearTxt(fqdn);
    for (const v of rest) await this.srv.setTxt(fqdn, v);
  }

  /** TXT values the DNS server answers for fqdn right now */
  async txt(fqdn: string): Promise<string[]> {
    const r = new Resolver({ timeout: 1000, tries: 1 });
    r.setServers([this.srv.dnsServer]);
    try {
      return (await r.resolveTxt(fqdn)).map((chunks) => chunks.join(''));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENODATA' || (e as NodeJS.ErrnoException).code === 'ENOTFOUND') return [];
      throw e;
    }
  }
}

export interface Env {
  dir: string;
  pebble: PebbleInstance;
  chall: ChallTestSrvInstance;
  caBundlePem: string;
  settings(over?: Partial<AcmeSettings>): AcmeSettings;
  stop(): Promise<void>;
}

export async function startEnv(prefix: string, o: Omit<PebbleOptions, 'dir' | 'dnsServer'> = {}): Promise<Env> {
  const dir = tempDir(prefix);
  const chall = await startChallTestSrv({ dir });
  let pebble: PebbleInstance;
  try {
    pebble = await startPebble({ dir, dnsServer: chall.dnsServer, ...o });
  } catch (e) {
    await chall.stop();
    await fsp.rm(dir, { recursive: true, force: true });
    throw e;
  }
  // Pebble and challtestsrv are this process's children: gone with it, even when the runner ends the file
  for (const pid of [pebble.pid, chall.pid]) reapOnExit(pid, { group: false });
  const caBundlePem = await fsp.readFile(pebble.tlsCaPemPath, 'utf8');
  return {
    dir,
    pebble,
    chall,
    caBundlePem,
    settings: (over = {}) => ({
      directoryUrl: pebble.directoryUrl,
      caBundlePem,
      accountDir: path.join(dir, 'state', 'account', 'pebble'),
      timeoutMs: 5000,
      attempts: 3,
      retryBaseMs: 50,
      retryMaxMs: 2000,
      pollIntervalMs: 50,
      pollTimeoutMs: 20_000,
      profile: 'classic',
      ...over,
    }),
    async stop() {
      await pebble.stop();
      await chall.stop();
      for (const pid of [pebble.pid, chall.pid]) forget(pid);
      await fsp.rm(dir, { recursive: true, force: true });
    },
  };
}

export async function csrFor(names: string[]): Promise<string> {
  return buildCsr(FileKeyHandle.generate({ type: 'ec', curve: 'P-256' }), names);
}

/** `openssl verify -CAfile root -untrusted chain leaf`, the oracle for "the chain verifies". */
export async function opensslVerify(dir: string, rootPem: string, chainPem: string, leafPem: string): Promise<string> {
  const f = (n: string, t: string) => fsp.writeFile(path.join(dir, n), t).then(() => path.join(dir, n));
  const [root, chain, leaf] = [await f('v-root.pem', rootPem), await f('v-chain.pem', chainPem), await f('v-leaf.pem', leafPem)];
  return execFileSync('openssl', ['verify', '-CAfile', root, '-untrusted', chain, leaf], { encoding: 'utf8' }).trim();
}

export async function countInLog(file: string, needle: string): Promise<number> {
  return (await fsp.readFile(file, 'utf8')).split(needle).length - 1;
}
