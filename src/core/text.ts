/**
 * Text from files goes into messages only when it is text: a corrupt meta.json or a binary config must never put
 * raw bytes (terminal escapes, NULs) on the user's terminal or into the journal.
 */

/**
 * Index of the first character that is not text: NUL and other C0 controls except tab, newline and carriage
 * return, DEL, C1 controls, and U+FFFD (what a UTF-8 decode makes of invalid bytes). undefined for clean text.
 */
export function binaryOffset(s: string): number | undefined {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  const m = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\ufffd]/.exec(s);
  return m ? m.index : undefined;
}

/** A short, safe rendering of untrusted text for a message: controls escaped, cut at `max` characters. */
export function printable(s: string, max = 80): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: as above
  const safe = s.replace(/[\u0000-\u001f\u007f-\u009f\ufffd]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return safe.length > max ? `${safe.slice(0, max)}…` : safe;
}
