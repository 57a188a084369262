/** FunctionResources mirrors faas-provider's types.FunctionResources: strings only, compared as strings by clients. */
export interface FunctionResources {
  /** memory is a Kubernetes quantity such as "128Mi". */
  memory?: string;
  /** cpu is a Kubernetes quantity such as "100m" or "0.5". */
  cpu?: string;
  'nvidia.com/gpu'?: string;
  'amd.com/gpu'?: string;
  'intel.com/gpu'?: string;
}

/** FunctionDeployment is the body of POST and PUT /system/functions (faas-provider types.FunctionDeployment). */
export interface FunctionDeployment {
  /** service is the function name; DNS-1123 label. */
  service: string;
  /** image names the function's code; on the local backend it resolves to a function directory. */
  image: string;
  /** namespace; empty means the provider's default namespace. */
  namespace?: string;
  /** envProcess becomes the watchdog's `fprocess`. */
  envProcess?: string;
  envVars?: Record<string, string>;
  constraints?: string[];
  /** secrets are names mounted at /var/openfaas/secrets/<name>. */
  secrets?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  limits?: FunctionResources;
  requests?: FunctionResources;
  readOnlyRootFilesystem?: boolean;
}
