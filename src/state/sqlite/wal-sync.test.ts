import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { WalSync } from './wal-sync.js';

const dir = mkdtempSync(join(tmpdir(), 'tollgate-wal-sync-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function database(name: string): string {
  const path = join(dir, name);
  writeFileSync(`${path}-wal`, 'frames');
  return path;
}

/** A datasync that waits until the test lets it finish, counting how many began. */
function heldSyncs() {
  const releases: (() => void)[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const datasync = () =>
    new Promise<void>((resolve) => {
      releases.push(resolve);
      for (const w of waiters.filter((w) => w.n <= releases.length)) w.resolve();
    });
  return {
    datasync,
    get started() {
      return releases.length;
    },
    /** Resolves once the n-th sync has begun. */
    began(n: number): Promise<void> {
      if (releases.length >= n) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ n, resolve }));
    },
    finish(n: number) {
      releases[n]!();
    },
  };
}

/** Lets pending promise callbacks run (for what must NOT have happened: nothing is awaited). */
const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('WalSync', () => {
  it('syncs the WAL file for real', async () => {
    const sync = new WalSync(database('real.db'));
    await sync.synced();
    await sync.synced();
    await sync.close();
  });

  it('shares one sync among every caller that came while another ran, and starts it only after that one', async () => {
    const held = heldSyncs();
    const sync = new WalSync(database('group.db'), held.datasync);
    const order: string[] = [];
    const first = sync.synced().then(() => order.push('first'));
    await held.began(1);
    // These committed while the first sync ran: it may have begun before their commits.
    const waiting = [1, 2, 3].map((n) => sync.synced().then(() => order.push(`second-${n}`)));
    await turn();
    assert.equal(held.started, 1, 'the next sync waits for the running one');
    held.finish(0);
    await first;
    await held.began(2);
    await turn();
    assert.equal(held.started, 2, 'one sync for the three callers');
    assert.deepEqual(order, ['first']);
    const late = sync.synced().then(() => order.push('third'));
    held.finish(1);
    await Promise.all(waiting);
    await held.began(3);
    assert.equal(held.started, 3, 'a caller during the second sync waits for a third');
    held.finish(2);
    await late;
    assert.deepEqual(order, ['first', 'second-1', 'second-2', 'second-3', 'third']);
    await sync.close();
  });

  it('rejects the callers of a failed sync and tries again for the next', async () => {
    let fail = true;
    const sync = new WalSync(database('fail.db'), async (file) => {
      if (fail) throw new Error('EIO');
      await file.datasync();
    });
    await assert.rejects(sync.synced(), /EIO/);
    fail = false;
    await sync.synced();
    await sync.close();
  });

  it('fails clearly when there is no WAL file, and recovers once there is', async () => {
    const path = join(dir, 'none.db');
    const sync = new WalSync(path);
    await assert.rejects(sync.synced(), /ENOENT/);
    writeFileSync(`${path}-wal`, '');
    await sync.synced();
    await sync.close();
  });
});
