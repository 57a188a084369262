/**
 * static serves the files under static_path (of-watchdog's static mode): GET and HEAD only, a directory as its
 * index.html, nothing outside the root.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize, resolve as resolvePath } from 'node:path';
import type { Executor } from './executor.js';

const mime: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.gif': 'image/gif',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
};

/** StaticExecutor serves files from one directory. */
export class StaticExecutor implements Executor {
  constructor(private readonly staticPath: string) {}

  run(req: IncomingMessage, res: ServerResponse): void {
    void this.serve(req, res);
  }

  close(): void {}

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' });
      res.end('Method not allowed\n');
      return;
    }
    const root = resolvePath(this.staticPath);
    let rel: string;
    try {
      rel = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    } catch {
      rel = '/';
    }
    let file = join(root, normalize('/' + rel));
    if (!file.startsWith(root)) file = root;
    try {
      let st = await stat(file);
      if (st.isDirectory()) {
        file = join(file, 'index.html');
        st = await stat(file);
      }
      res.writeHead(200, { 'Content-Type': mime[extname(file).toLowerCase()] ?? 'application/octet-stream', 'Content-Length': st.size });
      if (req.method === 'HEAD') res.end();
      else createReadStream(file).on('error', () => res.destroy()).pipe(res);
    } catch {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('404 page not found\n');
    }
  }
}
