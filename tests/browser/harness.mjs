// harness.mjs: the real parts the browser tests drive: a private MariaDB
// (contrib/mariadb-local, or the one contrib/check started, given as
// CBD_MARIADB_SOCKET), a fresh database and the real daemon per test
// file, Debian's chromium through playwright-core, and axe-core.
//
//   const h = await startHarness({ config: { ... } });
//   ... h.api('POST', '/v1/agents', body) ... h.page({ phone: true }) ...
//   await h.stop();
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '..', '..');
export const ARTIFACTS = path.join(here, 'artifacts');
const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

function binary() {
  if (process.env.CBD_BINARY) return process.env.CBD_BINARY;
  for (const p of [path.join(ROOT, 'build', 'normal', 'callbackd'), path.join(ROOT, 'callbackd')]) {
    if (fs.existsSync(p)) return p;
  }
  throw new Error('callbackd not built: run ./contrib/check or make, or set CBD_BINARY');
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

async function waitUntil(pred, timeoutMs, what) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function sql(socket, statement) {
  execFileSync('mariadb', ['-S', socket, '-u', 'root', '-e', statement], { stdio: 'pipe' });
}

/** A MariaDB: the given socket, or a private server started here. */
function startMariadb() {
  if (process.env.CBD_MARIADB_SOCKET) return { socket: process.env.CBD_MARIADB_SOCKET, stop() {} };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cbd-web-mdb-'));
  execFileSync(path.join(ROOT, 'contrib', 'mariadb-local'), ['start', dir], { stdio: 'pipe' });
  return {
    socket: path.join(dir, 'mysqld.sock'),
    stop() {
      try { execFileSync(path.join(ROOT, 'contrib', 'mariadb-local'), ['stop', dir], { stdio: 'pipe' }); } catch (e) { /* gone */ }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Start MariaDB (unless given), a database and the daemon with config
 * (extra keys), and a headless chromium. Returns the harness.
 */
export async function startHarness({ config = {} } = {}) {
  const mdb = startMariadb();
  const db = `w_${randomBytes(8).toString('hex')}`;
  sql(mdb.socket, `CREATE DATABASE \`${db}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cbd-web-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const conf = {
    listen_addr: '127.0.0.1', listen_port: port, public_url: url,
    db_socket: mdb.socket, db_name: db, db_user: 'root', log_level: 'info',
    store_threads: 2, web_dir: path.join(ROOT, 'web'), outbox_poll_ms: 100,
    rate_ip_per_10min: 0, rate_phone_per_hour: 0, max_connections_per_addr: 0,
    // Agents without shift rules are on duty, as in the integration tests;
    // the tests that need hours give agents shifts of their own.
    agents_without_shifts: 'always',
    ...config,
  };
  const confPath = path.join(work, 'callbackd.conf');
  fs.writeFileSync(confPath, Object.entries(conf).map(([k, v]) => `${k} = ${v}`).join('\n') + '\n');
  const bin = binary();
  const adminKey = execFileSync(bin, ['-c', confPath, '--create-key', 'admin', 'browser-admin'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  const logPath = path.join(work, 'daemon.log');
  const log = fs.openSync(logPath, 'a');
  const proc = spawn(bin, ['-c', confPath], { stdio: ['ignore', log, log] });
  await waitUntil(async () => {
    if (proc.exitCode !== null) throw new Error(`daemon exited ${proc.exitCode}:\n${fs.readFileSync(logPath, 'utf8').slice(-3000)}`);
    try { return (await fetch(`${url}/healthz`)).ok; } catch (e) { return false; }
  }, 30000, 'the daemon');
  const browser = await chromium.launch({
    executablePath: process.env.CBD_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    // root in a container has no user namespaces for chromium's sandbox
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
  fs.mkdirSync(ARTIFACTS, { recursive: true });

  const h = {
    url, adminKey, browser, logPath,
    /** One API call with a key (default: the admin's); parsed JSON. */
    async api(method, p, body, key = adminKey, expect = [200, 201, 202, 204]) {
      const headers = { Authorization: `Bearer ${key}` };
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      const r = await fetch(url + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await r.text();
      if (!expect.includes(r.status)) throw new Error(`${method} ${p} -> ${r.status}: ${text.slice(0, 500)}`);
      return text ? JSON.parse(text) : null;
    },
    /** An agent and its API key. */
    async agent(name, fields = {}) {
      const a = await h.api('POST', '/v1/agents', { name, display_name: name[0].toUpperCase() + name.slice(1), timezone: 'Europe/London', team: 'blue', capacity: 4, ...fields });
      const k = await h.api('POST', '/v1/keys', { role: 'agent', name: `${name}-key`, agent_id: a.id });
      return { ...a, key: k.key };
    },
    /** A page in a new context: phone-sized (390x844) unless wide. */
    async page({ wide = false, timezoneId = 'Europe/London' } = {}) {
      const ctx = await browser.newContext({
        viewport: wide ? { width: 1280, height: 900 } : { width: 390, height: 844 },
        deviceScaleFactor: 1, isMobile: !wide, hasTouch: !wide, timezoneId, locale: 'en-GB',
      });
      const page = await ctx.newPage();
      page.on('pageerror', (e) => { h.pageErrors.push(String(e)); });
      // A page that breaks its own Content-Security-Policy says so here.
      page.on('console', (m) => { if (m.type() === 'error' && /Content Security Policy|Refused to/.test(m.text())) h.pageErrors.push(m.text()); });
      return page;
    },
    pageErrors: [],
    /** axe-core's serious and critical violations on the page. */
    async axe(page) {
      // evaluate, not a script tag: the pages' CSP refuses inline scripts.
      await page.evaluate(AXE_SOURCE);
      const res = await page.evaluate(async () => window.axe.run(document, { resultTypes: ['violations'] }));
      return res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
    },
    async screenshot(page, name) {
      await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
    },
    async stop() {
      await browser.close().catch(() => {});
      proc.kill('SIGTERM');
      await waitUntil(() => proc.exitCode !== null || proc.signalCode !== null, 30000, 'the daemon to stop');
      fs.closeSync(log);
      try { sql(mdb.socket, `DROP DATABASE IF EXISTS \`${db}\``); } catch (e) { /* the server went first */ }
      mdb.stop();
      if (proc.exitCode !== 0) throw new Error(`daemon exited ${proc.exitCode} on SIGTERM:\n${fs.readFileSync(logPath, 'utf8').slice(-3000)}`);
    },
  };
  return h;
}
