import type { FunctionResources } from './function-deployment.js';

/** FunctionUsage is the optional resource usage faas-cli asks for with usage=1. */
export interface FunctionUsage {
  /** cpu in cores (faas-cli prints it as "Mi"). */
  cpu?: number;
  totalMemoryBytes?: number;
}

/**
 * FunctionStatus is one item of GET /system/functions and the body of GET /system/function/:name.
 * labels and annotations are always present ({} at least): the certifier dereferences them.
 */
export interface FunctionStatus {
  /** name has no namespace suffix. */
  name: string;
  image: string;
  /** namespace is always filled: the gateway's invocation counter matches on name.namespace. */
  namespace: string;
  envProcess?: string;
  envVars?: Record<string, string>;
  constraints?: string[];
  secrets?: string[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  limits?: FunctionResources;
  requests?: FunctionResources;
  readOnlyRootFilesystem?: boolean;
  /** invocationCount is what this provider counted (gateway_function_invocation_total); behind the stock gateway the gateway replaces it from Prometheus. */
  invocationCount: number;
  /** replicas is the desired count, a non-negative integer. */
  replicas: number;
  /** availableReplicas counts instances whose health check answers. */
  availableReplicas: number;
  /** createdAt is RFC 3339, never "". */
  createdAt: string;
  usage?: FunctionUsage;
}
