export type { FunctionDeployment, FunctionResources } from './function-deployment.js';
export type { FunctionStatus, FunctionUsage } from './function-status.js';
export type { DeleteFunctionRequest, ScaleServiceRequest, ProviderInfo, VersionInfo } from './requests.js';
export type { Secret } from './secret.js';
export type { LogRequest, LogMessage } from './logs.js';
