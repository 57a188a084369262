/** LogRequest is parsed from the query of GET /system/logs. */
export interface LogRequest {
  name: string;
  namespace: string;
  /** instance limits the stream to one instance id, when set. */
  instance?: string;
  /** tail: at most this many most recent lines; <= 0 means all. */
  tail: number;
  follow: boolean;
  /** since: only lines at or after this time. */
  since?: Date;
}

/** LogMessage is one NDJSON line of GET /system/logs; all five keys are always present. */
export interface LogMessage {
  name: string;
  namespace: string;
  instance: string;
  /** timestamp is RFC 3339 with nanoseconds. */
  timestamp: string;
  text: string;
}
