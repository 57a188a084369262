/**
 * fake-backend is an in-memory FunctionBackend for pure API and router unit tests. Instances are whatever the test
 * adds (pointing at real upstream servers on 127.0.0.1 in router tests); calls are recorded for assertions.
 */
import {
  BackendError,
  type FunctionBackend,
  type Instance,
  type InstanceEvent,
  type ResourceLimits,
  type SecretInfo,
} from '../../src/backends/backend.js';
import type { FunctionDeployment, FunctionStatus, LogMessage, LogRequest } from '../../src/types/index.js';

/** FakeCall is one recorded backend call. */
export interface FakeCall {
  method: string;
  args: unknown[];
}

/** FakeBackendOptions tune the fake. */
export interface FakeBackendOptions {
  namespaces?: string[];
  /** onScale runs after scale() recorded the new desired count (e.g. to add a ready instance later). */
  onScale?: (namespace: string, name: string, replicas: number) => void;
}

type Stored = { fd: FunctionDeployment & { namespace: string }; replicas: number; createdAt: string };

/** FakeBackend keeps functions, secrets, log lines and instances in maps. */
export class FakeBackend implements FunctionBackend {
  readonly name = 'fake';
  readonly orchestration = 'fake';
  readonly calls: FakeCall[] = [];
  readonly functions = new Map<string, Stored>();
  readonly secrets = new Map<string, Buffer>();
  /** logLines are served by logs(); with follow the stream then waits for pushLog or the abort. */
  readonly logLines: LogMessage[] = [];
  private readonly instanceMap = new Map<string, Instance>();
  private readonly listeners = new Set<(ev: InstanceEvent) => void>();
  private readonly logWaiters = new Set<() => void>();
  private seq = 0;
  closed = false;

  constructor(private readonly opts: FakeBackendOptions = {}) {}

  private record(method: string, ...args: unknown[]): void {
    this.calls.push({ method, args });
  }

  /** callsOf returns the recorded calls of one method. */
  callsOf(method: string): FakeCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  private key(ns: string, name: string): string {
    return `${ns}/${name}`;
  }

  private status(s: Stored): FunctionStatus {
    const { fd } = s;
    const ready = this.instances(fd.namespace, fd.service).filter((i) => i.ready).length;
    return {
      name: fd.service,
      image: fd.image,
      namespace: fd.namespace,
      ...(fd.envProcess ? { envProcess: fd.envProcess } : {}),
      ...(fd.envVars ? { envVars: fd.envVars } : {}),
      ...(fd.secrets ? { secrets: fd.secrets } : {}),
      ...(fd.constraints ? { constraints: fd.constraints } : {}),
      ...(fd.limits ? { limits: fd.limits } : {}),
      ...(fd.requests ? { requests: fd.requests } : {}),
      labels: { ...(fd.labels ?? {}), faas_function: fd.service },
      annotations: { ...(fd.annotations ?? {}) },
      invocationCount: 0,
      replicas: s.replicas,
      availableReplicas: ready,
      createdAt: s.createdAt,
    };
  }

  /** addFunction stores a function directly (no call recorded). */
  addFunction(fd: FunctionDeployment & { namespace: string }, replicas = 1): void {
    this.functions.set(this.key(fd.namespace, fd.service), { fd, replicas, createdAt: new Date(0).toISOString() });
  }

  async deploy(fd: FunctionDeployment & { namespace: string }): Promise<void> {
    this.record('deploy', fd);
    if (this.functions.has(this.key(fd.namespace, fd.service))) throw new BackendError('Conflict', `function ${fd.service} already exists`);
    for (const s of fd.secrets ?? []) {
      if (!this.secrets.has(this.key(fd.namespace, s))) throw new BackendError('Invalid', `secret ${s} does not exist`);
    }
    const min = Number(fd.labels?.['com.openfaas.scale.min'] ?? 1);
    this.functions.set(this.key(fd.namespace, fd.service), { fd, replicas: min, createdAt: new Date().toISOString() });
  }

  async update(fd: FunctionDeployment & { namespace: string }): Promise<void> {
    this.record('update', fd);
    const s = this.functions.get(this.key(fd.namespace, fd.service));
    if (!s) throw new BackendError('NotFound', `function ${fd.service} not found`);
    s.fd = fd;
  }

  async remove(namespace: string, name: string): Promise<void> {
    this.record('remove', namespace, name);
    if (!this.functions.delete(this.key(namespace, name))) throw new BackendError('NotFound', `function ${name} not found`);
  }

  async get(namespace: string, name: string): Promise<FunctionStatus> {
    this.record('get', namespace, name);
    const s = this.functions.get(this.key(namespace, name));
    if (!s) throw new BackendError('NotFound', `function ${name} not found in ${namespace}`);
    return this.status(s);
  }

