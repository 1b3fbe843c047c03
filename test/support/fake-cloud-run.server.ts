import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { createRequire } from 'node:module';
import path from 'node:path';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);
/** The package folder of an installed dependency (some do not export package.json). */
function packageDir(name: string): string {
  let dir = path.dirname(require.resolve(name));
  while (!require('node:fs').existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}
const runProtos = path.join(packageDir('@google-cloud/run'), 'build/protos');
const gaxProtos = path.join(packageDir('google-gax'), 'build/protos');
const FILES = [
  'google/cloud/run/v2/job.proto',
  'google/cloud/run/v2/execution.proto',
  'google/longrunning/operations.proto',
];

/** An execution as the fake server keeps it. */
export interface FakeExecution {
  name: string;
  job: string;
  env: Record<string, string>;
  timeoutSeconds: number | null;
  state: 'running' | 'succeeded' | 'failed' | 'cancelled';
  message?: string;
}

/**
 * A local server that speaks Cloud Run Admin API v2 over gRPC (the package's own protos), so tests drive the real
 * `@google-cloud/run` client: Jobs.RunJob (returns a long-running Operation whose metadata is the Execution),
 * Executions.GetExecution and Executions.CancelExecution. Tests steer outcomes through `executions` and the
 * `failNext*` switches.
 */
export class FakeCloudRunServer {
  readonly executions = new Map<string, FakeExecution>();
  readonly runRequests: unknown[] = [];
  /** Names asked for by GetExecution, in call order (how often reconcile polled). */
  readonly getRequests: string[] = [];
  /** gRPC status code every RunJob call fails with while set (the client may retry some codes itself). */
  failRunJob: number | undefined;
  /** gRPC status code for the next GetExecution call (e.g. 14 UNAVAILABLE), consumed once. */
  failNextGetExecution: number | undefined;
  private server = new grpc.Server();
  private executionType!: protobuf.Type;
  private counter = 0;
  port = 0;

  async start(): Promise<void> {
    const root = new protobuf.Root();
    root.resolvePath = (_origin, target) => {
      for (const dir of [runProtos, gaxProtos]) {
        const candidate = path.join(dir, target);
        try {
          require('node:fs').accessSync(candidate);
          return candidate;
        } catch {
          // next dir
        }
      }
      return target;
    };
    root.loadSync(FILES, { keepCase: false });
    this.executionType = root.lookupType('google.cloud.run.v2.Execution');
    const definition = protoLoader.loadSync(FILES, {
      includeDirs: [runProtos, gaxProtos],
      keepCase: false,
      longs: Number,
      enums: String,
      defaults: false,
      oneofs: true,
    });
    const loaded = grpc.loadPackageDefinition(definition) as any;
    const v2 = loaded.google.cloud.run.v2;
    this.server.addService(v2.Jobs.service, {
      runJob: (call: any, callback: any) => this.runJob(call.request, callback),
    });
    this.server.addService(v2.Executions.service, {
      getExecution: (call: any, callback: any) => this.getExecution(call.request, callback),
      cancelExecution: (call: any, callback: any) => this.cancelExecution(call.request, callback),
    });
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) =>
        error ? reject(error) : resolve(port),
      ),
    );
  }

  /** The `cloudrun` execution backend config the tests use (job `queue-worker` of project `demo`), with `extra`. */
  executionBackend(extra: Record<string, unknown> = {}) {
    return {
      type: 'cloudrun' as const,
      projectId: 'demo',
      region: 'europe-west1',
      jobName: 'queue-worker',
      clientOptions: this.clientOptions(),
      ...extra,
    };
  }

  /** Options for the real clients to reach this server. */
  clientOptions(): Record<string, unknown> {
    return {
      apiEndpoint: '127.0.0.1',
      port: this.port,
      sslCreds: grpc.credentials.createInsecure(),
      fallback: false,
    };
  }

  private executionMessage(execution: FakeExecution): Record<string, unknown> {
    const done = execution.state !== 'running';
    return {
      name: execution.name,
      job: execution.job,
      runningCount: done ? 0 : 1,
      succeededCount: execution.state === 'succeeded' ? 1 : 0,
      failedCount: execution.state === 'failed' ? 1 : 0,
      cancelledCount: execution.state === 'cancelled' ? 1 : 0,
      completionTime: done ? { seconds: Math.floor(Date.now() / 1000), nanos: 0 } : undefined,
      conditions: [
        {
          type: 'Completed',
          state: !done
            ? 'CONDITION_RECONCILING'
            : execution.state === 'succeeded'
              ? 'CONDITION_SUCCEEDED'
              : 'CONDITION_FAILED',
          message: execution.message ?? '',
        },
      ],
    };
  }

  private operation(execution: FakeExecution): Record<string, unknown> {
    const message = this.executionType.fromObject(this.executionMessage(execution));
    return {
      name: `${execution.name}/operations/op-${this.counter}`,
      done: false,
      metadata: {
        typeUrl: 'type.googleapis.com/google.cloud.run.v2.Execution',
        value: Buffer.from(this.executionType.encode(message).finish()),
      },
    };
  }

  private runJob(request: any, callback: grpc.sendUnaryData<unknown>): void {
    this.runRequests.push(request);
    if (this.failRunJob !== undefined) {
      const code = this.failRunJob;
      return callback({ code, details: 'injected RunJob failure' } as grpc.ServiceError, null);
    }
    const env: Record<string, string> = {};
    for (const override of request.overrides?.containerOverrides ?? [])
      for (const v of override.env ?? []) env[v.name] = v.value;
    const timeout = request.overrides?.timeout;
    const execution: FakeExecution = {
      name: `${request.name}/executions/exec-${++this.counter}`,
      job: request.name,
      env,
      timeoutSeconds: timeout ? Number(timeout.seconds) : null,
      state: 'running',
    };
    this.executions.set(execution.name, execution);
    callback(null, this.operation(execution));
  }

  private getExecution(request: any, callback: grpc.sendUnaryData<unknown>): void {
    this.getRequests.push(request.name);
    if (this.failNextGetExecution !== undefined) {
      const code = this.failNextGetExecution;
      this.failNextGetExecution = undefined;
      return callback({ code, details: 'injected GetExecution failure' } as grpc.ServiceError, null);
    }
    const execution = this.executions.get(request.name);
    if (!execution)
      return callback(
        { code: grpc.status.NOT_FOUND, details: `execution ${request.name} not found` } as grpc.ServiceError,
        null,
      );
    callback(null, this.executionMessage(execution));
  }

  private cancelExecution(request: any, callback: grpc.sendUnaryData<unknown>): void {
    const execution = this.executions.get(request.name);
    if (!execution)
      return callback({ code: grpc.status.NOT_FOUND, details: 'not found' } as grpc.ServiceError, null);
    execution.state = 'cancelled';
    callback(null, this.operation(execution));
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
  }
}
