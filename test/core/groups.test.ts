import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { groupId } from '../../src/core/groups.js';
import { tempDir } from '../helpers/paths.js';

const dir = tempDir('core-groups');
after(() => fsp.rm(dir, { recursive: true, force: true }));

describe('groupId', () => {
  it('reads a group file: name → gid; numeric strings are gids; unknown names and unreadable files are undefined', async () => {
    const file = path.join(dir, 'group');
    await fsp.writeFile(file, 'root:x:0:\ndaemon:x:1:\nbad:x:notanumber:\niamra-clients:x:990:alice,bob\n');
    assert.equal(await groupId('daemon', file), 1);
    assert.equal(await groupId('iamra-clients', file), 990);
    assert.equal(await groupId('1234', file), 1234);
    assert.equal(await groupId('bad', file), undefined);
    assert.equal(await groupId('nobody-here', file), undefined);
    assert.equal(await groupId('daemon', path.join(dir, 'missing')), undefined);
    assert.equal(await groupId('root'), 0, 'the system /etc/group by default');
  });
});
