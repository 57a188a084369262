"""HyperFaaS Python function runtime (standard library only).

  python3 server.py <functionDir>   serve <functionDir>/function/handler.py on $http_port (default 3000)
  python3 server.py --generic       listen at once (answering 503), wait for {"type": "specialise", "dir", "port",
                                    "env"} on the IPC channel, answer {"type": "ready"} once the handler serves;
                                    {"type": "release"} ends the process.

The IPC channel is the one the watchdog opens for its Node runtime: a socket at fd $NODE_CHANNEL_FD carrying one JSON
object per line both ways, so the watchdog drives this runtime exactly as it drives the Node one.

The handler follows OpenFaaS's python3-http template: function/handler.py defines handle(event, context), with
event.body (bytes), event.headers, event.method, event.query, event.path and context.hostname. It returns a dict
{"statusCode", "body", "headers"} (a dict or list body is sent as JSON), a string, bytes, None, or a tuple
(body, status[, headers]). Dependencies installed at <functionDir>/python (pip --target) are importable.
"""
import importlib
import json
import os
import socket
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

# The function's folder is read-only: never try to write bytecode next to it. Logs go out line by line.
sys.dont_write_bytecode = True
for _stream in (sys.stdout, sys.stderr):
    try:
        _stream.reconfigure(line_buffering=True)
    except (AttributeError, ValueError):
        pass

HOST = os.environ.get('http_host') or '127.0.0.1'
STATUS_TEXT = BaseHTTPRequestHandler.responses


class Query(dict):
    """Query maps each query parameter to its first value; getlist gives all of them (like Flask's request.args)."""

    def __init__(self, pairs):
        super().__init__()
        self._all = {}
        for k, v in pairs:
            self._all.setdefault(k, []).append(v)
            self.setdefault(k, v)

    def getlist(self, key):
        return list(self._all.get(key, []))


class Event:
    def __init__(self, body, headers, method, query, path):
        self.body = body
        self.headers = headers
        self.method = method
        self.query = query
        self.path = path


class Context:
    def __init__(self):
        self.hostname = os.getenv('HOSTNAME') or socket.gethostname()


def _header_list(h):
    if not h:
        return []
    if isinstance(h, dict):
        return [(str(k), str(v)) for k, v in h.items()]
    return [(str(k), str(v)) for k, v in h]


def _body_bytes(body):
    """_body_bytes encodes a body and says which Content-Type goes with it when the handler named none."""
    if body is None:
        return b'', None
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body), 'text/html; charset=utf-8'
    if isinstance(body, (dict, list)):
        return json.dumps(body).encode('utf-8'), 'application/json'
    return str(body).encode('utf-8'), 'text/html; charset=utf-8'


def format_response(res):
    """format_response turns a handler's return value into (status, headers, body bytes)."""
    status, headers, body = 200, [], res
    if isinstance(res, dict):
        status = int(res.get('statusCode', 200))
        headers = _header_list(res.get('headers'))
        body = res.get('body', '')
    elif isinstance(res, tuple):
        body = res[0] if len(res) > 0 else ''
        status = int(res[1]) if len(res) > 1 else 200
        headers = _header_list(res[2]) if len(res) > 2 else []
    data, ctype = _body_bytes(body)
    if ctype and not any(k.lower() == 'content-type' for k, _ in headers):
        headers.append(('Content-Type', ctype))
    return status, headers, data


def _read_chunked(rfile):
    out = bytearray()
    while True:
        line = rfile.readline(65537)
        if not line:
            raise ConnectionError('client closed the request before its body was complete')
        size = int(line.split(b';', 1)[0].strip() or b'0', 16)
        if size == 0:
            while True:  # trailers, up to the empty line
                t = rfile.readline(65537)
                if not t or t in (b'\r\n', b'\n'):
                    return bytes(out)
        chunk = rfile.read(size)
        if len(chunk) < size:
            raise ConnectionError('client closed the request before its body was complete')
        out += chunk
        rfile.readline(3)


class Runtime:
    """Runtime holds the handler a server calls (None while generic: requests are answered 503)."""

    def __init__(self):
        self.handle = None
        self.warming = None


