/**
 * DNS names as Route 53 handles them. Route 53 takes names with or without the final dot, case-insensitively, and
 * with characters outside a-z 0-9 - _ as three-digit octal escapes ("\052" for "*"); it answers with lower-case,
 * fully qualified, escaped names. Internally a name is kept decoded, lower-case, with the final dot.
 * https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/DomainNameFormat.html
 */

/** "*.Example.COM" or "\052.example.com." -> "*.example.com." */
export function canonicalName(input: string): string {
  const decoded = input.trim().replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
  const lower = decoded.toLowerCase();
  return lower.endsWith('.') ? lower : `${lower}.`;
}

/** "*.example.com." -> "\052.example.com." as Route 53 returns it */
export function renderName(canonical: string): string {
  return canonical.replace(/[^a-z0-9._-]/g, (ch) => `\\${ch.charCodeAt(0).toString(8).padStart(3, '0')}`);
}

/** The form IAM condition keys see (route53:ChangeResourceRecordSetsNormalizedRecordNames): lower-case, no final dot. */
export function iamName(canonical: string): string {
  return canonical.replace(/\.$/, '');
}

function labelsReversed(canonical: string): string[] {
  return canonical.replace(/\.$/, '').split('.').filter(Boolean).reverse();
}

/** Route 53 lists names sorted with labels reversed: com.example, com.example.a, com.example.a._acme-challenge */
export function compareNames(a: string, b: string): number {
  const x = labelsReversed(a);
  const y = labelsReversed(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
  }
  return x.length - y.length;
}

/** true when `name` is `zone` or below it */
export function isWithin(name: string, zone: string): boolean {
  return name === zone || name.endsWith(`.${zone}`);
}
