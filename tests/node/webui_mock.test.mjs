// The chat page (src/serve/webui/index.html) in headless Chromium against mock_server.mjs,
// which serves the page source and canned SSE streams: a failure here is a page bug, not a
// server bug, and these tests need no deepcpu binary. webui.test.mjs runs the same kind of
// checks against `deepcpu serve`.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { kReasoning, startMockServer } from './mock_server.mjs';
import {
  assertReady, isCollapsed, kActionTimeoutMs, kTestTimeoutMs, launchBrowser, openPage, sendMessage, waitForAnswer,
  watchGrowth,
} from './webui_util.mjs';

describe('web page against the mock server', () => {
  let browser;
  let mock;
  let keyed;
  before(async () => {
    mock = await startMockServer();
    keyed = await startMockServer({ apiKey: 'sk-mock' });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await mock?.close();
    await keyed?.close();
  });

  test('streams a Markdown answer; thinking collapsed once the answer starts; tokens/s', { timeout: kTestTimeoutMs }, async () => {
    const { page, pageErrors, requests } = await openPage(browser, mock.url, { temperature: '0.3', max_tokens: '77', system: 'Be brief.' });
    await watchGrowth(page);
    await sendMessage(page, 'What is 6 x 7?');
    const msg = page.locator('[data-testid="message-assistant"]').last();
    const details = msg.locator('details[data-testid="thinking"]');
    // While only reasoning has arrived, the block is open so the user can watch it think.
    // (Checked in the page at every frame: the thinking phase lasts only a few chunks.)
    await page.waitForFunction(() => {
      const d = document.querySelector('[data-testid="message-assistant"] details');
      return d && d.open && d.querySelector('.thinking-body').textContent.length > 0 &&
        document.querySelector('[data-testid="message-assistant"] [data-testid="answer"]').textContent === '';
    }, null, { polling: 'raf' });
    await waitForAnswer(page);

    assert.equal(await msg.getAttribute('data-state'), 'done');
    const lengths = await page.evaluate(() => window.__lengths);
    assert.ok(lengths.length >= 3, `text did not grow in steps: ${JSON.stringify(lengths)}`);
    assert.ok(await isCollapsed(details), 'thinking block still open after the answer');
    assert.match(await details.locator('summary').textContent(), /^Thought for \d+(\.\d)? s$/);
    assert.equal((await msg.locator('[data-testid="thinking-body"]').textContent()), kReasoning.join(''));
    // Markdown
    const answer = msg.locator('[data-testid="answer"]');
    assert.equal(await answer.locator('h2').textContent(), 'Result');
    assert.equal(await answer.locator('strong').first().textContent(), '42');
    assert.equal(await answer.locator('em').first().textContent(), 'surely');
    assert.equal(await answer.locator('p code').first().textContent(), 'print(42)');
    assert.equal(await answer.locator('a[href="https://example.com/docs"]').textContent(), 'the docs');
    assert.equal(await answer.locator('ul > li').count(), 2);
    assert.equal(await answer.locator('ol > li').count(), 2);
    assert.equal(await answer.locator('pre code').textContent(), 'print("<b>not bold</b>")');
    // Model text never becomes markup.
    assert.equal(await answer.locator('img, script, b, a[href^="javascript"]').count(), 0, await answer.innerHTML());
    assert.ok((await answer.textContent()).includes('<img src=x onerror="window.__xss=1">'), 'escaped HTML not shown as text');
    assert.equal(await page.evaluate(() => window.__xss), undefined, 'model text ran script');
    // tokens/s from the final usage/timings chunk
    assert.equal(await msg.locator('[data-testid="tps"]').textContent(), '25.0');
    assert.match(await msg.locator('[data-testid="stats"]').textContent(), /\d+ tokens · 25\.0 tokens\/s/);
    // What the page sent
    const req = mock.requests.at(-1).body;
    assert.equal(req.stream, true);
    assert.deepEqual(req.stream_options, { include_usage: true });
    assert.equal(req.temperature, 0.3);
    assert.equal(req.max_tokens, 77);
    assert.deepEqual(req.messages, [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'What is 6 x 7?' }]);
    await assertReady(page);
    // The page fetches nothing but its own server (no CDN, fonts, analytics).
    const foreign = requests.filter((u) => !u.startsWith(mock.url + '/'));
    assert.deepEqual(foreign, []);
    assert.deepEqual(pageErrors, []);
    await page.close();
  });

  test('a reasoning-only answer (no </think> before max tokens) stays readable and collapsible', { timeout: kTestTimeoutMs }, async () => {
    const { page, pageErrors } = await openPage(browser, mock.url);
    await sendMessage(page, '[scenario:reasoning-only] hi');
    const msg = await waitForAnswer(page);
    const details = msg.locator('details[data-testid="thinking"]');
    assert.ok(await details.isVisible());
    assert.ok(await isCollapsed(details), 'thinking block open after the end');
    assert.equal(await msg.locator('[data-testid="thinking-body"]').textContent(), kReasoning.join(''));
    assert.match(await msg.locator('[data-testid="note"]').textContent(), /still thinking.*max tokens/);
    await details.locator('summary').click();
    assert.equal(await details.evaluate((d) => d.open), true, 'thinking block does not open on click');
    assert.ok(await msg.locator('[data-testid="thinking-body"]').isVisible());
    assert.equal(await msg.getAttribute('data-finish-reason'), 'length');
    assert.deepEqual(pageErrors, []);
    await page.close();
  });

  test('raw <think> tags in content (--reasoning-format none) go to the thinking block', { timeout: kTestTimeoutMs }, async () => {
    const { page } = await openPage(browser, mock.url);
    await sendMessage(page, '[scenario:raw-think] hi');
    const msg = await waitForAnswer(page);
    assert.equal((await msg.locator('[data-testid="thinking-body"]').textContent()).trim(), 'raw thoughts here');
    assert.equal(await msg.locator('[data-testid="answer"] strong').textContent(), 'answer');
    assert.ok(await isCollapsed(msg.locator('details[data-testid="thinking"]')));
    await page.close();
  });

  test('raw text ending its thinking with </think> (no opening tag) is split too', { timeout: kTestTimeoutMs }, async () => {
    const { page } = await openPage(browser, mock.url);
    await sendMessage(page, '[scenario:raw-think-open] hi');
    const msg = await waitForAnswer(page);
    assert.equal(await msg.locator('[data-testid="thinking-body"]').textContent(), 'thinking without a tag');
    assert.equal(await msg.locator('[data-testid="answer"]').textContent(), 'The answer.');
    await page.close();
  });

  test('a non-streamed JSON answer is shown as well', { timeout: kTestTimeoutMs }, async () => {
    const { page } = await openPage(browser, mock.url);
    await sendMessage(page, '[scenario:json] hi');
    const msg = await waitForAnswer(page);
    assert.equal(await msg.getAttribute('data-state'), 'done');
    assert.equal(await msg.locator('[data-testid="thinking-body"]').textContent(), 'Short thought.');
    assert.equal(await msg.locator('[data-testid="answer"] em').textContent(), 'answer');
    assert.ok(await isCollapsed(msg.locator('details[data-testid="thinking"]')));
    assert.equal(await msg.locator('[data-testid="tps"]').textContent(), '30.0');
    await page.close();
  });

  test('Shift+Enter adds a line; Enter sends; the conversation is kept; New chat clears it', { timeout: kTestTimeoutMs }, async () => {
    const { page } = await openPage(browser, mock.url);
    const input = page.locator('#input');
    await input.fill('');
    await input.pressSequentially('[scenario:echo] line one');
    await input.press('Shift+Enter');
    await input.pressSequentially('line two');
    assert.equal(await input.inputValue(), '[scenario:echo] line one\nline two');
    assert.equal(await page.locator('[data-testid="message-user"]').count(), 0, 'Shift+Enter sent the message');
    await input.press('Enter');
    let msg = await waitForAnswer(page);
    assert.equal(await msg.locator('[data-testid="answer"]').textContent(), 'You sent 1 messages.');
    assert.equal(mock.requests.at(-1).body.messages[0].content, '[scenario:echo] line one\nline two');
    await sendMessage(page, '[scenario:echo] again');
    msg = await waitForAnswer(page);
    assert.equal(await msg.locator('[data-testid="answer"]').textContent(), 'You sent 3 messages.');
    assert.deepEqual(mock.requests.at(-1).body.messages.map((m) => m.role), ['user', 'assistant', 'user']);
    assert.equal(mock.requests.at(-1).body.messages[1].content, 'You sent 1 messages.');
    await page.locator('#new-chat').click();
    assert.equal(await page.locator('.msg').count(), 0);
    assert.ok(await page.locator('#empty').isVisible());
    await sendMessage(page, '[scenario:echo] fresh');
    msg = await waitForAnswer(page);
    assert.equal(await msg.locator('[data-testid="answer"]').textContent(), 'You sent 1 messages.');
    await page.close();
  });

  test('Stop aborts the request and the page is ready again', { timeout: kTestTimeoutMs }, async () => {
    const { page } = await openPage(browser, mock.url);
    const abortedBefore = mock.aborted;
    await sendMessage(page, '[scenario:slow] go');
    const msg = page.locator('[data-testid="message-assistant"]').last();
    await msg.locator('[data-testid="answer"]', { hasText: 'word2' }).waitFor();
    assert.ok(await page.locator('#stop').isVisible(), 'no Stop button while streaming');
    await page.locator('#stop').click();
    await waitForAnswer(page, kActionTimeoutMs);
    assert.equal(await msg.getAttribute('data-state'), 'stopped');
    assert.equal(await msg.locator('[data-testid="note"]').textContent(), 'Stopped.');
    assert.equal(await msg.locator('[data-testid="error"]').isVisible(), false);
    await assertReady(page);
    const deadline = Date.now() + 5000;
    while (mock.aborted === abortedBefore && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(mock.aborted, abortedBefore + 1, 'the server did not see the request end');
    const text = await msg.locator('[data-testid="answer"]').textContent();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await msg.locator('[data-testid="answer"]').textContent(), text, 'text still arriving after Stop');
    // Usable again: the next question streams normally (Escape also stops).
    await sendMessage(page, '[scenario:slow] again');
    await page.locator('[data-testid="message-assistant"]').last().locator('[data-testid="answer"]', { hasText: 'word1' }).waitFor();
    await page.keyboard.press('Escape');
    await waitForAnswer(page, kActionTimeoutMs);
    assert.equal(await page.locator('[data-testid="message-assistant"]').last().getAttribute('data-state'), 'stopped');
    await page.close();
  });

  test('errors from the server are shown readably', { timeout: kTestTimeoutMs }, async () => {
    const { page } = await openPage(browser, mock.url);
    await sendMessage(page, '[scenario:bad-request] x');
    let msg = await waitForAnswer(page);
    assert.equal(await msg.getAttribute('data-state'), 'error');
    assert.equal(await msg.locator('[data-testid="error"]').textContent(),
      "Error 400 Bad Request: request body: 'messages[0].content' must be a string or an array of parts; got a number.");
    await sendMessage(page, '[scenario:error-midstream] x');
    msg = await waitForAnswer(page);
    assert.equal(await msg.getAttribute('data-state'), 'error');
    assert.equal(await msg.locator('[data-testid="answer"]').textContent(), 'Partial');
    assert.match(await msg.locator('[data-testid="error"]').textContent(), /KV cache is full/);
    await sendMessage(page, '[scenario:drop] x');
    msg = await waitForAnswer(page);
    assert.equal(await msg.getAttribute('data-state'), 'error');
    assert.match(await msg.locator('[data-testid="error"]').textContent(), /^The connection to the server broke off mid-answer/);
    await assertReady(page);
    await page.close();
  });

  test('API key: a 401 is explained; the key from Settings is sent and persisted', { timeout: kTestTimeoutMs }, async () => {
    const { page } = await openPage(browser, keyed.url);
    await sendMessage(page, 'hello');
    let msg = await waitForAnswer(page);
    const err = await msg.locator('[data-testid="error"]').textContent();
    assert.match(err, /^Error 401 Unauthorized: Invalid API key\nSet the server's API key under Settings\.$/);
    await page.locator('#settings-button').click();
    await page.locator('#setting-api-key').fill('sk-mock');
    await page.locator('#setting-temperature').fill('0.9');
    await page.locator('#settings-close').click();
    assert.equal(await page.locator('#settings').isVisible(), false);
    await sendMessage(page, 'hello again');
    msg = await waitForAnswer(page);
    assert.equal(await msg.getAttribute('data-state'), 'done');
    const req = keyed.requests.at(-1);
    assert.equal(req.headers.authorization, 'Bearer sk-mock');
    assert.equal(req.body.temperature, 0.9);
    // The failed question is not sent again as history.
    assert.deepEqual(req.body.messages, [{ role: 'user', content: 'hello again' }]);
    assert.equal(await page.locator('#model-name').textContent(), 'mock-r1.gguf');
    await page.close();
    // A new page (no init script) reads the settings back from localStorage.
    const again = await browser.context.newPage();
    await again.goto(keyed.url);
    await again.locator('#settings-button').click();
    assert.equal(await again.locator('#setting-api-key').inputValue(), 'sk-mock');
    assert.equal(await again.locator('#setting-temperature').inputValue(), '0.9');
    await again.close();
  });

  test('Markdown renderer: block and inline forms', { timeout: kTestTimeoutMs }, async () => {
    const { page } = await openPage(browser, mock.url);
    const md = (src) => page.evaluate((x) => window.deepcpuRenderMarkdown(x), src);
    assert.equal(await md('# Title #'), '<h1>Title</h1>');
    assert.equal(await md('a\nb\n\nc'), '<p>a<br>b</p>\n<p>c</p>');
    assert.equal(await md('**b** *i* _i_ __b__ ~~s~~ snake_case_name 2*3*4'),
      '<p><strong>b</strong> <em>i</em> <em>i</em> <strong>b</strong> <del>s</del> snake_case_name 2<em>3</em>4</p>');
    assert.equal(await md('`a <b> **c**`'), '<p><code>a &lt;b&gt; **c**</code></p>');
    assert.equal(await md('- a\n  - b\n  - c\n- d'), '<ul><li>a<ul><li>b</li><li>c</li></ul></li><li>d</li></ul>');
    assert.equal(await md('3. x\n4. y'), '<ol start="3"><li>x</li><li>y</li></ol>');
    assert.equal(await md('> quote\n> more'), '<blockquote><p>quote<br>more</p></blockquote>');
    assert.equal(await md('---'), '<hr>');
    assert.equal(await md('| a | b |\n|---|:-:|\n| 1 | **2** |'),
      '<table><thead><tr><th>a</th><th>b</th></tr></thead><tbody><tr><td>1</td><td><strong>2</strong></td></tr></tbody></table>');
    // A fence still streaming (no closing line) renders as code up to the end.
    assert.match(await md('```js\nlet a = 1 < 2;'), /<pre><code>let a = 1 &lt; 2;<\/code><\/pre>/);
    assert.equal(await md('see https://x.org/a?b=1&c=2.'),
      '<p>see <a href="https://x.org/a?b=1&amp;c=2" target="_blank" rel="noopener noreferrer">https://x.org/a?b=1&amp;c=2</a>.</p>');
    assert.equal(await md('[x](javascript:alert(1))'), '<p>[x](javascript:alert(1))</p>');
    assert.equal(await md('[x](https://a.b/"onmouseover="alert(1))'),
      '<p>[x](<a href="https://a.b/" target="_blank" rel="noopener noreferrer">https://a.b/</a>&quot;onmouseover=&quot;alert(1))</p>');
    await page.close();
  });

  test('Markdown renderer: no input yields markup beyond its fixed tags', { timeout: kTestTimeoutMs }, async () => {
    const { page } = await openPage(browser, mock.url);
    // Random mixes of Markdown syntax and HTML/JS fragments; every element and attribute of
    // the result must come from the renderer's own vocabulary.
    const bad = await page.evaluate(() => {
      const pieces = ['<', '>', '"', "'", '&', '`', '```', '*', '**', '_', '[', ']', '(', ')', '|', '-', '#', '> ', '\n', '\n\n',
        '  ', '1. ', '<img src=x onerror=alert(1)>', '<script>alert(1)</script>', 'javascript:', 'https://e.com/', 'data:text/html,',
        '"onclick="x', '</code>', '<a href="javascript:1">', '\u0000', '\u00001\u0000', 'text', ' '];
      const tags = new Set(['P', 'BR', 'STRONG', 'EM', 'DEL', 'CODE', 'PRE', 'A', 'H1', 'H2', 'H3', 'H4', 'H5', 'H6', 'UL', 'OL', 'LI',
        'BLOCKQUOTE', 'HR', 'TABLE', 'THEAD', 'TBODY', 'TR', 'TH', 'TD', 'DIV', 'SPAN', 'BUTTON']);
      const attrs = new Set(['href', 'target', 'rel', 'class', 'type', 'data-copy', 'aria-label', 'start']);
      let seed = 12345;
      const rand = (n) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
      for (let k = 0; k < 3000; k++) {
        let src = '';
        for (let j = rand(40); j > 0; j--) src += pieces[rand(pieces.length)];
        const t = document.createElement('template');
        t.innerHTML = window.deepcpuRenderMarkdown(src);
        for (const e of t.content.querySelectorAll('*')) {
          if (!tags.has(e.tagName)) return { src, why: 'tag ' + e.tagName };
          for (const a of e.attributes) {
            if (!attrs.has(a.name)) return { src, why: 'attribute ' + a.name };
            if (a.name === 'href' && !/^(https?:\/\/|mailto:)/i.test(a.value)) return { src, why: 'href ' + a.value };
          }
        }
      }
      return null;
    });
    assert.equal(bad, null, JSON.stringify(bad));
    await page.close();
  });
});
