// Reference: a minimal one-hop undici proxy , listening on $PORT, forwarding to $TARGET.
import http from 'node:http';
import { Pool } from 'undici';
const pool = new Pool(process.env.TARGET, { connections: 128 });
const server = http.createServer(async (req, res) => {
  try {
    const r = await pool.request({ path: req.url, method: req.method, headers: req.headers, body: req.method === 'GET' || req.method === 'HEAD' ? null : req });
    res.writeHead(r.statusCode, r.headers);
    r.body.pipe(res);
  } catch (err) {
    res.writeHead(502);
    res.end(String(err));
  }
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT), '127.0.0.1', () => process.send?.('ready'));