  async list(namespace: string): Promise<FunctionStatus[]> {
    this.record('list', namespace);
    return [...this.functions.values()].filter((s) => s.fd.namespace === namespace).map((s) => this.status(s));
  }

  async scale(namespace: string, name: string, replicas: number): Promise<void> {
    this.record('scale', namespace, name, replicas);
    const s = this.functions.get(this.key(namespace, name));
    if (!s) throw new BackendError('NotFound', `function ${name} not found`);
    s.replicas = replicas;
    this.opts.onScale?.(namespace, name, replicas);
  }

  async namespaces(): Promise<string[]> {
    return this.opts.namespaces ?? ['openfaas-fn'];
  }

  async listSecrets(namespace: string): Promise<SecretInfo[]> {
    this.record('listSecrets', namespace);
    return [...this.secrets.keys()]
      .filter((k) => k.startsWith(`${namespace}/`))
      .map((k) => ({ name: k.slice(namespace.length + 1), namespace }));
  }

  async createSecret(namespace: string, name: string, value: Buffer): Promise<void> {
    this.record('createSecret', namespace, name, value);
    if (this.secrets.has(this.key(namespace, name))) throw new BackendError('Conflict', `secret ${name} already exists`);
    this.secrets.set(this.key(namespace, name), value);
  }

  async updateSecret(namespace: string, name: string, value: Buffer): Promise<void> {
    this.record('updateSecret', namespace, name, value);
    if (!this.secrets.has(this.key(namespace, name))) throw new BackendError('NotFound', `secret ${name} not found`);
    this.secrets.set(this.key(namespace, name), value);
  }

  async deleteSecret(namespace: string, name: string): Promise<void> {
    this.record('deleteSecret', namespace, name);
    if (!this.secrets.delete(this.key(namespace, name))) throw new BackendError('NotFound', `secret ${name} not found`);
  }

  /** pushLog adds a line and wakes following streams. */
  pushLog(m: LogMessage): void {
    this.logLines.push(m);
    for (const w of [...this.logWaiters]) w();
  }

  async *logs(req: LogRequest, signal: AbortSignal): AsyncIterable<LogMessage> {
    this.record('logs', req);
    const match = (m: LogMessage): boolean =>
      m.name === req.name &&
      m.namespace === req.namespace &&
      (req.instance === undefined || m.instance === req.instance) &&
      (req.since === undefined || Date.parse(m.timestamp) >= req.since.getTime());
    let lines = this.logLines.filter(match);
    if (req.tail > 0) lines = lines.slice(-req.tail);
    for (const m of lines) yield m;
    if (!req.follow) return;
    let seen = this.logLines.length;
    while (!signal.aborted) {
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          this.logWaiters.delete(wake);
          signal.removeEventListener('abort', wake);
          resolve();
        };
        this.logWaiters.add(wake);
        signal.addEventListener('abort', wake, { once: true });
      });
      for (; seen < this.logLines.length; seen++) {
        const m = this.logLines[seen]!;
        if (match(m)) yield m;
      }
    }
  }

  instances(namespace?: string, name?: string): Instance[] {
    return [...this.instanceMap.values()].filter(
      (i) => (namespace === undefined || i.namespace === namespace) && (name === undefined || i.function === name),
    );
  }

  watchInstances(listener: (ev: InstanceEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(ev: InstanceEvent): void {
    for (const l of [...this.listeners]) l(ev);
  }

  /** addInstance adds an instance of a function (ready by default) at url and tells watchers. */
  addInstance(namespace: string, name: string, url: string, ready = true): Instance {
    const inst: Instance = { id: `${name}-${++this.seq}`, function: name, namespace, url, ready, startedAt: Date.now() };
    this.instanceMap.set(inst.id, inst);
    this.emit({ type: 'added', instance: inst });
    return inst;
  }

  /** setReady flips an instance's readiness and tells watchers. */
  setReady(id: string, ready: boolean): void {
    const old = this.instanceMap.get(id);
    if (!old) throw new Error(`no instance ${id}`);
    const inst = { ...old, ready };
    this.instanceMap.set(id, inst);
    this.emit({ type: 'modified', instance: inst });
  }

  /** removeInstance deletes an instance and tells watchers. */
  removeInstance(id: string): void {
    const inst = this.instanceMap.get(id);
    if (!inst) return;
    this.instanceMap.delete(id);
    this.emit({ type: 'deleted', instance: inst });
  }

  async resize(instanceId: string, limits: ResourceLimits): Promise<void> {
    this.record('resize', instanceId, limits);
    throw new BackendError('Unavailable', 'the fake backend cannot resize');
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
