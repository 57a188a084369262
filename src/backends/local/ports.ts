/**
 * ports hands out 127.0.0.1 ports from the configured range. PortAllocator is pure bookkeeping (which ports this
 * backend holds); allocatePorts adds the one impure step, a bind probe, because other programs share the host.
 */
import { createServer } from 'node:net';

/** PortAllocator tracks the ports in [from, to] that this backend holds, handing them out round-robin. */
export class PortAllocator {
  private readonly held = new Set<number>();
  private next: number;

  /**
   * start is where the round-robin begins (default from). Backends in different processes that share a range
   * start at random points, so they rarely probe the same port at the same moment.
   */
  constructor(
    readonly from: number,
    readonly to: number,
    start = from,
  ) {
    if (!(Number.isInteger(from) && Number.isInteger(to) && from > 0 && to >= from && to <= 65535)) {
      throw new RangeError(`bad port range ${from}-${to}`);
    }
    this.next = Number.isInteger(start) && start >= from && start <= to ? start : from;
  }

  /** size is how many ports the range holds. */
  get size(): number {
    return this.to - this.from + 1;
  }

  /** inUse is how many ports are held. */
  get inUse(): number {
    return this.held.size;
  }

  /**
   * take returns the next port not held and not refused by skip, and holds it; undefined when none is left.
   * Round-robin, so a port just released is the last to be reused (a draining socket may still hold it).
   */
  take(skip: (port: number) => boolean = () => false): number | undefined {
    for (let i = 0; i < this.size; i++) {
      const p = this.next;
      this.next = p === this.to ? this.from : p + 1;
      if (this.held.has(p) || skip(p)) continue;
      this.held.add(p);
      return p;
    }
    return undefined;
  }

  /** hold marks a port as taken (e.g. restored from a previous run). */
  hold(port: number): void {
    this.held.add(port);
  }

  /** release gives a port back. */
  release(port: number): void {
    this.held.delete(port);
  }
}

/** canBind reports whether 127.0.0.1:port can be listened on right now. */
export function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** allocatePorts takes n ports that are free in the allocator and bindable now; it releases them all on failure. */
export async function allocatePorts(alloc: PortAllocator, n: number, probe: (port: number) => Promise<boolean> = canBind): Promise<number[]> {
  const got: number[] = [];
  const refused = new Set<number>();
  while (got.length < n) {
    const p = alloc.take((q) => refused.has(q));
    if (p === undefined) {
      for (const q of got) alloc.release(q);
      throw new Error(`no free port left in ${alloc.from}-${alloc.to} (${alloc.inUse} held)`);
    }
    if (await probe(p)) got.push(p);
    else {
      alloc.release(p);
      refused.add(p);
    }
  }
  return got;
}
