import { promises as fsp, constants } from 'node:fs';
import path from 'node:path';
import { readCaBundle } from '../acme/index.js';
import { type AgentConfig, identityNames } from '../config/schema.js';
import { AgentError, formatError } from '../core/errors.js';
import { readTextFile } from '../core/fs.js';
import { readPemCertificates } from '../core/pem.js';
import { checkExternalCsr } from '../keys/csr.js';
import { checkDuration, checkRoleSessionName, endpointInputOf, resolveEndpoint } from '../signer/index.js';

/**
 * Everything about an enrolment that can be checked before the ACME order (issue 12 item 3): the trust anchors,
 * the ACME CA bundle and EAB key, the external CSR (with the key policy), the rolesAnywhere settings, and the
 * other files the config points to. An unusable anchor found only after issuance throws the certificate away and
 * burns a CA rate limit on every timer run; found here, there is no order and no Route 53 change. `config check`
 * runs the same checks, so it reads every file the config names.
 */

export interface PreflightProblem {
  /** the config field at fault, e.g. trust.anchors[0] */
  field: string;
  /** one line: the file or value, what is wrong, what to do */
  message: string;
  /** false for what only other commands use (serve's token file, the store's own refusal of a wide state.dir) */
  blocksEnrolment: boolean;
}

export interface PreflightReport {
  problems: PreflightProblem[];
  /** not fatal, e.g. a runtime directory others can write */
  warnings: string[];
  /** the trust anchors' PEM texts, in config order (only when all were usable) */
  anchorsPem: string[];
}

const component = 'config';

/** Reads and checks the trust anchors: each file holds certificates, and each certificate is a CA valid now. */
export async function readTrustAnchors(files: string[], now: Date, problems: PreflightProblem[] = []): Promise<string[]> {
  const out: string[] = [];
  for (const [i, file] of files.entries()) {
    const field = `trust.anchors[${i}]`;
    try {
      const pem = await readTextFile(file, field);
      const certs = readPemCertificates(pem, {
        what: `${field} ${file}`,
        component,
        hint: 'trust.anchors lists PEM files of the CA certificates of the IAM Roles Anywhere trust anchor',
      });
      for (const [j, c] of certs.entries()) {
        const which = certs.length > 1 ? ` certificate #${j + 1}` : '';
        if (!c.ca)
          problems.push({
            field,
            message: `${field} ${file}${which} is not a CA certificate (basicConstraints CA:TRUE missing); list the CA, not a leaf`,
            blocksEnrolment: true,
          });
        else if (now > new Date(c.validTo))
          problems.push({ field, message: `${field} ${file}${which} expired at ${new Date(c.validTo).toISOString()}; replace it`, blocksEnrolment: true });
      }
      out.push(pem);
    } catch (e) {
      problems.push({ field, message: formatError(e), blocksEnrolment: true });
    }
  }
  return out;
}

