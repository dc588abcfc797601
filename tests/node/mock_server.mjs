// A stand-in for `deepcpu serve` that the web-page test drives when it wants to check the
// page alone: it serves src/serve/webui/index.html at GET / and answers the API with canned
// streams (reasoning, Markdown, slow, errors), recording every chat request so a test can
// see what the page sent and whether the page hung up. Not a model: the scenario is picked
// by a "[scenario:NAME]" tag in the last user message.

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const indexHtmlPath = path.join(repoRoot, 'src', 'serve', 'webui', 'index.html');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The Markdown answer of the default scenario. Includes markup that must stay text.
export const kMarkdownAnswer = [
  '## Result\n\n',
  'The answer is **42**, *surely*. Use `print(42)` or see ',
  '[the docs](https://example.com/docs).\n\n',
  '- first item\n- second item\n\n',
  '1. one\n2. two\n\n',
  '```python\nprint("<b>not bold</b>")\n```\n\n',
  'Evil: <img src=x onerror="window.__xss=1"> and [click](javascript:window.__xss=2) ',
  '<script>window.__xss=3</script> done.',
];
export const kReasoning = ['Let me ', 'think about ', 'this question ', 'step by step. ', 'It is 6 times 7.'];

function errorBody(message, type, code) {
  return JSON.stringify({ error: { message, type, code } });
}

// Starts the mock on 127.0.0.1 (free port). Options: apiKey (401 without it),
// chunkDelayMs (between SSE chunks). Returns { url, requests, aborted, close() }.
export async function startMockServer({ apiKey = null, chunkDelayMs = 40 } = {}) {
  const state = { requests: [], aborted: 0 };
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    const authOk = !apiKey || req.headers.authorization === `Bearer ${apiKey}`;
    const json = (status, body) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    if (req.method === 'GET' && url.pathname === '/') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(fs.readFileSync(indexHtmlPath));
      return;
    }
    if (req.method === 'GET' && url.pathname === '/health') return json(200, { status: 'ok' });
    if (!authOk && url.pathname !== '/health') {
      return json(401, errorBody('Invalid API key', 'authentication_error', 'invalid_api_key'));
    }
    if (req.method === 'GET' && url.pathname === '/props') return json(200, { model_path: '/models/mock-r1.gguf' });
    if (req.method === 'GET' && url.pathname === '/v1/models') return json(200, { object: 'list', data: [{ id: 'mock-r1', object: 'model' }] });
    if (req.method !== 'POST' || url.pathname !== '/v1/chat/completions') {
      return json(404, errorBody(`no route ${req.method} ${url.pathname}`, 'invalid_request_error', 'not_found'));
    }

    let raw = '';
    for await (const part of req) raw += part;
    let body;
    try { body = JSON.parse(raw); } catch { return json(400, errorBody('request body is not JSON', 'invalid_request_error', null)); }
    const record = { body, headers: req.headers, aborted: false, finished: false };
    state.requests.push(record);
    const last = [...body.messages].reverse().find((m) => m.role === 'user')?.content ?? '';
    const scenario = /\[scenario:([\w-]+)\]/.exec(last)?.[1] ?? 'markdown';

    if (scenario === 'bad-request') {
      return json(400, errorBody("request body: 'messages[0].content' must be a string or an array of parts; got a number.", 'invalid_request_error', null));
    }

    if (scenario === 'json') {  // a server that ignores "stream"
      record.finished = true;
      return json(200, { id: 'chatcmpl-json', object: 'chat.completion', created: 0, model: 'mock-r1',
        choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', reasoning_content: 'Short thought.', content: 'Whole *answer*.' } }],
        usage: { prompt_tokens: 5, completion_tokens: 6, total_tokens: 11 },
        timings: { prompt_n: 5, prompt_ms: 1, predicted_n: 6, predicted_ms: 200, predicted_per_second: 30 } });
    }

    let closed = false;
    res.on('close', () => { if (!record.finished) { closed = true; record.aborted = true; state.aborted++; } });
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    const id = `chatcmpl-mock-${state.requests.length}`;
    let n = 0;
    const send = async (delta, finishReason = null, extra = {}) => {
      if (closed) return false;
      res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: 0, model: 'mock-r1',
        choices: [{ index: 0, delta, finish_reason: finishReason }], ...extra })}\n\n`);
      if (delta.content || delta.reasoning_content) n++;
      await sleep(chunkDelayMs);
      return !closed;
    };
    const end = async (finishReason) => {
      await send({}, finishReason);
      if (body.stream_options?.include_usage) {
        res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: 0, model: 'mock-r1', choices: [],
          usage: { prompt_tokens: 11, completion_tokens: n, total_tokens: 11 + n },
          timings: { prompt_n: 11, prompt_ms: 5.5, predicted_n: n, predicted_ms: n * 40, predicted_per_second: 25 } })}\n\n`);
      }
      res.write('data: [DONE]\n\n');
      record.finished = true;
      res.end();
    };

    await send({ role: 'assistant', content: null });
    if (scenario === 'markdown') {
      for (const r of kReasoning) if (!await send({ reasoning_content: r })) return;
      for (const c of kMarkdownAnswer) if (!await send({ content: c })) return;
      return end('stop');
    }
    if (scenario === 'reasoning-only') {  // a tiny random model that never closes </think>
      for (const r of kReasoning) if (!await send({ reasoning_content: r })) return;
      return end('length');
    }
    if (scenario === 'raw-think') {  // --reasoning-format none: tags left in content
      for (const c of ['<think>\nraw ', 'thoughts here', '\n</think>\n\n', 'Raw **answer**.']) if (!await send({ content: c })) return;
      return end('stop');
    }
    if (scenario === 'raw-think-open') {  // none, with the template's "<think>\n" in the prompt
      for (const c of ['thinking ', 'without a tag', '</think>', '\n\nThe answer.']) if (!await send({ content: c })) return;
      return end('stop');
    }
    if (scenario === 'drop') {  // the server dies mid-answer
      await send({ content: 'Half an ' });
      record.finished = true;
      res.socket.destroy();
      return;
    }
    if (scenario === 'slow') {  // streams until the client hangs up (or 60 s)
      for (let i = 0; i < 600; i++) if (!await send({ content: `word${i} ` })) return;
      return end('length');
    }
    if (scenario === 'error-midstream') {
      await send({ content: 'Partial ' });
      res.write(`data: ${errorBody('the KV cache is full: 4096 of 4096 tokens in use', 'server_error', 'kv_full')}\n\n`);
      record.finished = true;
      res.end();
      return;
    }
    // echo: the conversation the page sent, for the history checks.
    await send({ content: `You sent ${body.messages.length} messages.` });
    return end('stop');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    requests: state.requests,
    get aborted() { return state.aborted; },
    close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(() => resolve()); }),
  };
}
