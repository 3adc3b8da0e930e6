import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { documentText } from '../../src/stores/file/json-text.js';

const reference = (doc: Record<string, unknown>) => `${JSON.stringify(doc, null, 2)}\n`;

describe('documentText (the data document, serialized incrementally)', () => {
  it('matches JSON.stringify byte for byte on every shape a db.json holds', () => {
    const docs: Array<Record<string, unknown>> = [
      {},
      { posts: [] },
      { posts: [{}], profile: {}, empty: [] },
      {
        posts: [
          {
            id: 1,
            title: 'a "quoted" title\nwith a newline',
            tags: ['x', 'y'],
            author: { name: 'é', deep: [[1], {}] },
          },
          { id: '2', nested: { list: [{ a: null }, true, 1.5e-7] }, skipped: undefined },
        ],
        profile: { name: 'typicode', nested: { a: [1, 2] } },
        scalars: [1, 'two', null, false],
        odd: [undefined, () => 1, [[]]],
        count: 3,
        text: 'plain',
        nothing: null,
        gone: undefined,
        '"weird key"\n': [{ '\u2028': 1 }],
      },
    ];
    for (const doc of docs) assert.equal(documentText(doc), reference(doc), JSON.stringify(doc));
  });

  it('stays exact through a random sequence of writes that replace records', () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const doc: Record<string, unknown> = { posts: [], comments: [], profile: { name: 'p' } };
    for (let step = 0; step < 2000; step++) {
      const name = random() < 0.7 ? 'posts' : 'comments';
      const rows = doc[name] as Array<Record<string, unknown>>;
      const choice = random();
      if (choice < 0.4 || rows.length === 0) {
        rows.push({ id: step, body: `post ${step}`, meta: { score: random() } });
      } else if (choice < 0.7) {
        const index = Math.floor(random() * rows.length);
        rows[index] = { ...rows[index], body: `patched at ${step}` }; // PATCH: a new object
      } else if (choice < 0.85) {
        rows.splice(Math.floor(random() * rows.length), 1); // DELETE
      } else {
        doc['profile'] = { name: `p${step}` }; // a singular resource replaced
      }
      if (step % 97 === 0) doc[name] = (JSON.parse(JSON.stringify(rows)) as unknown[]).slice(); // a reload
      assert.equal(documentText(doc), reference(doc), `step ${step}`);
    }
  });
});
