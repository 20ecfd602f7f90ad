/**
 * DNS names of an identity compared as a set: case-insensitive (RFC 4343), order and repeats ignored. One rule, so
 * that the renewal decision, the verifier, bootstrap and status agree on whether "the names changed".
 */
export function nameSet(names: readonly string[]): string[] {
  return [...new Set(names.map((n) => n.toLowerCase()))].sort();
}

export function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return nameSet(a).join(',') === nameSet(b).join(',');
}
