import { expect } from 'chai';
import { Registry } from 'prom-client';
import { ScalerLoop, specFor, type ScalerPorts, type Ticker } from '../../../src/control/scaler-loop.js';
import { silentLogger } from '../../../src/logger.js';
import { policyFor } from '../../../src/scaling/index.js';
import type { PolicyInput, PolicyName, ScalingAction, ScalingPolicy } from '../../../src/scaling/types.js';
import type { FunctionStatus } from '../../../src/types/index.js';

function status(name: string, labels: Record<string, string> = {}, extra: Partial<FunctionStatus> = {}): FunctionStatus {
  return {
    name,
    namespace: 'openfaas-fn',
    image: 'x',
    labels: { faas_function: name, ...labels },
    annotations: {},
    invocationCount: 0,
    replicas: 1,
    availableReplicas: 1,
    createdAt: '2026-01-01T00:00:00Z',
    ...extra,
  };
}

/** stepPolicy scales to input.replicas + 1 on every tick and records what it saw. */
function stepPolicy(seen: PolicyInput[]): ScalingPolicy<{ ticks: number }> {
  return {
    name: 'hyperfaas',
    initialState: () => ({ ticks: 0 }),
    decide(input, state) {
      seen.push(input);
      const replicas = input.replicas + 1;
      return { actions: [{ kind: 'scaleTo', replicas }], state: { ticks: state.ticks + 1 }, phase: 'scale-out', replicas, reasons: ['test'] };
    },
  };
}

const manual = (): Ticker & { fire?: () => void } => {
  const t: Ticker & { fire?: () => void } = { start: (cb) => (t.fire = cb), stop: () => undefined };
  return t;
};

function ports(fns: FunctionStatus[], acted: { fn: string; a: ScalingAction }[]): ScalerPorts {
  return {
    functions: async () => fns,
    observe: () => ({ instances: [], demand: { windowMs: 1000, arrivalRate: 0, queued: 0, bounced: 0 }, guests: [], node: { cpuCores: 2, cpuFree: 2 } }),
    waiting: () => 0,
    act: async (fn, a) => void acted.push({ fn: fn.name, a }),
  };
}

