import { AckPolicy, DeliverPolicy, RetentionPolicy, StorageType, type JetStreamManager } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { subjects } from '@hyperfaas/watchdog/protocol';
import type { Logger } from '../logger.js';

/** deadLetterMaxAgeMs is how long dead-lettered requests are kept (7 days), long enough to inspect and replay them. */
export const deadLetterMaxAgeMs = 7 * 24 * 3_600_000;

/** duplicateWindowMs is how long a repeated X-Call-Id is recognised as a duplicate publish (JetStream's default, 2 min). */
export const duplicateWindowMs = 2 * 60_000;

/** maxAckPending bounds messages delivered but not yet acknowledged (running, or waiting out a nak delay). */
export const maxAckPending = 20_000;

function isAlreadyExists(e: unknown): boolean {
  return /already in use|already exists/i.test(String((e as Error)?.message ?? e));
}

async function ensureStream(jsm: JetStreamManager, name: string, subjs: string[], extra: { retention: RetentionPolicy; maxAgeMs: number }, log: Logger): Promise<void> {
  try {
    const info = await jsm.streams.info(name);
    const missing = subjs.filter((s) => !info.config.subjects?.includes(s));
    if (missing.length > 0) {
      await jsm.streams.update(name, { subjects: [...(info.config.subjects ?? []), ...missing] });
      log.info('added subjects to stream', { stream: name, subjects: missing });
    }
    if (info.config.retention !== extra.retention || info.config.storage !== StorageType.File) {
      log.warn('existing stream has a different retention or storage than HyperFaaS creates; using it as it is', {
        stream: name,
        retention: info.config.retention,
        storage: info.config.storage,
      });
    }
    return;
  } catch (e) {
    if (!/not found/i.test(String((e as Error)?.message ?? e))) throw e;
  }
  try {
    await jsm.streams.add({
      name,
      subjects: subjs,
      storage: StorageType.File,
      retention: extra.retention,
      duplicate_window: nanos(duplicateWindowMs),
      max_age: nanos(extra.maxAgeMs),
    });
    log.info('created stream', { stream: name, subjects: subjs });
  } catch (e) {
    if (!isAlreadyExists(e)) throw e;
  }
}

/**
 * ensureAsyncStreams creates (or checks) the file-stored work-queue stream for /async-function, its dead-letter
 * stream, and the shared durable pull consumer. Idempotent and safe to race with another provider doing the same.
 */
export async function ensureAsyncStreams(jsm: JetStreamManager, ackWaitMs: number, logger: Logger): Promise<void> {
  const log = logger.child({ component: 'async' });
  await ensureStream(jsm, subjects.asyncStream, [...subjects.asyncSubjects], { retention: RetentionPolicy.Workqueue, maxAgeMs: 0 }, log);
  await ensureStream(jsm, subjects.asyncDeadLetterStream, [subjects.asyncDeadLetterAll], { retention: RetentionPolicy.Limits, maxAgeMs: deadLetterMaxAgeMs }, log);
  const want = {
    durable_name: subjects.asyncDurable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(ackWaitMs),
    max_deliver: -1,
    max_ack_pending: maxAckPending,
  };
  try {
    const ci = await jsm.consumers.info(subjects.asyncStream, subjects.asyncDurable);
    if (ci.config.ack_wait !== want.ack_wait || ci.config.max_ack_pending !== want.max_ack_pending) {
      await jsm.consumers.update(subjects.asyncStream, subjects.asyncDurable, { ack_wait: want.ack_wait, max_ack_pending: want.max_ack_pending });
      log.info('updated consumer', { consumer: subjects.asyncDurable, ackWaitMs });
    }
    return;
  } catch (e) {
    if (!/not found/i.test(String((e as Error)?.message ?? e))) throw e;
  }
  try {
    await jsm.consumers.add(subjects.asyncStream, want);
  } catch (e) {
    if (!isAlreadyExists(e)) throw e;
  }
}
