/**
 * oci builds the OCI runtime spec (config.json) runc runs one instance with. Pure: every path and number comes in
 * as an argument, so tests check the spec without runc.
 *
 * What the spec gives an instance: its own PID, IPC, UTS and mount namespaces (the host's network: instances listen
 * on 127.0.0.1 ports the provider probes); a read-only root made of read-only bind mounts of what the function needs;
 * private tmpfs /tmp and /dev/shm; its own uid and gid, no capabilities, no_new_privileges, a seccomp filter that
 * refuses mounting, namespaces, tracing and kernel administration; CPU, memory and pids limits in its cgroup.
 */

/** Bind is one read-only bind mount of a host path into the container. */
export interface Bind {
  source: string;
  destination: string;
}

/** ContainerSpec is everything oci needs for one instance. */
export interface ContainerSpec {
  /** rootfs is an (empty) directory: the root is read-only and consists only of mounts and symlinks made here. */
  rootfs: string;
  hostname: string;
  uid: number;
  gid: number;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  binds: Bind[];
  tmpBytes: number;
  shmBytes: number;
  /** cgroupsPath is the instance's cgroup, relative to each hierarchy ("/hyperfaas/<id>"). */
  cgroupsPath: string;
  /** cgroupDirs are host cgroup directories of the instance shown read-only at the same path (its ICS reads its load there). */
  cgroupDirs: string[];
  limits: { cpu?: number; memoryBytes?: number; pids?: number };
  /** arch is process.arch, for the seccomp filter. */
  arch: string;
  /** netns is a network namespace to join (/run/netns/<name>); without it the container shares the host's. */
  netns?: string;
}

const CPU_PERIOD_US = 100_000;

/** SECCOMP_DENIED are syscalls an instance never needs: mounting, namespaces, tracing, modules, keys, clocks. */
export const SECCOMP_DENIED = [
  'acct', 'add_key', 'bpf', 'clock_adjtime', 'clock_settime', 'delete_module', 'finit_module', 'fsconfig', 'fsmount',
  'fsopen', 'fspick', 'init_module', 'ioperm', 'iopl', 'kexec_file_load', 'kexec_load', 'keyctl', 'lookup_dcookie',
  'mount', 'mount_setattr', 'move_mount', 'name_to_handle_at', 'open_by_handle_at', 'open_tree', 'perf_event_open',
  'pivot_root', 'process_vm_readv', 'process_vm_writev', 'ptrace', 'quotactl', 'reboot', 'request_key', 'setns',
  'settimeofday', 'swapoff', 'swapon', 'syslog', 'umount2', 'unshare', 'userfaultfd', 'adjtimex',
];

const CLONE_NEWUSER = 0x10000000;
const EPERM = 1;
const ENOSYS = 38;

function seccomp(arch: string): object {
  const architectures =
    arch === 'arm64' ? ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'] : arch === 'x64' ? ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'] : [];
  return {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures,
    syscalls: [
      { names: SECCOMP_DENIED, action: 'SCMP_ACT_ERRNO', errnoRet: EPERM },
      // A new user namespace would hand the function a full set of capabilities inside it: refuse clone with
      // CLONE_NEWUSER. clone3 passes its flags in memory a filter cannot read, so it answers ENOSYS and the C
      // library falls back to clone.
      { names: ['clone'], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM, args: [{ index: 0, value: CLONE_NEWUSER, valueTwo: CLONE_NEWUSER, op: 'SCMP_CMP_MASKED_EQ' }] },
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS },
    ],
  };
}

/** ociSpec returns the config.json of one instance. */
export function ociSpec(c: ContainerSpec): Record<string, unknown> {
  const ro = ['rbind', 'ro', 'nosuid', 'nodev'];
  const mounts: object[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${c.shmBytes}`] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'noexec', 'nodev', 'mode=755', 'size=64k'] },
    ...c.cgroupDirs.map((d) => ({ destination: d, type: 'bind', source: d, options: [...ro, 'noexec'] })),
    { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', `size=${c.tmpBytes}`] },
    ...c.binds.map((b) => ({ destination: b.destination, type: 'bind', source: b.source, options: ro })),
  ];
  const resources: Record<string, unknown> = { devices: [{ allow: false, access: 'rwm' }] };
  if (c.limits.cpu !== undefined && c.limits.cpu > 0) resources.cpu = { quota: Math.max(1000, Math.round(c.limits.cpu * CPU_PERIOD_US)), period: CPU_PERIOD_US };
  if (c.limits.memoryBytes) resources.memory = { limit: c.limits.memoryBytes };
  if (c.limits.pids) resources.pids = { limit: c.limits.pids };
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: c.uid, gid: c.gid, additionalGids: [] },
      args: c.args,
      env: Object.entries(c.env).map(([k, v]) => `${k}=${v}`),
      cwd: c.cwd,
      capabilities: { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] },
      noNewPrivileges: true,
    },
    root: { path: c.rootfs, readonly: true },
    hostname: c.hostname,
    mounts,
    linux: {
      cgroupsPath: c.cgroupsPath,
      resources,
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, ...(c.netns ? [{ type: 'network', path: c.netns }] : [])],
      seccomp: seccomp(c.arch),
      maskedPaths: [
        '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
        '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/kernel', '/sys/devices/virtual/powercap',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}

/** passwdFor is the /etc/passwd (and group) an instance sees: root, its own user and nobody. */
export function passwdFor(uid: number, gid: number): { passwd: string; group: string } {
  return {
    passwd: `root:x:0:0:root:/root:/usr/sbin/nologin\napp:x:${uid}:${gid}:function:/tmp:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`,
    group: `root:x:0:\napp:x:${gid}:\nnogroup:x:65534:\n`,
  };
}
