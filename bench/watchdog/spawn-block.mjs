// How long Node's spawn() blocks the event loop, and its CPU per process: n sequential spawns of a command (default
// cat, looked up on PATH; give an absolute path to skip the lookup), each with piped stdio and a 5-byte stdin.
// Usage: node bench/watchdog/spawn-block.mjs [command] [n]
import { spawn } from 'node:child_process';

const cmd = process.argv[2] ?? 'cat';
const n = Number(process.argv[3] ?? 300);
let blocked = 0;
const t0 = performance.now();
const c0 = process.cpuUsage();
for (let i = 0; i < n; i++) {
  await new Promise((resolve) => {
    const t = performance.now();
    const c = spawn(cmd, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    blocked += performance.now() - t;
    c.stdout.resume();
    c.stderr.resume();
    c.on('close', resolve);
    c.stdin.end('hello');
  });
}
const cu = process.cpuUsage(c0);
console.log(
  `${cmd}: ${((performance.now() - t0) / n).toFixed(2)} ms per process, spawn() blocks ${(blocked / n).toFixed(2)} ms, ` +
    `parent CPU ${((cu.user + cu.system) / n).toFixed(0)} µs per process, RSS ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB`,
);
