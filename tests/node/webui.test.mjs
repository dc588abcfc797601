// The chat page in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core)
// against `deepcpu serve` (issue 3): the page as embedded in the binary, a streamed answer,
// tokens/s, the R1 thinking block collapsed (ds3-tiny), Stop, and API-key errors.
// Page-only checks (Markdown, escaping, settings, history) are in webui_mock.test.mjs.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { indexHtmlPath } from './mock_server.mjs';
import { busySlots, ds3TinyModel, startServer, storiesModel } from './server_util.mjs';
import {
  assertReady, isCollapsed, kActionTimeoutMs, kAnswerTimeoutMs, kTestTimeoutMs, launchBrowser, openPage, sendMessage,
  waitForAnswer, watchGrowth,
} from './webui_util.mjs';

describe('web page against deepcpu serve', () => {
  let browser;
  let ds3;       // R1 template: everything the random weights write is reasoning
  let stories;   // with an API key
  const kApiKey = 'sk-webui-test';
  before(async () => {
    // --step-delay-ms: tokens come slower than the page's frames, so the growth is observable.
    ds3 = await startServer({ model: ds3TinyModel(), args: ['-c', '4096', '-np', '2', '-t', '2', '--step-delay-ms', '15'] });
    // stories260K's GGUF has no chat template.
    stories = await startServer({ model: storiesModel, apiKey: kApiKey, args: ['-np', '1', '-t', '2', '--chat-template', 'chatml'] });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await ds3?.stop();
    await stories?.stop();
  });

  test('GET / serves the embedded page, byte for byte', { timeout: kTestTimeoutMs }, async () => {
    const r = await fetch(ds3.url + '/', { signal: AbortSignal.timeout(kActionTimeoutMs) });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^text\/html/);
    assert.ok(Buffer.from(await r.arrayBuffer()).equals(fs.readFileSync(indexHtmlPath)),
      'GET / differs from src/serve/webui/index.html: rebuild the binary');
  });

  test('ds3-tiny: a streamed answer, the thinking block collapsed, tokens/s', { timeout: kTestTimeoutMs }, async () => {
    const { page, pageErrors, requests } = await openPage(browser, ds3.url, { max_tokens: '48', temperature: '0' });
    await watchGrowth(page);
    await sendMessage(page, 'What is the capital of France?');
    const msg = await waitForAnswer(page);
    assert.equal(await msg.getAttribute('data-state'), 'done', await msg.textContent());
    const chunks = Number(await msg.getAttribute('data-chunks'));
    const lengths = await page.evaluate(() => window.__lengths);
    assert.ok(chunks >= 5, `only ${chunks} chunks with text`);
    assert.ok(lengths.length >= 2, `text did not grow across observations: ${JSON.stringify(lengths)}`);
    const details = msg.locator('details[data-testid="thinking"]');
    assert.ok(await details.isVisible(), 'no thinking block for an R1 model');
    assert.ok(await isCollapsed(details), 'thinking block not collapsed');
    assert.match(await details.locator('summary').textContent(), /^Thought for \d+(\.\d)? s$/);
    const thinking = await msg.locator('[data-testid="thinking-body"]').textContent();
    const answer = await msg.locator('[data-testid="answer"]').textContent();
    assert.ok(thinking.length > 0, 'empty thinking');
    assert.ok(!thinking.includes('<think>') && !answer.includes('<think>'), 'raw <think> tag shown');
    if (!answer.trim()) {  // random weights rarely close </think>: the note explains why there is no answer
      assert.match(await msg.locator('[data-testid="note"]').textContent(), /still thinking/);
    }
    const tps = Number(await msg.locator('[data-testid="tps"]').textContent());
    assert.ok(tps > 0, `tokens/s = ${tps}`);
    assert.match(await msg.locator('[data-testid="stats"]').textContent(), /^\d+ tokens · [\d.]+ tokens\/s/);
    assert.equal(await msg.locator('[data-testid="error"]').isVisible(), false);
    await assertReady(page);
    assert.notEqual(await page.locator('#model-name').textContent(), '', 'no model name in the header');
    assert.deepEqual(requests.filter((u) => !u.startsWith(ds3.url + '/')), []);
    assert.deepEqual(pageErrors, []);
    await page.close();
  });

  test('Stop ends a long answer, frees the slot, and the page is ready again', { timeout: kTestTimeoutMs }, async () => {
    const { page } = await openPage(browser, ds3.url, { max_tokens: '3000' });
    await sendMessage(page, 'Write a very long essay.');
    const msg = page.locator('[data-testid="message-assistant"]').last();
    await msg.locator('[data-testid="thinking-body"]:not(:empty)').waitFor({ timeout: kAnswerTimeoutMs });
    await page.locator('#stop').click();
    await waitForAnswer(page, kActionTimeoutMs);
    assert.equal(await msg.getAttribute('data-state'), 'stopped', 'the answer finished before Stop; raise max_tokens');
    assert.equal(await msg.locator('[data-testid="note"]').textContent(), 'Stopped.');
    assert.ok(await isCollapsed(msg.locator('details[data-testid="thinking"]')), 'thinking left open after Stop');
    await assertReady(page);
    // The server frees the slot once it sees the disconnect.
    const deadline = Date.now() + 10_000;
    let slots = await busySlots(ds3);
    while (slots && slots.busy > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      slots = await busySlots(ds3);
    }
    if (slots) assert.equal(slots.busy, 0, 'a slot is still busy 10 s after Stop');
    // And the next question works.
    await page.locator('#settings-button').click();
    await page.locator('#setting-max-tokens').fill('8');
    await page.locator('#settings-close').click();
    await sendMessage(page, 'Short one.');
    const next = await waitForAnswer(page);
    assert.equal(await next.getAttribute('data-state'), 'done');
    await page.close();
  });

  test('API key: the 401 is shown, then the key from Settings works', { timeout: kTestTimeoutMs }, async () => {
    const { page } = await openPage(browser, stories.url, { max_tokens: '16' });
    await sendMessage(page, 'Once upon a time');
    let msg = await waitForAnswer(page);
    assert.equal(await msg.getAttribute('data-state'), 'error');
    const err = await msg.locator('[data-testid="error"]').textContent();
    assert.match(err, /^Error 401/);
    assert.match(err, /Set the server's API key under Settings\./);
    await page.locator('#settings-button').click();
    await page.locator('#setting-api-key').fill(kApiKey);
    await page.locator('#settings-close').click();
    await sendMessage(page, 'Once upon a time');
    msg = await waitForAnswer(page);
    assert.equal(await msg.getAttribute('data-state'), 'done', await msg.textContent());
    assert.ok((await msg.locator('[data-testid="answer"]').textContent()).trim().length > 0, 'empty answer from stories260K');
    assert.ok(Number(await msg.locator('[data-testid="tps"]').textContent()) > 0);
    await page.close();
  });
});