/** Every check; never throws (the caller decides: config check prints, enrolment refuses). */
export async function preflight(cfg: AgentConfig, now: Date): Promise<PreflightReport> {
  const problems: PreflightProblem[] = [];
  const warnings: string[] = [];
  const push = (field: string, e: unknown) => problems.push({ field, message: formatError(e), blocksEnrolment: true });

  const anchorsPem = await readTrustAnchors(cfg.trust.anchors, now, problems);

  if (cfg.acme.caBundle) await readCaBundle(cfg.acme.caBundle).catch((e) => push('acme.caBundle', e));
  if (cfg.acme.eab) {
    const f = cfg.acme.eab.hmacKeyFile;
    await readTextFile(f, 'acme.eab.hmacKeyFile').then(
      (t) => {
        if (!/^[A-Za-z0-9_-]+={0,2}$/.test(t.trim()))
          problems.push({
            field: 'acme.eab.hmacKeyFile',
            message: `acme.eab.hmacKeyFile ${f} does not hold a base64url HMAC key; put the key exactly as the CA issued it`,
            blocksEnrolment: true,
          });
      },
      (e) => push('acme.eab.hmacKeyFile', e),
    );
  }

  if (cfg.key.source === 'csr') {
    if (!cfg.key.csrFile)
      problems.push({
        field: 'key.csrFile',
        message: 'key.source is csr but key.csrFile is not set; set it to the PEM CSR made by the hardware key',
        blocksEnrolment: true,
      });
    else {
      const names = identityNames(cfg);
      await readTextFile(cfg.key.csrFile, 'key.csrFile')
        .then((pem) => checkExternalCsr(pem, cfg.key.csrFile!, names))
        .catch((e) => push('key.csrFile', e));
    }
  } else if (cfg.key.csrFile) {
    warnings.push(`key.csrFile is set but key.source is file: the CSR ${cfg.key.csrFile} is not used`);
  }

  const ra = cfg.rolesAnywhere;
  if (ra) {
    try {
      resolveEndpoint(endpointInputOf(ra));
      checkDuration(ra.durationSeconds);
      if (ra.roleSessionName !== undefined) checkRoleSessionName(ra.roleSessionName);
    } catch (e) {
      push('rolesAnywhere', e);
    }
  }

  const token = cfg.vend.serve.containerTokenFile;
  if (token) {
    await readTextFile(token, 'vend.serve.containerTokenFile').then(
      (t) => {
        if (!t.trim())
          problems.push({
            field: 'vend.serve.containerTokenFile',
            message: `vend.serve.containerTokenFile ${token} is empty; write the token in it`,
            blocksEnrolment: false,
          });
      },
      (e) => problems.push({ field: 'vend.serve.containerTokenFile', message: formatError(e), blocksEnrolment: false }),
    );
  }

  // a hook that cannot run is reported, never fatal (hooks.ts): a warning here too
  for (const [i, argv] of cfg.hooks.afterRenew.entries()) {
    const problem = await hookProblem(argv[0]!);
    if (problem) warnings.push(`hooks.afterRenew[${i}] ${argv[0]}: ${problem}`);
  }

  for (const [field, dir] of [
    ['state.dir', cfg.state.dir],
    ['state.runtimeDir', cfg.state.runtimeDir],
  ] as const) {
    const st = await fsp.stat(dir).catch(() => undefined);
    if (!st) continue;
    if (!st.isDirectory()) problems.push({ field, message: `${field} ${dir} is not a directory`, blocksEnrolment: false });
    else if ((st.mode & 0o022) !== 0 || (field === 'state.dir' && (st.mode & 0o077) !== 0)) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
      const msg = `${field} ${dir} has mode ${mode}: ${field === 'state.dir' ? 'it holds private keys and must be 0700' : 'others can replace the lock and socket in it'}; chmod 700 ${dir} if it is the agent's own, or point ${field} at a directory of its own`;
      // the store refuses such a state.dir; a wide runtime directory is a warning (the units make it 0750)
      if (field === 'state.dir') problems.push({ field, message: msg, blocksEnrolment: false });
      else warnings.push(msg);
    } else if (field === 'state.runtimeDir' && (st.mode & 0o007) !== 0) {
      warnings.push(`state.runtimeDir ${dir} is readable by all users; chmod 750 ${dir} (systemd: RuntimeDirectoryMode=0750)`);
    }
  }

  return { problems, warnings, anchorsPem: problems.some((p) => p.field.startsWith('trust.anchors')) ? [] : anchorsPem };
}

/** Why a hook's program cannot run, or undefined. A bare name is looked up on PATH, as spawn does. */
async function hookProblem(program: string): Promise<string | undefined> {
  const candidates = program.includes('/')
    ? [program]
    : (process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin').split(':').map((d) => path.join(d || '.', program));
  for (const c of candidates) {
    const ok = await fsp.access(c, constants.X_OK).then(
      () => true,
      () => false,
    );
    if (ok) return undefined;
  }
  return program.includes('/') ? 'is missing or not executable; fix the path or chmod +x it' : 'is not found on PATH; give its absolute path';
}

/** preflight, throwing PREFLIGHT_FAILED with every problem when there is one (before an ACME order). */
export async function preflightOrThrow(cfg: AgentConfig, now: Date): Promise<PreflightReport> {
  const r = await preflight(cfg, now);
  const blocking = r.problems.filter((p) => p.blocksEnrolment);
  if (blocking.length) throw preflightError(blocking);
  return r;
}

export function preflightError(problems: PreflightProblem[]): AgentError {
  return new AgentError({
    code: 'PREFLIGHT_FAILED',
    component,
    // one problem stays one line (what a timer's journal shows); several are listed, one per line
    message:
      problems.length === 1
        ? `${problems[0]!.message} (found before any ACME order)`
        : `${problems.length} problem(s) with what the config points to, found before any ACME order:\n  ${problems.map((p) => p.message).join('\n  ')}`,
    hint: 'fix them and run iamra-agent config check',
    details: { problems },
  });
}
