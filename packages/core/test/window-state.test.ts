import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { tumblingWindows, type WindowResult, type WindowStateHandle } from '../src/index.js';

interface E {
  k: string;
  time: number;
  v: number;
}

function run(events: E[], watermarks: number[], restore?: unknown): { out: WindowResult<string, number>[]; handle: WindowStateHandle<string, number> } {
  const src = new Subject<E>();
  const wm = new Subject<number>();
  const out: WindowResult<string, number>[] = [];
  let handle!: WindowStateHandle<string, number>;
  src
    .pipe(
      tumblingWindows({
        sizeMs: 10,
        key: (e) => e.k,
        create: () => 0,
        add: (acc: number, e) => acc + e.v,
        watermark$: wm,
        onState: (h) => {
          handle = h;
          if (restore !== undefined) h.restore(restore);
        },
      }),
    )
    .subscribe((w) => out.push(w));
  for (const e of events) src.next(e);
  for (const w of watermarks) wm.next(w);
  return { out, handle };
}

describe('window state', () => {
  it('snapshots open windows as plain data and a restored operator fires the same results', () => {
    const events = [
      { k: 'a', time: 1, v: 1 },
      { k: 'b', time: 3, v: 2 },
      { k: 'a', time: 12, v: 5 },
    ];
    const whole = run([...events, { k: 'a', time: 4, v: 10 }], [25]).out;
    const first = run(events, []);
    const snap = JSON.parse(JSON.stringify(first.handle.snapshot()));
    expect(snap.windows).toEqual([
      [
        10,
        [
          ['a', 1, 1],
          ['b', 2, 1],
        ],
      ],
      [20, [['a', 5, 1]]],
    ]);
    const resumed = run([{ k: 'a', time: 4, v: 10 }], [25], snap).out;
    expect(resumed).toEqual(whole);
  });

  it('rejects what is not a window snapshot', () => {
    const { handle } = run([], []);
    expect(() => handle.restore({ nope: true })).toThrow(/not a window snapshot/);
  });
});
