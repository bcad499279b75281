import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Memo } from './memo.js';

describe('Memo', () => {
  it('keeps an entry only once its key comes back', () => {
    const memo = new Memo<string>({ maxBytes: 1000 });
    assert.equal(memo.put('once', 'a', 10), 'a');
    assert.equal(memo.get('once'), undefined, 'a key seen once is not kept');
    memo.put('once', 'a', 10);
    assert.equal(memo.get('once'), 'a');
    const thrice = new Memo<string>({ maxBytes: 1000, admitAfter: 3 });
    thrice.put('k', 'v', 10);
    thrice.put('k', 'v', 10);
    assert.equal(thrice.get('k'), undefined);
    thrice.put('k', 'v', 10);
    assert.equal(thrice.get('k'), 'v');
  });

  it('stays within its size, dropping the oldest entries first', () => {
    const memo = new Memo<string>({ maxBytes: 1000, admitAfter: 1 });
    for (let i = 0; i < 100; i++) memo.put(`k${i}`, 'v', 50);
    assert.equal(memo.size, 20);
    assert.equal(memo.get('k79'), undefined);
    assert.equal(memo.get('k80'), 'v');
    assert.equal(memo.get('k99'), 'v');
  });

  it('does not keep an entry too large to share the budget', () => {
    const memo = new Memo<string>({ maxBytes: 1600, admitAfter: 1 });
    memo.put('small', 's', 10);
    assert.equal(memo.put('huge', 'h', 500), 'h');
    assert.equal(memo.get('huge'), undefined);
    assert.equal(memo.get('small'), 's');
  });
});