describe('ScalerLoop', () => {
  it('logs a phase line on a phase change and on an acting tick with a new kind of reason, not on new figures alone', async () => {
    // Phase 1 for concurrency, then for CPU: both 'scale-up', so only the reasons tell the operator what happened.
    const script = [
      'phase 1: 1 instance(s) short of concurrency, not CPU: max in flight 4 -> 8',
      'phase 1: 2 instance(s) short of concurrency, not CPU: max in flight 4 -> 8',
      'phase 1: 1 instance(s) over the high watermark get more CPU',
      'phase 1: 3 instance(s) over the high watermark get more CPU',
    ];
    let tick = 0;
    const policy: ScalingPolicy<null> = {
      name: 'hyperfaas',
      initialState: () => null,
      decide: () => ({ actions: [{ kind: 'scaleTo', replicas: 1 }], state: null, phase: 'scale-up', replicas: 1, reasons: [script[tick++]!] }),
    };
    const lines: string[] = [];
    const logger = silentLogger();
    logger.info = ((msg: string, meta: { reasons: string[] }) => void lines.push(`${msg}: ${meta.reasons.join()}`)) as never;
    const loop = new ScalerLoop({ ports: ports([status('a', { 'com.hyperfaas.policy': 'hyperfaas' })], []), policies: { hyperfaas: policy as ScalingPolicy<unknown> }, defaultPolicy: 'none', now: () => 0, ticker: manual(), logger });
    for (let i = 0; i < script.length; i++) await loop.tick();
    expect(lines).to.deep.equal([`scaling phase: ${script[0]}`, `scaling phase: ${script[2]}`]);
  });

  it('asks each function its policy and carries out the actions, with time passed in', async () => {
    const seen: PolicyInput[] = [];
    const acted: { fn: string; a: ScalingAction }[] = [];
    const registry = new Registry();
    const loop = new ScalerLoop({
      ports: ports([status('a', { 'com.hyperfaas.policy': 'hyperfaas' }, { envVars: { max_inflight: '4' }, limits: { cpu: '500m' } })], acted),
      policies: { hyperfaas: stepPolicy(seen) as ScalingPolicy<unknown> },
      defaultPolicy: 'none',
      now: () => 42_000,
      ticker: manual(),
      logger: silentLogger(),
      registry,
    });
    await loop.tick();
    expect(seen).to.have.length(1);
    expect(seen[0].nowMs).to.equal(42_000);
    expect(seen[0].spec).to.include({ key: 'a.openfaas-fn', capacity: 4, cpuLimit: 0.5 });
    expect(acted).to.deep.equal([{ fn: 'a', a: { kind: 'scaleTo', replicas: 2 } }]);
    expect(loop.phaseOf('a.openfaas-fn')).to.equal('scale-out');
    const metrics = await registry.metrics();
    expect(metrics).to.match(/hyperfaas_scaler_phase_changes_total\{function="a.openfaas-fn",phase="scale-out"\} 1/);
    expect(metrics).to.match(/hyperfaas_scaler_actions_total\{function="a.openfaas-fn",kind="scaleTo"\} 1/);
  });

  it('uses the provider default policy when the function has no policy label, and none means hands off', async () => {
    const seen: PolicyInput[] = [];
    const acted: { fn: string; a: ScalingAction }[] = [];
    const mk = (def: 'hyperfaas' | 'none') =>
      new ScalerLoop({ ports: ports([status('b')], acted), policies: { hyperfaas: stepPolicy(seen) as ScalingPolicy<unknown> }, defaultPolicy: def, now: () => 0, ticker: manual(), logger: silentLogger() });
    await mk('none').tick();
    expect(seen).to.have.length(0);
    await mk('hyperfaas').tick();
    expect(seen).to.have.length(1);
  });

  it('skips a function whose scaling labels do not parse, and keeps going with the others', async () => {
    const seen: PolicyInput[] = [];
    const acted: { fn: string; a: ScalingAction }[] = [];
    const loop = new ScalerLoop({
      ports: ports([status('bad', { 'com.openfaas.scale.min': 'lots' }), status('good')], acted),
      policies: { hyperfaas: stepPolicy(seen) as ScalingPolicy<unknown> },
      defaultPolicy: 'hyperfaas',
      now: () => 0,
      ticker: manual(),
      logger: silentLogger(),
    });
    await loop.tick();
    expect(acted.map((x) => x.fn)).to.deep.equal(['good']);
  });

  it('runs one tick at a time: a tick fired while one runs returns without deciding', async () => {
    const seen: PolicyInput[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const p: ScalerPorts = { ...ports([status('c')], []), functions: async () => (await gate, [status('c')]) };
    const loop = new ScalerLoop({ ports: p, policies: { hyperfaas: stepPolicy(seen) as ScalingPolicy<unknown> }, defaultPolicy: 'hyperfaas', now: () => 0, ticker: manual(), logger: silentLogger() });
    const first = loop.tick();
    await loop.tick();
    release();
    await first;
    expect(seen).to.have.length(1);
  });

  it('poke runs a tick out of turn, but not while one runs nor within minPokeGapMs of the last one', async () => {
    const seen: PolicyInput[] = [];
    let now = 1_000;
    const loop = new ScalerLoop({ ports: ports([status('p')], []), policies: { hyperfaas: stepPolicy(seen) as ScalingPolicy<unknown> }, defaultPolicy: 'hyperfaas', now: () => now, ticker: manual(), logger: silentLogger(), minPokeGapMs: 50 });
    await loop.tick();
    expect(seen).to.have.length(1);
    now += 20;
    loop.poke(); // 20 ms after the last tick: ignored
    await new Promise((r) => setImmediate(r));
    expect(seen).to.have.length(1);
    now += 40;
    loop.poke(); // 60 ms after: runs
    await new Promise((r) => setImmediate(r));
    expect(seen).to.have.length(2);
    expect(seen[1]!.nowMs).to.equal(1_060);
  });

  it('keeps its state per function across ticks and hands it back to the policy', async () => {
    const states: number[] = [];
    const policy: ScalingPolicy<{ ticks: number }> = {
      name: 'hyperfaas',
      initialState: () => ({ ticks: 0 }),
      decide: (input, s) => (states.push(s.ticks), { actions: [], state: { ticks: s.ticks + 1 }, phase: 'steady', replicas: input.replicas, reasons: [] }),
    };
    const loop = new ScalerLoop({ ports: ports([status('d')], []), policies: { hyperfaas: policy as ScalingPolicy<unknown> }, defaultPolicy: 'hyperfaas', now: () => 0, ticker: manual(), logger: silentLogger() });
    await loop.tick();
    await loop.tick();
    await loop.tick();
    expect(states).to.deep.equal([0, 1, 2]);
  });

  describe('from zero: the floor', () => {
    /** zeroPorts serve functions at zero replicas with `waiting` requests; a scaleTo sets the listed replicas. */
    function zeroPorts(fns: FunctionStatus[], acted: { fn: string; a: ScalingAction }[], waiting: number): ScalerPorts {
      return {
        ...ports(fns, acted),
        waiting: () => waiting,
        act: async (fn, a) => {
          acted.push({ fn: fn.name, a });
          const listed = fns.find((f) => f.name === fn.name)!;
          if (a.kind === 'scaleTo') listed.replicas = a.replicas;
        },
      };
    }
    const policies = { hyperfaas: policyFor('hyperfaas'), hpa: policyFor('hpa'), 'hpa-tuned': policyFor('hpa-tuned') } as Partial<Record<PolicyName, ScalingPolicy<unknown>>>;
    const loopOver = (p: ScalerPorts) => new ScalerLoop({ ports: p, policies, defaultPolicy: 'hyperfaas', now: () => 1_000, ticker: manual(), logger: silentLogger() });

    const cases: [string, Record<string, string>, number][] = [
      ['hyperfaas', { 'com.hyperfaas.policy': 'hyperfaas', 'com.openfaas.scale.min': '2' }, 2],
      ['hpa', { 'com.hyperfaas.policy': 'hpa', 'com.openfaas.scale.min': '3' }, 3],
      ['hpa-tuned', { 'com.hyperfaas.policy': 'hpa-tuned' }, 1],
      ['none', { 'com.hyperfaas.policy': 'none', 'com.openfaas.scale.min': '2' }, 2],
      ['labels that do not parse', { 'com.openfaas.scale.min': '2', 'com.openfaas.scale.max': 'lots' }, 2],
    ];
    for (const [what, labels, want] of cases) {
      it(`wakes a function at zero that requests wait for to its floor (${what}) at once, outside the ticks`, async () => {
        const acted: { fn: string; a: ScalingAction }[] = [];
        const loop = loopOver(zeroPorts([status('z', labels, { replicas: 0 })], acted, 1));
        await loop.wake('openfaas-fn', 'z');
        expect(acted.filter((x) => x.a.kind === 'scaleTo')).to.deep.equal([{ fn: 'z', a: { kind: 'scaleTo', replicas: want } }]);
        expect(loop.decisions('z.openfaas-fn').at(-1)).to.include({ phase: 'from-zero', replicas: want });
      });
    }

    it('leaves a function at zero alone while no request waits for it (a deliberate scale to zero stays)', async () => {
      const acted: { fn: string; a: ScalingAction }[] = [];
      const loop = loopOver(zeroPorts([status('z', { 'com.hyperfaas.policy': 'hpa' }, { replicas: 0 }), status('n', { 'com.hyperfaas.policy': 'none' }, { replicas: 0 })], acted, 0));
      await loop.tick();
      await loop.wake('openfaas-fn', 'z');
      expect(acted).to.deep.equal([]);
    });

    it('scales up once when wakes and a tick decide about the same function at the same time', async () => {
      const acted: { fn: string; a: ScalingAction }[] = [];
      const loop = loopOver(zeroPorts([status('z', { 'com.hyperfaas.policy': 'hpa', 'com.openfaas.scale.min': '2' }, { replicas: 0 })], acted, 3));
      await Promise.all([loop.tick(), loop.wake('openfaas-fn', 'z'), loop.wake('openfaas-fn', 'z')]);
      expect(acted.filter((x) => x.a.kind === 'scaleTo')).to.deep.equal([{ fn: 'z', a: { kind: 'scaleTo', replicas: 2 } }]);
    });

    it('rejects a wake with the error of the scale-up that failed', async () => {
      const p: ScalerPorts = {
        ...zeroPorts([status('z', { 'com.hyperfaas.policy': 'none' }, { replicas: 0 })], [], 1),
        act: async () => {
          throw new Error('no capacity');
        },
      };
      const err = await loopOver(p).wake('openfaas-fn', 'z').then(() => undefined, (e: unknown) => e);
      expect(String(err)).to.equal('Error: no capacity');
    });
  });

  it('derives the spec from limits, requests and max_inflight', () => {
    const { spec } = specFor(status('e', {}, { envVars: { max_inflight: '8' }, limits: { cpu: '2', memory: '128Mi' }, requests: { cpu: '250m' } }), 'hpa');
    expect(spec).to.include({ capacity: 8, cpuLimit: 2, cpuRequest: 0.25, memoryLimitBytes: 128 * 1024 * 1024 });
    expect(spec!.labels.policy).to.equal('hpa');
  });
});
