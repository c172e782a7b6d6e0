// The real roomcast binary, on a fixed loopback port and a SQLite file of its own, so a
// restart comes back at the same address with the same data.

import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import path from 'node:path';

const READY_TIMEOUT_MS = 30_000;
const EXIT_TIMEOUT_MS = 15_000;

/** Ask the kernel for a free port once; the server is then started (and restarted) on it. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

export function serverBinary(repoRoot) {
  return path.resolve(repoRoot, process.env.ROOMCAST_BIN ?? 'target/debug/roomcast');
}

export class RoomcastServer {
  /** `env`: more settings (ROOMCAST_*), over the defaults below. */
  constructor({ bin, port, dbPath, env = {} }) {
    this.bin = bin;
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.env = {
      ...process.env,
      ROOMCAST_BIND: `127.0.0.1:${port}`,
      ROOMCAST_DATABASE_URL: `sqlite://${dbPath}`,
      // Cheap password hashing: the test registers users, it does not measure argon2.
      ROOMCAST_ARGON2_MEMORY_KIB: '64',
      ROOMCAST_ARGON2_ITERATIONS: '1',
      ROOMCAST_LOG: 'warn',
      // Several users log in from one address during the run; keep the per-IP limit out of the way.
      ROOMCAST_RATE_AUTH_BURST: '1000',
      ...env,
    };
    this.child = null;
    this.output = []; // the last lines of stdout and stderr, for failure messages
    this.killOnExit = () => this.child?.kill('SIGKILL');
  }

  /** Spawn and resolve once it prints its listening line. */
  async start() {
    const child = spawn(this.bin, ['serve'], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    process.on('exit', this.killOnExit);
    const exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      // A missing or non-executable binary: spawn reports it here, and no 'exit' follows.
      child.once('error', (err) => resolve({ code: err.code, signal: null }));
    });
    this.exited = exited;
    this.capture(child.stderr);
    const ready = new Promise((resolve) => {
      this.capture(child.stdout, (line) => {
        if (line.startsWith(`roomcast listening on ${this.url}`)) resolve();
      });
    });
    const failed = exited.then(({ code, signal }) => {
      throw new Error(`${this.bin} exited before it was ready (code ${code}, signal ${signal}):\n${this.log()}`);
    });
    await withTimeout(Promise.race([ready, failed]), READY_TIMEOUT_MS, () => `roomcast not ready:\n${this.log()}`);
  }

  /** SIGTERM (a graceful shutdown: sockets get 1001) and wait for the process to be gone. */
  async stop() {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    try {
      await withTimeout(this.exited, EXIT_TIMEOUT_MS, () => 'roomcast ignored SIGTERM');
    } catch (err) {
      child.kill('SIGKILL');
      await this.exited;
      throw err;
    } finally {
      process.off('exit', this.killOnExit);
    }
  }

  capture(stream, onLine = () => {}) {
    createInterface({ input: stream }).on('line', (line) => {
      this.output.push(line);
      if (this.output.length > 200) this.output.shift();
      onLine(line);
    });
  }

  log() {
    return this.output.join('\n');
  }
}

function withTimeout(promise, ms, message) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(message())), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
