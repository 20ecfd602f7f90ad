import * as z from 'zod';
import { duration } from './duration.js';

/**
 * The `envsense` section: which host invariants make up the environment fingerprint that seeds the RFC 6238 TOTP
 * sent as the CreateSession roleSessionName (`rolesAnywhere.roleSessionName: totp`). Kept beside schema.ts so the
 * rule that ties the two sections together lives with the section it is about.
 */

/** /sys/class/dmi/id/ attributes that identify a machine (not the ones that change with firmware updates). */
export const DMI_FIELDS = [
  'product_uuid',
  'product_serial',
  'board_serial',
  'chassis_serial',
  'board_asset_tag',
  'chassis_asset_tag',
  'product_name',
  'sys_vendor',
] as const;

const source = z.union([
  z.object({ file: z.string().min(1).describe('a file hashed by its content (e.g. /etc/ssh/ssh_host_ed25519_key.pub)') }).strict(),
  z.object({ dmi: z.enum(DMI_FIELDS).describe('an attribute of /sys/class/dmi/id/') }).strict(),
  z.object({ machineId: z.literal(true).describe('/etc/machine-id') }).strict(),
  z
    .object({
      command: z.array(z.string().min(1)).min(1).describe('argv run without a shell; its standard output is hashed (exit 0 required)'),
      timeout: duration
        .refine((ms) => ms > 0, 'must be more than 0')
        .prefault('5s')
        .describe('the command is killed and the fingerprint fails after this long'),
    })
    .strict(),
]);

export const envsenseSchema = z
  .object({
    sources: z.array(source).min(1).describe('the invariants; a missing or unreadable one is an error, never a different fingerprint'),
    digest: z.enum(['sha1', 'sha256']).default('sha1').describe('fingerprint digest and TOTP HMAC (sha1 as oathtool --totp expects by default)'),
    period: z.number().int().min(10).max(300).default(30).describe('TOTP step in seconds (RFC 6238 X)'),
    digits: z.number().int().min(6).max(8).default(6).describe('TOTP code length; the trust policy from `policy trust --totp` expects 6'),
  })
  .strict();

export type EnvsenseConfig = z.infer<typeof envsenseSchema>;
export type FingerprintSource = EnvsenseConfig['sources'][number];

/** `rolesAnywhere.roleSessionName: totp` needs the sources to compute it from. */
export function envsenseRules(cfg: { rolesAnywhere?: { roleSessionName?: string | undefined } | undefined; envsense?: unknown }, ctx: z.RefinementCtx): void {
  if (cfg.rolesAnywhere?.roleSessionName === 'totp' && cfg.envsense === undefined) {
    ctx.addIssue({ code: 'custom', path: ['envsense'], message: 'is required when rolesAnywhere.roleSessionName is totp (list the fingerprint sources)' });
  }
}
