import * as z from 'zod';
import { CHECK_NAMES } from './checks.js';

/**
 * The output of `iamra-agent status --json`: a stable contract for monitoring scripts. The zod schema is the single
 * source; `iamra-agent status --schema` prints the JSON Schema published as config/status.schema.json (a test keeps
 * the two equal). Compatible additions (new optional fields, new checks) keep schemaVersion 1; anything that would
 * break a reader (a removed or renamed field, a changed meaning) increments it.
 */

export const STATUS_SCHEMA_VERSION = 1;

const instant = z.iso.datetime({ offset: false }).describe('ISO 8601 instant in UTC');
const status = z.enum(['OK', 'WARNING', 'CRITICAL', 'UNKNOWN']);

export const statusJsonSchema = z
  .object({
    schemaVersion: z.literal(STATUS_SCHEMA_VERSION),
    generatedAt: instant,
    overall: status.describe('the worst check status (CRITICAL > UNKNOWN > WARNING > OK)'),
    exitCode: z.union([z.literal(0), z.literal(1), z.literal(2), z.literal(3)]).describe('Nagios plugin convention: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN'),
    config: z.object({ file: z.string() }).strict(),
    checks: z
      .array(
        z
          .object({
            name: z.enum(CHECK_NAMES),
            status,
            reason: z.string().min(1),
            value: z.number().optional().describe('seconds for times (negative once past), a count for pending-txt'),
          })
          .strict(),
      )
      .describe('every check, always in the same order'),
    identity: z
      .object({
        version: z.string().regex(/^\d{4,}$/),
        serial: z
          .string()
          .regex(/^[0-9A-F]+$/)
          .describe('hex, upper case'),
        notBefore: instant,
        notAfter: instant,
        names: z.array(z.string()),
        subject: z.string(),
        issuer: z.string(),
        createdAt: instant.optional(),
      })
      .strict()
      .optional()
      .describe('the live identity; absent when none is live or it cannot be read'),
    renewal: z
      .object({
        renewAt: instant.describe('the renewal point'),
        reason: z.enum(['ari-window', 'ari-window-passed', 'lifetime', 'max-age', 'expired']),
        due: z.boolean(),
        nextCheck: instant.optional(),
        ariIgnored: z.string().optional().describe('why a recorded ARI window was not used'),
        lastCheck: instant.optional().describe('the last renewal decision recorded in state.json'),
      })
      .strict()
      .optional(),
    ari: z
      .object({
        windowStart: z.string(),
        windowEnd: z.string(),
        checkedAt: z.string(),
        retryAfter: z.string().optional(),
        explanationUrl: z.string().optional(),
        appliesToLive: z.boolean().describe('false when the recorded answer is for another certificate'),
      })
      .strict()
      .optional()
      .describe('the last ACME Renewal Information answer (RFC 9773) recorded in state.json'),
    lastRenewal: z.object({ at: z.string(), ok: z.boolean(), error: z.string().optional(), serial: z.string().optional() }).strict().optional(),
    lastRenewalSuccess: instant.optional().describe('the last successful enrolment of the live identity'),
    credentials: z
      .object({
        source: z.enum(['state', 'probe']).describe('state: the last recorded CreateSession; probe: made by status --probe'),
        ok: z.boolean(),
        at: instant,
        expiration: instant.optional(),
        error: z.string().optional(),
      })
      .strict()
      .optional(),
    pendingTxt: z.array(z.object({ fqdn: z.string(), createdAt: z.string() }).strict()),
    counters: z.record(z.string(), z.number()),
  })
  .strict();

export type StatusJson = z.infer<typeof statusJsonSchema>;

export function statusJsonSchemaDocument(): Record<string, unknown> {
  return {
    ...(z.toJSONSchema(statusJsonSchema, { io: 'output' }) as Record<string, unknown>),
    title: 'iamra-agent status --json',
    description: `schemaVersion ${STATUS_SCHEMA_VERSION}; exit code and overall follow the Nagios plugin convention`,
  };
}
