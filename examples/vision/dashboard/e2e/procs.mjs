// Child processes for the browser test: start, wait for a line, keep a log tail, stop for sure.

import { spawn } from "node:child_process";
import net from "node:net";

const TAIL_LINES = 40;

/** A port that was free a moment ago (the kernel's pick for port 0). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export class Child {
  /**
   * Own process group, so that stopping it also reaches whatever it started (weir, the
   * enricher) even if it dies before it could stop them itself.
   */
  constructor(name, cmd, args) {
    this.name = name;
    this.tail = [];
    this.exited = null;
    this.proc = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], detached: true });
    this.exitPromise = new Promise((resolve) => {
      this.proc.on("exit", (code, signal) => {
        this.exited = { code, signal };
        resolve(this.exited);
      });
      this.proc.on("error", (e) => {
        this.exited = { code: null, signal: null, error: e.message };
        resolve(this.exited);
      });
    });
    this.lineWaiters = [];
    for (const s of [this.proc.stdout, this.proc.stderr]) {
      let partial = "";
      s.setEncoding("utf8");
      s.on("data", (chunk) => {
        const lines = (partial + chunk).split("\n");
        partial = lines.pop();
        for (const line of lines) this.onLine(line);
      });
    }
  }

  onLine(line) {
    this.tail.push(line);
    if (this.tail.length > TAIL_LINES) this.tail.shift();
    for (const w of [...this.lineWaiters]) {
      const m = line.match(w.re);
      if (m) {
        this.lineWaiters.splice(this.lineWaiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  }

  /** Resolves with the match of the first output line matching re; rejects on exit or timeout. */
  waitForLine(re, timeoutMs) {
    return new Promise((resolve, reject) => {
      const w = { re, resolve };
      this.lineWaiters.push(w);
      const timer = setTimeout(() => reject(new Error(`${this.name}: no line matching ${re} within ${timeoutMs} ms`)), timeoutMs);
      const done = (v) => {
        clearTimeout(timer);
        return v;
      };
      w.resolve = (m) => resolve(done(m));
      this.exitPromise.then((e) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (${e.error ?? e.signal ?? `code ${e.code}`}) before printing ${re}`));
      });
    });
  }

  /** signal, then SIGKILL to the whole group after graceMs. */
  async stop(signal = "SIGTERM", graceMs = 5000) {
    if (this.exited) {
      this.signalGroup("SIGKILL");
      return this.exited;
    }
    this.signalGroup(signal);
    const timer = setTimeout(() => this.signalGroup("SIGKILL"), graceMs);
    const e = await this.exitPromise;
    clearTimeout(timer);
    // The leader is gone; anything it left behind in its group goes too.
    this.signalGroup("SIGKILL");
    return e;
  }

  signalGroup(signal) {
    try {
      process.kill(-this.proc.pid, signal);
    } catch {
      // already gone
    }
  }

  describeTail() {
    return this.tail.map((l) => `    ${this.name}| ${l}`).join("\n");
  }
}
