/** DeleteFunctionRequest is the body of DELETE /system/functions. */
export interface DeleteFunctionRequest {
  functionName: string;
  namespace?: string;
}

/** ScaleServiceRequest is the body of POST /system/scale-function/:name. */
export interface ScaleServiceRequest {
  serviceName: string;
  replicas: number;
  namespace?: string;
}

/** VersionInfo is the version block of ProviderInfo; note the snake_case commit_message. */
export interface VersionInfo {
  commit_message?: string;
  sha: string;
  release: string;
}

/** ProviderInfo is the body of GET /system/info. */
export interface ProviderInfo {
  provider: string;
  version: VersionInfo;
  orchestration: string;
}
