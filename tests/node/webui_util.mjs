// Browser helpers for the web-page tests (webui_mock.test.mjs against the mock server,
// webui.test.mjs against `deepcpu serve`): launch Debian's Chromium through playwright-core
// with a throw-away profile, open the page with given settings, send a message, wait for
// the answer. What is checked lives in the test files.
// Set DEEPCPU_CHROMIUM to use another browser binary.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const kChromium = process.env.DEEPCPU_CHROMIUM || '/usr/bin/chromium';
export const kActionTimeoutMs = 15_000;  // one UI step (a click, a wait for an element)
export const kAnswerTimeoutMs = 60_000;  // a whole answer from a tiny model
export const kTestTimeoutMs = 120_000;
export const kSettingsKey = 'deepcpu.webui.settings';

// One browser per describe block, with a fresh profile that is deleted afterwards.
export async function launchBrowser() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'deepcpu-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: kChromium,
    headless: true,
    timeout: 60_000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  context.setDefaultTimeout(kActionTimeoutMs);
  context.setDefaultNavigationTimeout(kActionTimeoutMs);
  return {
    context,
    async close() {
      try { await context.close(); } finally { fs.rmSync(profile, { recursive: true, force: true }); }
    },
  };
}

// Opens the page with the given settings in localStorage (set before any page script runs)
// and records page errors and every request, so tests can check the page stays offline.
export async function openPage(browser, url, settings = {}) {
  const page = await browser.context.newPage();
  const pageErrors = [];
  const requests = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('request', (r) => requests.push(r.url()));
  await page.addInitScript(([key, value]) => { localStorage.setItem(key, value); },
    [kSettingsKey, JSON.stringify({ temperature: '', max_tokens: '', system: '', api_key: '', ...settings })]);
  await page.goto(url);
  await page.locator('#input').waitFor();
  return { page, pageErrors, requests };
}

// Records, inside the page, the text length of the last assistant message (thinking and
// answer) at every DOM change, so a test can tell a streamed answer from one that arrived
// whole.
export async function watchGrowth(page) {
  await page.evaluate(() => {
    window.__lengths = [];
    const obs = new MutationObserver(() => {
      const msgs = document.querySelectorAll('[data-testid="message-assistant"]');
      const m = msgs[msgs.length - 1];
      if (!m) return;
      const len = (m.querySelector('[data-testid="thinking-body"]').textContent +
                   m.querySelector('[data-testid="answer"]').textContent).length;
      const l = window.__lengths;
      if (len > 0 && l[l.length - 1] !== len) l.push(len);
    });
    obs.observe(document.getElementById('messages'), { subtree: true, childList: true, characterData: true });
  });
}

export async function sendMessage(page, text) {
  await page.locator('#input').fill(text);
  await page.locator('#input').press('Enter');
}

// Waits until the last answer is no longer streaming and the page is ready for input.
export async function waitForAnswer(page, timeout = kAnswerTimeoutMs) {
  const last = page.locator('[data-testid="message-assistant"]').last();
  await last.and(page.locator(':not([data-state="streaming"])')).waitFor({ timeout });
  await page.locator('body[data-busy="false"]').waitFor({ timeout: kActionTimeoutMs });
  return last;
}

export async function assertReady(page) {
  assert.equal(await page.locator('body').getAttribute('data-busy'), 'false');
  assert.ok(await page.locator('#send').isVisible(), 'Send button hidden');
  assert.ok(!(await page.locator('#stop').isVisible()), 'Stop button still visible');
  assert.equal(await page.locator('#input').inputValue(), '', 'input not cleared');
}

export const isCollapsed = (details) => details.evaluate((d) => !d.open && !d.hasAttribute('open'));
