// Shared helpers for the black-box tests of `deepcpu serve`: find the binary and the test
// models, start a server on a free loopback port, wait for /health, and always stop it.
// The tests themselves (openai_client, concurrency, webui) own what they check; this file
// only owns process lifetime and the few HTTP look-ups several tests need.

import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

// DEEPCPU_BINARY overrides; scripts/test.sh builds <repo>/build/deepcpu before calling us.
export function deepcpuBinary() {
  const bin = process.env.DEEPCPU_BINARY || path.join(repoRoot, 'build', 'deepcpu');
  if (!fs.existsSync(bin)) {
    throw new Error(`${bin} does not exist. Build it (ninja -C build deepcpu) or set DEEPCPU_BINARY.`);
  }
  return bin;
}

// The bundled default model (models/README.md).
export const storiesModel = path.join(repoRoot, 'models', 'stories260K.gguf');

// ds3-tiny (DeepSeek-V3 architecture, real R1 chat template, random weights). The CMake
// build unpacks it into build/test-data; otherwise decompress the committed .xz once per
// process into a temp dir that is removed on exit.
let ds3TinyPath = null;
export function ds3TinyModel() {
  if (ds3TinyPath) return ds3TinyPath;
  const built = path.join(repoRoot, 'build', 'test-data', 'models', 'ds3-tiny-Q8_0.gguf');
  if (fs.existsSync(built)) return (ds3TinyPath = built);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'deepcpu-node-'));
  cleanupDirs.push(dir);
  const out = path.join(dir, 'ds3-tiny-Q8_0.gguf');
  const xzFile = path.join(repoRoot, 'tests', 'data', 'models', 'ds3-tiny-Q8_0.gguf.xz');
  const bytes = execFileSync('xz', ['-dc', xzFile], { maxBuffer: 512 << 20 });
  fs.writeFileSync(out, bytes);
  return (ds3TinyPath = out);
}

// A port the kernel just handed out on 127.0.0.1. Another process can take it before the
// server binds, so startServer() retries on an early exit.
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Every child we start, so that a failing or interrupted test never leaves a server behind.
const children = new Set();
const cleanupDirs = [];
function killAllSync() {
  for (const child of children) {
    try { child.kill('SIGKILL'); } catch { /* already gone */ }
  }
  for (const dir of cleanupDirs) {
    try { fs.rmSync(dir, { recursive: true, force: true }); } catch { /* best effort */ }
  }
}
process.on('exit', killAllSync);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => { killAllSync(); process.exit(130); });
}

const kLogKeepBytes = 64 * 1024;  // enough server log to explain a failure, bounded

// Starts `deepcpu serve -m model --host 127.0.0.1 --port P ...args` and resolves once
// GET /health answers 200. Returns { url, baseURL, port, apiKey, child, log(), stop() }.
// Rejects (with the server's log) if the process exits or /health is not 200 in time.
export async function startServer({ model = storiesModel, args = [], apiKey = null,
                                    readyTimeoutMs = 120_000, attempts = 3 } = {}) {
  let lastErr;
  for (let i = 0; i < attempts; i++) {
    const port = await freePort();
    try {
      return await startOnce({ model, args, apiKey, readyTimeoutMs, port });
    } catch (e) {
      lastErr = e;
      // Only a port taken between freePort() and the bind is worth another try.
      if (!e.exitedEarly || !/address|bind|in use/i.test(e.message)) break;
    }
  }
  throw lastErr;
}

async function startOnce({ model, args, apiKey, readyTimeoutMs, port }) {
  const argv = ['serve', '-m', model, '--host', '127.0.0.1', '--port', String(port), ...args];
  if (apiKey) argv.push('--api-key', apiKey);
  const child = spawn(deepcpuBinary(), argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let logText = '';
  const onData = (d) => {
    logText += d.toString();
    if (logText.length > 2 * kLogKeepBytes) logText = logText.slice(-kLogKeepBytes);
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  let exited = null;
  const exitPromise = new Promise((resolve) => child.on('exit', (code, signal) => {
    exited = { code, signal };
    children.delete(child);
    resolve(exited);
  }));

  const url = `http://127.0.0.1:${port}`;
  const server = {
    url, port, apiKey, child,
    baseURL: `${url}/v1`,
    cmdline: `deepcpu ${argv.join(' ')}`,
    log: () => logText,
    exited: () => exited,
    async stop() {
      if (exited) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      const r = await exitPromise;
      clearTimeout(timer);
      return r;
    },
  };

  const deadline = Date.now() + readyTimeoutMs;
  let lastStatus = 'no answer';
  while (Date.now() < deadline) {
    if (exited) {
      const err = new Error(`${server.cmdline} exited (${JSON.stringify(exited)}) before /health was 200:\n${logText}`);
      err.exitedEarly = true;
      throw err;
    }
    try {
      const r = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
      lastStatus = r.status;
      await r.arrayBuffer();
      if (r.status === 200) return server;
    } catch (e) {
      lastStatus = e.message;
    }
    await sleep(50);
  }
  await server.stop();
  throw new Error(`${server.cmdline}: /health not 200 after ${readyTimeoutMs} ms (last: ${lastStatus}):\n${logText}`);
}

// Authorization header for raw fetches against a server started with an API key.
export function authHeaders(server) {
  return server.apiKey ? { Authorization: `Bearer ${server.apiKey}` } : {};
}

// Number of busy slots, from GET /slots (llama-server shape: an array of slots with
// `is_processing`; also accepted: { slots: [...] } and a `state` field). null if the
// endpoint is missing or its shape is unknown.
export async function busySlots(server) {
  const r = await fetch(`${server.url}/slots`, { headers: authHeaders(server), signal: AbortSignal.timeout(5000) });
  if (r.status !== 200) { await r.arrayBuffer(); return null; }
  const body = await r.json();
  const slots = Array.isArray(body) ? body : Array.isArray(body?.slots) ? body.slots : null;
  if (!slots) return null;
  return { total: slots.length, busy: slots.filter(slotIsBusy).length };
}

function slotIsBusy(s) {
  if (typeof s.is_processing === 'boolean') return s.is_processing;
  if (typeof s.state === 'number') return s.state !== 0;  // llama.cpp: 0 idle, 1 processing
  if (typeof s.state === 'string') return !/^idle$/i.test(s.state);
  if (typeof s.busy === 'boolean') return s.busy;
  throw new Error(`/slots entry has no is_processing/state/busy field: ${JSON.stringify(s)}`);
}
