/**
 * pod-security checks a pod spec against the Kubernetes Pod Security Standard "restricted" (the baseline rules
 * included), as the PodSecurity admission controller does in a namespace labelled
 * pod-security.kubernetes.io/enforce=restricted. It returns one message per violation, none when the pod would be
 * admitted.
 */
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const allowedVolumeKinds = ['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret'];
const seccompOk = (p: Obj | undefined) => p?.type === 'RuntimeDefault' || p?.type === 'Localhost';

export function restrictedViolations(spec: Obj): string[] {
  const out: string[] = [];
  const podSc = spec.securityContext ?? {};
  const containers: Obj[] = [...(spec.initContainers ?? []), ...(spec.containers ?? []), ...(spec.ephemeralContainers ?? [])];
  for (const k of ['hostNetwork', 'hostPID', 'hostIPC']) if (spec[k] === true) out.push(`${k} must not be true`);
  for (const v of spec.volumes ?? []) {
    const kind = Object.keys(v).find((k) => k !== 'name');
    if (!kind || !allowedVolumeKinds.includes(kind)) out.push(`volume ${v.name} has a forbidden type ${kind}`);
  }
  if (podSc.runAsUser === 0) out.push('pod runAsUser must not be 0');
  if (podSc.seccompProfile && !seccompOk(podSc.seccompProfile)) out.push('pod seccompProfile must be RuntimeDefault or Localhost');
  for (const s of podSc.sysctls ?? []) out.push(`sysctl ${s.name} is not in the safe set`);
  for (const c of containers) {
    const sc = c.securityContext ?? {};
    const n = `container ${c.name}`;
    if (sc.privileged === true) out.push(`${n}: privileged`);
    if (sc.allowPrivilegeEscalation !== false) out.push(`${n}: allowPrivilegeEscalation must be false`);
    const drop: string[] = sc.capabilities?.drop ?? [];
    if (!drop.includes('ALL')) out.push(`${n}: capabilities must drop ALL`);
    for (const a of sc.capabilities?.add ?? []) if (a !== 'NET_BIND_SERVICE') out.push(`${n}: may not add capability ${a}`);
    if (!(sc.runAsNonRoot === true || (sc.runAsNonRoot === undefined && podSc.runAsNonRoot === true))) out.push(`${n}: runAsNonRoot must be true`);
    if (sc.runAsUser === 0) out.push(`${n}: runAsUser must not be 0`);
    const seccomp = sc.seccompProfile ?? podSc.seccompProfile;
    if (!seccompOk(seccomp)) out.push(`${n}: seccompProfile must be RuntimeDefault or Localhost (pod or container)`);
    if (sc.procMount !== undefined && sc.procMount !== 'Default') out.push(`${n}: procMount must be Default`);
    for (const p of c.ports ?? []) if (p.hostPort) out.push(`${n}: hostPort ${p.hostPort}`);
    const app = sc.appArmorProfile?.type;
    if (app === 'Unconfined') out.push(`${n}: AppArmor must not be Unconfined`);
  }
  return out;
}
