/**
 * The report in a real browser: Debian's Chromium (headless, through playwright-core) opens
 * the HTML file the demo wrote, and the charts must have drawn — SVG marks present, nothing
 * logged to the console as an error, no request leaving the file. A screenshot is saved to
 * build/report-screenshot.png for a person to look at.
 *
 * Only where Chromium is absent and CI is not set does this skip, saying why; `.ci/run`
 * installs Debian's chromium package first.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const root = resolve(import.meta.dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'tungsten-browser-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const available = existsSync(CHROMIUM);
if (!available && !process.env.CI) {
  console.warn(`report.browser.test: skipped, no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH); CI never skips it`);
}

describe.skipIf(!available && !process.env.CI)('the HTML report in headless Chromium', () => {
  it('the demo report draws its charts with no console error, and a screenshot is saved', async () => {
    // --dir names a folder the demo makes.
    const dir = join(work, 'demo');
    const demo = spawnSync(process.execPath, [join(root, 'bin', 'tungsten.js'), 'demo', '--rows', '300000', '--memory', '16m', '--dir', dir, '--quiet'], { encoding: 'utf8' });
    expect(demo.status, demo.stderr).toBe(0);
    const report = join(dir, 'report.html');
    expect(demo.stderr).toContain(`Report: ${report}`);

    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
      const problems: string[] = [];
      const requests: string[] = [];
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(message.text());
      });
      page.on('pageerror', (error) => problems.push(error.message));
      page.on('request', (request) => {
        if (!request.url().startsWith('file:')) requests.push(request.url());
      });
      await page.goto(pathToFileURL(report).href, { waitUntil: 'load' });
      const charts = await page.locator('.chart svg').count();
      expect(charts).toBe(2);
      // Drawn means marks with a size: the memory areas and the timeline's bars.
      const drawn = await page.locator('.chart svg').evaluateAll((svgs) =>
        svgs.map((svg) => {
          const box = svg.getBoundingClientRect();
          return { width: box.width, height: box.height, marks: svg.querySelectorAll('path, rect, line').length };
        }),
      );
      for (const chart of drawn) {
        expect(chart.width).toBeGreaterThan(300);
        expect(chart.height).toBeGreaterThan(100);
        expect(chart.marks).toBeGreaterThan(10);
      }
      expect(await page.locator('table tbody tr').count()).toBeGreaterThan(0);
      expect(problems).toEqual([]);
      expect(requests).toEqual([]);
      mkdirSync(join(root, 'build'), { recursive: true });
      await page.screenshot({ path: join(root, 'build', 'report-screenshot.png'), fullPage: true });
      expect(existsSync(join(root, 'build', 'report-screenshot.png'))).toBe(true);
    } finally {
      await browser.close();
    }
  });
});
