/**
 * Environmental sensing: the host fingerprint, RFC 6238 TOTP session names computed from it on every
 * CreateSession, and the CloudTrail audit that recomputes the codes from a fingerprint database kept off the host.
 */
export { computeFingerprint, sourceLabel, systemFingerprintDeps, type Fingerprint, type FingerprintDeps } from './fingerprint.js';
export { codesBetween, timeStep, totpAt, type TotpParams } from './totp.js';
export { TOTP_SESSION_NAME, databaseEntry, sessionNameProvider, subjectOf, type SessionNameProvider } from './session-name.js';
export { classify, isCreateSession, parseDatabase, parseEvents, renderText, type AuditResult, type Verdict } from './audit.js';
export { advanceCursor, alreadySeen, lookupStart, parseCursor, readCursor, writeCursor, type AuditCursor, type SeenEvent } from './audit-state.js';