def make_handler_class(rt):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'
        server_version = 'hyperfaas-python'
        sys_version = ''
        disable_nagle_algorithm = True

        def log_message(self, format, *args):  # noqa: A002 (the base class's name)
            pass

        def _send(self, status, headers, data):
            reason = STATUS_TEXT.get(status, ('Unknown',))[0]
            lines = [f'HTTP/1.1 {status} {reason}']
            for k, v in headers:
                if k.lower() not in ('content-length', 'transfer-encoding', 'connection'):
                    lines.append(f'{k}: {v}')
            lines.append(f'Content-Length: {len(data)}')
            head = ('\r\n'.join(lines) + '\r\n\r\n').encode('latin-1', 'replace')
            self.wfile.write(head if self.command == 'HEAD' else head + data)

        def _serve(self):
            fn = rt.handle
            if fn is None and rt.warming is not None and self.headers.get('x-hyperfaas-warm') == '1':
                fn = rt.warming
            try:
                if self.headers.get('Transfer-Encoding', '').lower() == 'chunked':
                    body = _read_chunked(self.rfile)
                else:
                    n = int(self.headers.get('Content-Length') or 0)
                    body = self.rfile.read(n) if n > 0 else b''
                    if len(body) < n:
                        raise ConnectionError('client closed the request before its body was complete')
            except (ConnectionError, ValueError) as err:
                # Nobody is left to answer: drop the request, keep serving the others.
                print(f'request dropped: {err}', file=sys.stderr)
                self.close_connection = True
                return
            if fn is None:
                self._send(503, [('Content-Type', 'text/plain'), ('X-OpenFaaS-Internal', 'hyperfaas')], b'generic runtime: not specialised\n')
                return
            url = urlsplit(self.path)
            event = Event(body, self.headers, self.command, Query(parse_qsl(url.query, keep_blank_values=True)), url.path or '/')
            try:
                status, headers, data = format_response(fn(event, Context()))
            except Exception as err:  # the handler failed: 500 with its message, the trace in the log
                traceback.print_exc()
                status, headers, data = 500, [('Content-Type', 'text/plain')], f'{type(err).__name__}: {err}'.encode('utf-8')
            self._send(status, headers, data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def listen(rt, port):
    """listen starts a threaded HTTP server for rt on HOST:port and returns it (its port is server.server_address[1])."""
    server = Server((HOST, port), make_handler_class(rt))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def load_handler(directory):
    """load_handler imports <directory>/function/handler.py as the package module function.handler."""
    d = os.path.abspath(directory)
    file = os.path.join(d, 'function', 'handler.py')
    if not os.path.isfile(file):
        raise FileNotFoundError(f'{file} does not exist')
    for p in (os.path.join(d, 'python'), d):
        if p in sys.path:
            sys.path.remove(p)
        sys.path.insert(0, p)
    # A failed earlier attempt may have left another folder's package behind.
    for name in [n for n in sys.modules if n == 'function' or n.startswith('function.')]:
        del sys.modules[name]
    importlib.invalidate_caches()
    mod = importlib.import_module('function.handler')
    handle = getattr(mod, 'handle', None)
    if not callable(handle):
        raise TypeError(f'{file} defines no handle(event, context) function')
    return handle


def serve(directory, port=None):
    """serve loads directory's handler and listens on port (default $http_port or 3000); returns the server."""
    rt = Runtime()
    rt.handle = load_handler(directory)
    os.chdir(os.path.abspath(directory))
    return listen(rt, int(port if port is not None else os.environ.get('http_port') or 3000))


def _warm_handler(event, context):
    return {'statusCode': 200, 'body': {'warm': True, 'q': event.query.getlist('warm')}, 'headers': {'X-Warm': '1'}}


def _warm(rt, port):
    """_warm runs one request through the request path so its modules and code are loaded before the first real one."""
    import http.client

    rt.warming = _warm_handler
    try:
        c = http.client.HTTPConnection(HOST, port, timeout=5)
        c.request('POST', '/?warm=1', body=b'{"warm":true}', headers={'x-hyperfaas-warm': '1', 'Content-Type': 'application/json'})
        c.getresponse().read()
        c.close()
    except OSError:
        pass  # warming is best effort
    rt.warming = None


class Channel:
    """Channel is the watchdog's IPC socket: one JSON object per line."""

    def __init__(self, fd):
        self.fd = fd
        self.lock = threading.Lock()
        os.set_blocking(fd, True)
        os.set_inheritable(fd, False)

    def send(self, msg):
        data = (json.dumps(msg) + '\n').encode('utf-8')
        with self.lock:
            while data:
                data = data[os.write(self.fd, data):]

    def messages(self):
        buf = b''
        while True:
            chunk = os.read(self.fd, 65536)
            if not chunk:
                return
            buf += chunk
            while b'\n' in buf:
                line, buf = buf.split(b'\n', 1)
                if line.strip():
                    try:
                        yield json.loads(line)
                    except ValueError:
                        continue


def generic():
    """generic is the warm runtime: it listens now (503) and is specialised later over the IPC channel."""
    fd = os.environ.pop('NODE_CHANNEL_FD', None)
    os.environ.pop('NODE_CHANNEL_SERIALIZATION_MODE', None)
    if fd is None:
        print('--generic needs the watchdog IPC channel (NODE_CHANNEL_FD)', file=sys.stderr)
        sys.exit(2)
    ch = Channel(int(fd))
    rt = Runtime()
    server = listen(rt, int(os.environ.get('http_port') or 0))
    port = server.server_address[1]
    _warm(rt, port)
    ch.send({'type': 'generic', 'port': port})
    for m in ch.messages():
        if not isinstance(m, dict):
            continue
        kind = m.get('type')
        if kind in ('specialise', 'specialize'):
            t0 = time.perf_counter()
            try:
                os.environ.update({str(k): str(v) for k, v in (m.get('env') or {}).items()})
                handle = load_handler(m['dir'])
                os.chdir(os.path.abspath(m['dir']))
                want = int(m.get('port') or port)
                if want != port:
                    old = server
                    server = listen(rt, want)
                    port = want
                    old.shutdown()
                    old.server_close()
                rt.handle = handle
                ch.send({'type': 'ready', 'port': port, 'ms': (time.perf_counter() - t0) * 1000})
            except BaseException as err:  # a handler that fails to import (even with SystemExit) leaves us generic
                ch.send({'type': 'error', 'error': f'{type(err).__name__}: {err}'})
        elif kind == 'release':
            rt.handle = None
            ch.send({'type': 'released'})
            os._exit(0)
    os._exit(0)  # the watchdog went away


def main(argv):
    arg = argv[1] if len(argv) > 1 else os.getcwd()
    if arg == '--generic':
        generic()
        return
    server = serve(arg)
    print(f'python runtime listening on {HOST}:{server.server_address[1]}', flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass


if __name__ == '__main__':
    main(sys.argv)
