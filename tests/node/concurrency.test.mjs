// `deepcpu serve -np 4` under 8 simultaneous streaming clients (official openai client):
// every request succeeds, never more than 4 run at once (GET /slots), the rest wait in the
// queue, and each output is byte-identical to the same request run alone (batch invariance,
// issue 3). Also: a client that aborts mid-stream frees its slot.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { busySlots, ds3TinyModel, startServer } from './server_util.mjs';

const kSlots = 4;
const kClients = 8;
const kMaxTokens = 48;

// ds3-tiny has random weights, so it practically never samples EOS: every request runs its
// full max_tokens, which keeps the slots busy long enough for /slots to see them.
const prompts = Array.from({ length: kClients }, (_, i) =>
  `Request ${i}: ${['count to ten', 'name a colour', 'write a haiku', 'say hello', 'list three fruits',
                    'describe the sea', 'spell cat', 'name a planet'][i]}, please.`);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls /slots until no slot is busy or timeoutMs passes; returns the last reading.
async function waitIdle(server, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  let s = await busySlots(server);
  while (s.busy > 0 && Date.now() < deadline) {
    await sleep(20);
    s = await busySlots(server);
  }
  return s;
}

// Streams one chat request; returns the text (reasoning + answer, both count as output) and
// the client-side times of its first and last text deltas.
async function streamOne(client, prompt, extra = {}) {
  const t0 = performance.now();
  const stream = await client.chat.completions.create({
    model: 'x', messages: [{ role: 'user', content: prompt }], max_tokens: kMaxTokens, temperature: 0,
    stream: true, stream_options: { include_usage: true }, ...extra,
  });
  let text = '';
  let firstAt = null;
  let lastAt = null;
  let finish = null;
  let usage = null;
  for await (const c of stream) {
    if (c.usage) usage = c.usage;
    for (const ch of c.choices ?? []) {
      const piece = (ch.delta?.reasoning_content ?? '') + (ch.delta?.content ?? '');
      if (piece) {
        text += piece;
        lastAt = performance.now();
        firstAt ??= lastAt;
      }
      if (ch.finish_reason) finish = ch.finish_reason;
    }
  }
  return { text, firstAt, lastAt, finish, usage, t0 };
}

describe(`-np ${kSlots} with ${kClients} concurrent clients`, () => {
  let server;
  let client;
  before(async () => {
    server = await startServer({ model: ds3TinyModel(), args: ['-c', '4096', '-np', String(kSlots), '-t', '2', '--metrics'] });
    client = new OpenAI({ baseURL: server.baseURL, apiKey: 'unused', maxRetries: 0, timeout: 300_000 });
  });
  after(async () => { await server?.stop(); });

  test('all succeed, at most 4 busy, some queued, outputs equal to solo runs', async () => {
    const initial = await busySlots(server);
    assert.ok(initial, 'GET /slots is missing or has an unknown shape');
    assert.equal(initial.total, kSlots, `/slots lists ${initial.total} slots for -np ${kSlots}`);
    assert.equal(initial.busy, 0);

    // Poll /slots for as long as the clients run.
    let polling = true;
    const observed = [];
    const poller = (async () => {
      while (polling) {
        const s = await busySlots(server).catch(() => null);
        if (s) observed.push(s.busy);
        await sleep(5);
      }
    })();
    let results;
    try {
      results = await Promise.all(prompts.map((p) => streamOne(client, p)));
    } finally {
      polling = false;
      await poller;
    }

    for (const [i, r] of results.entries()) {
      assert.ok(r.text.length > 0, `request ${i}: no text`);
      assert.equal(r.finish, 'length', `request ${i}: finish_reason ${r.finish}`);
      assert.equal(r.usage?.completion_tokens, kMaxTokens, `request ${i}: usage`);
    }
    const maxBusy = Math.max(...observed);
    assert.ok(observed.length > 0, 'no /slots samples');
    assert.ok(maxBusy <= kSlots, `/slots showed ${maxBusy} busy slots with -np ${kSlots}`);
    assert.equal(maxBusy, kSlots, `never saw all ${kSlots} slots busy (samples: ${observed.length})`);

    // A queued request cannot produce its first token before some running request has
    // produced its last one (its slot must free first).
    const firstEnd = Math.min(...results.map((r) => r.lastAt));
    const waited = results.filter((r) => r.firstAt >= firstEnd).length;
    assert.ok(waited >= 1, 'no request waited for a slot; were more than 4 running?');

    // Batch invariance: the same requests one at a time give byte-identical text.
    for (const [i, p] of prompts.entries()) {
      const solo = await streamOne(client, p);
      assert.equal(results[i].text, solo.text, `request ${i}: concurrent and solo outputs differ`);
    }
  });

  test('a client that aborts mid-stream frees its slot', async () => {
    // Long requests, aborted after a few deltas, fill every slot; if an abort leaked its slot
    // the next request would wait for the whole long generation.
    const controllers = [];
    const aborted = [];
    for (let i = 0; i < kSlots; i++) {
      const ac = new AbortController();
      controllers.push(ac);
      aborted.push((async () => {
        const stream = await client.chat.completions.create({
          model: 'x', messages: [{ role: 'user', content: `Abort me ${i}` }], max_tokens: 3000, temperature: 0, stream: true,
        }, { signal: ac.signal });
        let n = 0;
        try {
          for await (const c of stream) {
            if (c.choices?.[0]?.delta && ++n === 3) ac.abort();
          }
        } catch (e) {
          if (!(e instanceof OpenAI.APIUserAbortError) && e.name !== 'AbortError') throw e;
        }
        return n;
      })());
    }
    const counts = await Promise.all(aborted);
    assert.ok(counts.every((n) => n >= 3), `aborted streams saw ${counts} chunks`);

    // Every slot is idle again soon (one engine step each; the bound only guards a hang).
    const s = await waitIdle(server);
    assert.equal(s.busy, 0, `slots still busy after the clients went away: ${JSON.stringify(s)}`);

    const r = await client.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'after the aborts' }],
                                                     max_tokens: 8, temperature: 0 });
    assert.equal(r.usage.completion_tokens, 8);
    // The response can reach us a moment before the scheduler releases the slot, so poll.
    const idle = await waitIdle(server);
    assert.equal(idle.busy, 0, `slot still busy after a finished request: ${JSON.stringify(idle)}`);
  });
});
