// Benchmark baseline: the least a Node HTTP server can do to run a process per request (what Node itself costs):
// spawn FPROCESS with the request body on its stdin, answer 200 and stream its stdout back; stderr is dropped, the
// environment is the server's own, nothing is logged or counted. Listens on 127.0.0.1:$PORT; sends 'ready' over IPC.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';

const [cmd, ...args] = (process.env.FPROCESS || 'cat').split(' ');
const server = createServer((req, res) => {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'ignore'] });
  child.on('error', () => res.destroy());
  res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
  req.pipe(child.stdin);
  child.stdout.pipe(res);
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT), '127.0.0.1', () => process.send?.('ready'));
