import type { RecordBatch } from 'apache-arrow';
import { expect } from 'vitest';
import { Session, type SessionOptions } from '../../src/index.js';
import { type Cell, cell } from '../support/arrowData.js';
import { scratchDir, track, trackLocks } from '../support/leaks.js';
import { floatMatches, keyString, type ReferenceGroup } from '../support/referenceAggregate.js';

/** A session whose files go to the test's scratch folder and whose memory and locks the shared
 *  afterEach checks; closed by the caller. */
export async function testSession(options: SessionOptions = {}): Promise<Session> {
  const session = await Session.create({ localDirs: [scratchDir], onWarning: () => undefined, ...options });
  track(session.memoryManager);
  trackLocks(session.blockManager.blockInfoManager);
  return session;
}

export async function withSession<T>(options: SessionOptions, body: (session: Session) => Promise<T>): Promise<T> {
  const session = await testSession(options);
  try {
    return await body(session);
  } finally {
    await session.close();
  }
}

/** The groups equal the reference's, in any order (partitions of a groupBy are not ordered). */
export function expectSameGroups(output: readonly RecordBatch[], expected: readonly ReferenceGroup[], numKeys: number, what: string): void {
  const actual = new Map<string, Cell[]>();
  for (const batch of output) {
    for (let row = 0; row < batch.numRows; row++) {
      const cells = batch.data.children.map((d) => cell(d, row));
      const key = keyString(cells.slice(0, numKeys));
      expect(actual.has(key), `${what}: group ${key} twice`).toBe(false);
      actual.set(key, cells.slice(numKeys));
    }
  }
  expect(actual.size, what).toBe(expected.length);
  for (const group of expected) {
    const values = actual.get(keyString(group.key));
    expect(values, `${what}: missing group ${keyString(group.key)}`).toBeDefined();
    group.values.forEach((value, a) => {
      const got = values![a]!;
      if ('exact' in value) expect(got, `${what}: aggregate ${a} of ${keyString(group.key)}`).toEqual(value.exact);
      else if ('float' in value) expect(floatMatches(got as number, value.float, value.tolerance), `${what}: ${String(got)} vs ${value.float}`).toBe(true);
      else throw new Error('the reference overflowed');
    });
  }
}
