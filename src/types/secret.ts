/** Secret is the body of the /system/secrets routes; values are never returned by list. */
export interface Secret {
  name: string;
  namespace?: string;
  /** value is the secret as text. */
  value?: string;
  /** rawValue is base64 (Go []byte); it wins over value when both are present. */
  rawValue?: string;
}
