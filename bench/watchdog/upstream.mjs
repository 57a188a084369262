// Benchmark upstream: a trivial function, or one that waits DELAY_MS before answering. Listens on $http_port.
import http from 'node:http';
const delay = Number(process.env.DELAY_MS || 0);
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    if (delay > 0) setTimeout(() => res.end('ok'), delay);
    else res.end('ok');
  });
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.http_port || 3000), '127.0.0.1');
