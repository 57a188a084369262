/**
 * netns gives an OCI-image instance its own network namespace: images run their own watchdog on the fixed port
 * 8080 (and of-watchdog its metrics on 8081, the function's server on 127.0.0.1:3000 or wherever its template
 * says), so instances of one image cannot share the host's. Each gets the named namespace `hf-<instance>` with a
 * veth pair: `hfv<slot>` on the host at 10.213.x.(4k+1)/30 and `eth0` inside at 10.213.x.(4k+2)/30, its default
 * route pointing back at the host. The provider reaches the watchdog at http://<inside address>:8080. There is no
 * NAT: an instance reaches the host (what listens on all addresses) but nothing beyond it. Slots are claimed by
 * creating the host-side link, which fails for a slot another process (or a killed provider) holds.
 */
import { tool } from './runtime.js';

/** SLOTS is how many /30 networks 10.213.0.0/16 holds. */
const SLOTS = 16384;
const claimed = new Map<string, number>();
let next = 0;

/** slotAddresses returns the host and instance addresses of a slot (pure). */
export function slotAddresses(slot: number): { host: string; inside: string } {
  const base = slot * 4;
  const a = `10.213.${base >> 8}`;
  return { host: `${a}.${(base & 255) + 1}`, inside: `${a}.${(base & 255) + 2}` };
}

/** netnsName is the named network namespace of an instance (ip netns). */
export function netnsName(id: string): string {
  return `hf-${id}`;
}

/** netnsPath is where ip netns keeps it. */
export function netnsPath(id: string): string {
  return `/run/netns/${netnsName(id)}`;
}

/** createNetwork makes the namespace and veth pair of instance id and returns the instance's address. */
export async function createNetwork(id: string): Promise<string> {
  const ns = netnsName(id);
  if (claimed.has(id)) return slotAddresses(claimed.get(id)!).inside;
  await deleteNetwork(id);
  await tool('ip', ['netns', 'add', ns]);
  try {
    let slot = -1;
    for (let tries = 0; tries < SLOTS; tries++) {
      const s = (next + tries) % SLOTS;
      if ([...claimed.values()].includes(s)) continue;
      try {
        await tool('ip', ['link', 'add', `hfv${s}`, 'type', 'veth', 'peer', 'name', `hfp${s}`, 'netns', ns]);
        slot = s;
        break;
      } catch (e) {
        if (!/exists/i.test((e as Error).message)) throw e;
      }
    }
    if (slot < 0) throw new Error('no free instance network in 10.213.0.0/16');
    next = (slot + 1) % SLOTS;
    claimed.set(id, slot);
    const { host, inside } = slotAddresses(slot);
    await tool('ip', ['addr', 'add', `${host}/30`, 'dev', `hfv${slot}`]);
    await tool('ip', ['link', 'set', `hfv${slot}`, 'up']);
    await tool('ip', ['-n', ns, 'link', 'set', `hfp${slot}`, 'name', 'eth0']);
    await tool('ip', ['-n', ns, 'addr', 'add', `${inside}/30`, 'dev', 'eth0']);
    await tool('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    await tool('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    await tool('ip', ['-n', ns, 'route', 'add', 'default', 'via', host]);
    return inside;
  } catch (e) {
    await deleteNetwork(id);
    throw new Error(`cannot give instance ${id} its network: ${(e as Error).message}`);
  }
}

/** deleteNetwork removes the namespace (which takes the veth pair with it); nothing when there is none. */
export async function deleteNetwork(id: string): Promise<void> {
  claimed.delete(id);
  const out = await tool('ip', ['netns', 'list']).catch(() => '');
  if (out.split('\n').some((l) => l.split(' ')[0] === netnsName(id))) await tool('ip', ['netns', 'del', netnsName(id)]);
}
