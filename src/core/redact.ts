import type { LogFields } from './log-types.js';

/** Field names that may carry secrets; their values are replaced before any transport sees them. */
const SECRET_KEY = /(secret|password|passphrase|pin|token|private|hmac|credential|authorization|signature)/i;

export function redact(fields: LogFields | undefined): LogFields | undefined {
  if (!fields) return fields;
  const out: LogFields = {};
  for (const [k, v] of Object.entries(fields)) {
    if (SECRET_KEY.test(k) && !/(expir|file|path|arn|count)/i.test(k)) out[k] = '[redacted]';
    else if (v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date)) out[k] = redact(v as LogFields);
    else out[k] = v;
  }
  return out;
}
