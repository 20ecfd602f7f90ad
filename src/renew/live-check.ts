import { createHash } from 'node:crypto';
import { formatError } from '../core/errors.js';
import { FileKeyHandle } from '../keys/file.js';
import type { Identity } from '../store/index.js';
import { checkIdentity, type VerifyInput } from './verify.js';

/**
 * Is the live identity still one that works? The same checks a new identity passes before it goes live
 * (verify.ts: chain to a trust anchor, key match, names, CA:false, digitalSignature, SHA-256+), applied to what is
 * live now. Used by the renewal decision (issue 12 item 5): a live identity that fails them is due now, whatever
 * its age, because waiting for the weekly rotation leaves a broken identity broken while `status` says CRITICAL.
 * Validity is left out: an expired certificate is the policy's "expired", and a not-yet-valid one is a clock
 * problem a new certificate would not fix.
 */

/** Checks a live identity; the list of problems, empty when it is fine. */
export type LiveChecker = (live: Identity, now: Date) => Promise<string[]>;

/**
 * anchorsPem: the configured trust anchors (PEM texts). Without any, the chain is checked to its own top, as
 * enrolment does, which still catches a broken chain or a foreign CA's leaf with a mismatched chain.
 */
export function liveChecker(anchorsPem: string[]): LiveChecker {
  return async (live, now) => {
    const problems: string[] = [];
    let key: VerifyInput['key'];
    if (live.files.key) {
      try {
        key = await FileKeyHandle.load(live.files.key);
      } catch (e) {
        return [`key: ${formatError(e)}`];
      }
    } else {
      // an external key: key.ref records the SHA-256 of its SubjectPublicKeyInfo
      const spki = live.certificate.publicKey.export({ type: 'spki', format: 'der' });
      const want = typeof live.keyRef?.['publicKeySha256'] === 'string' ? live.keyRef['publicKeySha256'] : undefined;
      if (want && createHash('sha256').update(spki).digest('hex') !== want) problems.push('key: the certificate is for another key than key.ref names');
      key = { publicKeyDer: spki };
    }
    const anchors = anchorsPem.length ? anchorsPem : chainTop(live.chainPem);
    const r = await checkIdentity({ certPem: live.certPem, chainPem: live.chainPem, key, names: live.meta.names, anchorsPem: anchors, now });
    for (const f of r.failures) if (f.check !== 'validity') problems.push(`${f.check}: ${f.message}`);
    return problems;
  };
}

function chainTop(chainPem: string): string[] {
  const blocks = chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.length ? [`${blocks[blocks.length - 1]!}\n`] : [];
}
