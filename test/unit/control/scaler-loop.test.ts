import { expect } from 'chai';
import { Registry } from 'prom-client';
import { ScalerLoop, specFor, type ScalerPorts, type Ticker } from '../../../src/control/scaler-loop.js';
import { silentLogger } from '../../../src/logger.js';
import type { PolicyInput, ScalingAction, ScalingPolicy } from '../../../src/scaling/types.js';
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
    act: async (fn, a) => void acted.push({ fn: fn.name, a }),
  };
}

describe('ScalerLoop', () => {
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

  it('derives the spec from limits, requests and max_inflight', () => {
    const { spec } = specFor(status('e', {}, { envVars: { max_inflight: '8' }, limits: { cpu: '2', memory: '128Mi' }, requests: { cpu: '250m' } }), 'hpa');
    expect(spec).to.include({ capacity: 8, cpuLimit: 2, cpuRequest: 0.25, memoryLimitBytes: 128 * 1024 * 1024 });
    expect(spec!.labels.policy).to.equal('hpa');
  });
});
