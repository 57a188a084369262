/**
 * scaling is the pure policy layer: labels -> spec, and per-tick policies (hyperfaas, hpa) that turn observations into
 * actions. Nothing here does I/O or reads the clock; the control loop that drives it lives elsewhere.
 */
import { createHpaPolicy, HPA_DEFAULT, HPA_TUNED, type HpaState } from './hpa.js';
import { createHyperfaasPolicy, type HyperfaasState } from './hyperfaas.js';
import type { Decision, PolicyInput, PolicyName, ScalingPolicy } from './types.js';

export * from './types.js';
export * from './labels.js';
export * from './window.js';
export * from './backoff.js';
export * from './hpa.js';
export * from './hyperfaas.js';
export * from './simulate.js';

/** NonePolicy state: nothing to remember. */
export type NoneState = Record<string, never>;

/** nonePolicy never acts: replicas stay wherever faas-cli or the API put them (label com.hyperfaas.policy=none). */
export const nonePolicy: ScalingPolicy<NoneState> = {
  name: 'none',
  initialState: () => ({}),
  decide: (input: PolicyInput, state: NoneState): Decision<NoneState> => ({ actions: [], state, phase: 'steady', replicas: input.replicas, reasons: [] }),
};

/** AnyPolicyState is the state of whichever policy a function uses. */
export type AnyPolicyState = HyperfaasState | HpaState | NoneState;

/**
 * policyFor returns the policy a function's `com.hyperfaas.policy` label names, with the default parameter sets
 * (hpa = HPA_DEFAULT, legacy normalisation; hpa-tuned = HPA_TUNED). A shell that needs other parameters (A/B sweeps,
 * compressed CI runs) builds its own with createHpaPolicy / createHyperfaasPolicy.
 */
export function policyFor(name: PolicyName): ScalingPolicy<AnyPolicyState> {
  switch (name) {
    case 'hyperfaas':
      return createHyperfaasPolicy() as unknown as ScalingPolicy<AnyPolicyState>;
    case 'hpa':
      return createHpaPolicy(HPA_DEFAULT, 'hpa') as unknown as ScalingPolicy<AnyPolicyState>;
    case 'hpa-tuned':
      return createHpaPolicy(HPA_TUNED, 'hpa-tuned') as unknown as ScalingPolicy<AnyPolicyState>;
    case 'none':
      return nonePolicy as unknown as ScalingPolicy<AnyPolicyState>;
  }
}
