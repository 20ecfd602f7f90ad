import { promises as fsp } from 'node:fs';

/**
 * Group name → gid through the group file (the Node runtime has no getgrnam); a numeric string is taken as a gid.
 * Undefined when the group is not listed (or the file is unreadable): the caller says what that means for it.
 */
export async function groupId(group: string, groupFile = '/etc/group'): Promise<number | undefined> {
  if (/^\d+$/.test(group)) return Number(group);
  const text = await fsp.readFile(groupFile, 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  return undefined;
}
