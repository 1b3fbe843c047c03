/** Config of the `cloudrun` execution backend (times in ms). */
export interface CloudRunExecutionConfig {
  type: 'cloudrun';
  projectId: string;
  /** @default 'us-central1' */
  region?: string;
  /** Job run for records without a profile. */
  jobName?: string;
  /** Execution profile → job name. */
  profiles?: Record<string, string>;
  /**
   * Execution timeout (rounded up to seconds) for records whose task and record set no `timeout`. A record with an
   * attempt timeout gets that timeout plus `timeoutGrace` instead. Unset, the job's own timeout applies.
   */
  timeout?: number;
  /** Added to a record's attempt timeout for the execution timeout: container boot and the final write. @default 60000 */
  timeoutGrace?: number;
  /** Prefix of the env variable that carries the record id. @default 'NESTJS_QUEUES' */
  envPrefix?: string;
  /** Extra env for the job container; it cannot overwrite `<envPrefix>_TASK_ID`. */
  extraEnv?: Record<string, string>;
  /** Where a record goes when the dispatch API call fails before a remote run owns it. @default 'local' */
  fallbackExecutionBackend?: string;
  /** A reservation older than this is released by reconcile (the dispatcher died mid-dispatch). @default 120000 */
  reservationTtl?: number;
  /** Injected clients (tests, custom auth); otherwise built from `clientOptions`. */
  jobsClient?: unknown;
  executionsClient?: unknown;
  /** Options for the `@google-cloud/run` clients we build. */
  clientOptions?: Record<string, unknown>;
}
