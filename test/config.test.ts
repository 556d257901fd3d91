import { describe, expect, test } from 'vitest';
import { describeConfig, resolveConfig } from '../src/config/options.js';
import { formatBytes, parseSize } from '../src/config/size.js';
import { ConfigError, InvalidArgumentError } from '../src/errors.js';

describe('sizes', () => {
  test.each([
    [0, 0],
    [1234, 1234],
    ['100', 100],
    ['100b', 100],
    ['64k', 65_536],
    ['64KB', 65_536],
    ['512m', 536_870_912],
    [' 4g ', 4 * 2 ** 30],
    ['2t', 2 * 2 ** 40],
    ['1p', 2 ** 50],
    ['7pb', 7 * 2 ** 50],
  ])('%j is %d bytes', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  test.each(['1.5g', '-1', 'g', '12q', '', 'ten', '9000p'])('%j is rejected', (text) => {
    expect(() => parseSize(text)).toThrow(InvalidArgumentError);
  });

  test('fractions say what to write instead', () => {
    expect(() => parseSize('1.5g')).toThrow(/1536m/);
  });

  test.each([-1, 1.5, Number.NaN, 2 ** 53])('the number %d is rejected', (n) => {
    expect(() => parseSize(n)).toThrow(InvalidArgumentError);
  });

  test('formatBytes', () => {
    expect(formatBytes(12)).toBe('12 B');
    expect(formatBytes(300 * 2 ** 20)).toBe('300 MiB');
    expect(formatBytes(1.5 * 2 ** 30)).toBe('1.5 GiB');
  });
});

describe('configuration', () => {
  test('defaults are Spark’s, with the engine’s off-heap budget', () => {
    const config = resolveConfig();
    expect(config['memory.fraction']).toBe(0.6);
    expect(config['memory.storageFraction']).toBe(0.5);
    expect(config['executor.memory']).toBe(2 ** 30);
    expect(config['memory.offHeap.enabled']).toBe(true);
    expect(config['memory.offHeap.size']).toBe(2 ** 30);
    expect(config['buffer.pageSize']).toBeUndefined();
    expect(config['memory.useLegacyMode']).toBe(false);
    expect(config['shuffle.memoryFraction']).toBe(0.2);
    expect(Object.isFrozen(config)).toBe(true);
  });

  test('nested, dotted and Spark keys mean the same', () => {
    const nested = resolveConfig({ memory: { fraction: 0.7, offHeap: { size: '2g' } }, executor: { cores: 3 } });
    const dotted = resolveConfig({ 'memory.fraction': 0.7, 'memory.offHeap.size': '2g', 'executor.cores': 3 });
    const spark = resolveConfig({ 'spark.memory.fraction': 0.7, 'spark.memory.offHeap.size': '2g', 'spark.executor.cores': '3' });
    expect(dotted).toEqual(nested);
    expect(spark).toEqual(nested);
    expect(nested['memory.offHeap.size']).toBe(2 * 2 ** 30);
  });

  test('Spark string values ("true", "0.5" is not a number) are handled as Spark users expect', () => {
    expect(resolveConfig({ 'spark.memory.useLegacyMode': 'true' })['memory.useLegacyMode']).toBe(true);
    expect(() => resolveConfig({ 'spark.memory.fraction': '0.5' })).toThrow(ConfigError);
  });

  test.each([
    [{ 'spark.memory.fraction': 1.5 }, 'spark.memory.fraction'],
    [{ memory: { storageFraction: -0.1 } }, 'memory.storageFraction'],
    [{ memory: { offHeap: { size: '-1g' } } }, 'memory.offHeap.size'],
    [{ memory: { offHeap: { size: 0 } } }, 'memory.offHeap.size'],
    [{ 'spark.memory.offHeap.enabled': false }, 'memory.offHeap.enabled'],
    [{ executor: { cores: 0 } }, 'executor.cores'],
    [{ 'spark.executor.memory': '1.5g' }, 'spark.executor.memory'],
    [{ 'spark.memory.fractoin': 0.5 }, 'spark.memory.fractoin'],
    [{ memory: { unknown: 1 } }, 'memory.unknown'],
  ])('%j is rejected naming %s', (options, key) => {
    let error: unknown;
    try {
      resolveConfig(options as never);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ code: 'INVALID_CONFIG', key });
    expect((error as Error).message.startsWith(`${key}: `)).toBe(true);
  });

  test('a key given twice is rejected', () => {
    expect(() => resolveConfig({ memory: { fraction: 0.5 }, 'spark.memory.fraction': 0.5 })).toThrow(/given twice/);
  });

  test('every key is documented', () => {
    for (const { key, doc } of describeConfig()) {
      expect(doc.length, key).toBeGreaterThan(10);
    }
  });
});
