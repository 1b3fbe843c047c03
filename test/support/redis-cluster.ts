import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** A free TCP port on loopback whose cluster bus port (port + 10000) is free too. */
/**
 * A free port whose cluster bus port (+10,000) is free too, and that neither clashes with the ports `taken` already
 * (the kernel may hand out a port again once its probe closed) nor with their bus ports.
 */
async function freeClusterPort(taken: readonly number[]): Promise<number> {
  const clashes = (port: number) =>
    taken.some((other) => other === port || other + 10_000 === port || other === port + 10_000);
  for (;;) {
    const port = await listenOnce(0);
    if (clashes(port) || port + 10_000 >= 65_536) continue;
    if ((await listenOnce(port + 10_000).catch(() => 0)) !== 0) return port;
  }
}

function listenOnce(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const { port: bound } = server.address() as net.AddressInfo;
      server.close(() => resolve(bound));
    });
  });
}

/** One `redis-cli` call against a node; its stdout, or a thrown error with what it printed. */
function redisCli(port: number, args: readonly string[]): string {
  const result = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], {
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`redis-cli ${args.join(' ')}: ${result.stderr || result.stdout}`);
  return result.stdout;
}

/** A node of the cluster as `CLUSTER NODES` describes it. */
export interface ClusterNode {
  port: number;
  id: string;
  role: 'master' | 'replica';
  /** For a replica, the id of its master. */
  masterId: string | undefined;
  /** Whether the node is flagged failed (or suspected failed) by the node asked. */
  failed: boolean;
  /** Slot ranges a master serves, inclusive. */
  slots: Array<[number, number]>;
}

/** How a throwaway cluster is built; the defaults are the tests' cluster. */
export interface ThrowawayClusterOptions {
  /**
   * Replicas per master: 1 (the tests' failovers need them) or 0 (bench/workloads/cluster.mjs: three masters
   * alone, so the cluster does the same work per record as one server).
   * @default 1
   */
  replicas?: 0 | 1;
  /**
   * `appendonly yes` on every node (what a failover test keeps), or no persistence at all, as the shared Redis the
   * bench compares against runs.
   * @default true
   */
  appendOnly?: boolean;
  /**
   * Every node renames SPUBLISH and SSUBSCRIBE away (`rename-command`), so the cluster looks like one without sharded
   * pub/sub (Redis 6): what the library's plain pub/sub fallback runs against.
   * @default false
   */
  withoutShardedPubSub?: boolean;
}

/**
 * A Redis Cluster of the test's own on loopback: 3 masters and (by default) 3 replicas (6 `redis-server` processes
 * on free ports, each in a temp dir), made with `redis-cli --cluster create`. Never the shared Redis. A master
 * killed with SIGKILL keeps nothing its replica had not received: what the failover tests measure.
 */
export class ThrowawayRedisCluster {
  readonly ports: number[] = [];
  private readonly children = new Map<number, ChildProcess>();
  private readonly dir = mkdtempSync(path.join(tmpdir(), 'redis-cluster-'));
  private readonly replicas: 0 | 1;
  private readonly appendOnly: boolean;
  private readonly withoutShardedPubSub: boolean;

  constructor(options: ThrowawayClusterOptions = {}) {
    this.replicas = options.replicas ?? 1;
    this.appendOnly = options.appendOnly ?? true;
    this.withoutShardedPubSub = options.withoutShardedPubSub ?? false;
    process.once('exit', () => {
      for (const child of this.children.values()) child.kill('SIGKILL');
      rmSync(this.dir, { recursive: true, force: true });
    });
  }

  /** Startup nodes for ioredis `Cluster`. */
  get nodes(): Array<{ host: string; port: number }> {
    return this.ports.map((port) => ({ host: '127.0.0.1', port }));
  }

  async start(): Promise<void> {
    for (let i = 0; i < 3 * (1 + this.replicas); i++) this.ports.push(await freeClusterPort(this.ports));
    await Promise.all(this.ports.map((port) => this.startNode(port)));
    const create = spawnSync(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...this.ports.map((port) => `127.0.0.1:${port}`),
        '--cluster-replicas',
        String(this.replicas),
        '--cluster-yes',
      ],
      { encoding: 'utf8' },
    );
    if (create.status !== 0)
      throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
    await this.waitUntil(
      () => this.healthy(),
      `cluster_state:ok on every node with 3 masters and ${3 * this.replicas} replicas, each synced`,
    );
  }

  /** Every node of the cluster, as a live node sees it. */
  describe(): ClusterNode[] {
    const live = this.livePort();
    return redisCli(live, ['cluster', 'nodes'])
      .trim()
      .split('\n')
      .map((line) => {
        const [id, address, flags, master, , , , , ...slotRanges] = line.split(' ');
        const flagList = flags!.split(',');
        return {
          port: Number(address!.split('@')[0]!.split(':').pop()),
          id: id!,
          role: flagList.includes('master') ? 'master' : 'replica',
          masterId: master === '-' ? undefined : master,
          failed: flagList.includes('fail') || flagList.includes('fail?'),
          slots: slotRanges
            .filter((range) => /^\d/.test(range))
            .map((range) => {
              const [from, to] = range.split('-').map(Number);
              return [from!, to ?? from!] as [number, number];
            }),
        } satisfies ClusterNode;
      });
  }

  /** The live master serving `key`'s slot. */
  masterOf(key: string): ClusterNode {
    const slot = Number(redisCli(this.livePort(), ['cluster', 'keyslot', key]).trim());
    const master = this.describe().find(
      (node) =>
        node.role === 'master' && !node.failed && node.slots.some(([from, to]) => slot >= from && slot <= to),
    );
    if (!master) throw new Error(`no live master serves slot ${slot}`);
    return master;
  }

  /**
   * Start one more node and join it as a replica of the master on `masterPort`, once it has synced. A master with
   * two replicas keeps one after a failover: what `replicaAcks: 1` needs to go on confirming writes.
   */
  async addReplica(masterPort: number): Promise<ClusterNode> {
    const master = this.describe().find((node) => node.port === masterPort && node.role === 'master');
    if (!master) throw new Error(`port ${masterPort} is not a master`);
    const port = await freeClusterPort(this.ports);
    this.ports.push(port);
    await this.startNode(port);
    const add = spawnSync(
      'redis-cli',
      [
        '--cluster',
        'add-node',
        `127.0.0.1:${port}`,
        `127.0.0.1:${masterPort}`,
        '--cluster-slave',
        '--cluster-master-id',
        master.id,
      ],
      { encoding: 'utf8' },
    );
    if (add.status !== 0) throw new Error(`redis-cli --cluster add-node failed: ${add.stdout}${add.stderr}`);
    await this.waitUntil(
      () => redisCli(port, ['info', 'replication']).includes('master_link_status:up') && this.clusterOk(),
      `the node on ${port} to sync as a replica of ${masterPort}`,
    );
    return this.describe().find((node) => node.port === port)!;
  }

  /**
   * Kill a master with SIGKILL (no shutdown: it keeps nothing its replica had not received) and wait until its
   * replica serves its slots and every remaining node reports the cluster ok. Returns the promoted node.
   */
  async killMasterAndAwaitFailover(port: number): Promise<ClusterNode> {
    const victim = this.describe().find((node) => node.port === port);
    if (!victim || victim.role !== 'master') throw new Error(`port ${port} is not a master`);
    const replicaIds = new Set(
      this.describe()
        .filter((n) => n.masterId === victim.id)
        .map((n) => n.id),
    );
    const child = this.children.get(port)!;
    this.children.delete(port);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    let promoted: ClusterNode | undefined;
    await this.waitUntil(() => {
      promoted = this.describe().find(
        (node) => replicaIds.has(node.id) && node.role === 'master' && node.slots.length > 0,
      );
      return promoted !== undefined && this.clusterOk();
    }, `a replica of ${port} to take over its slots`);
    return promoted!;
  }

  async stop(): Promise<void> {
    const children = [...this.children.values()];
    this.children.clear();
    await Promise.all(
      children.map((child) => {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        return exited;
      }),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }

  private livePort(): number {
    const live = this.ports.find((port) => this.children.has(port));
    if (live === undefined) throw new Error('no node of the cluster is running');
    return live;
  }

  private clusterOk(): boolean {
    return [...this.children.keys()].every((port) =>
      redisCli(port, ['cluster', 'info']).includes('cluster_state:ok'),
    );
  }

  private healthy(): boolean {
    if (!this.clusterOk()) return false;
    const nodes = this.describe();
    const replicas = nodes.filter((n) => n.role === 'replica');
    return (
      nodes.filter((n) => n.role === 'master').length === 3 &&
      replicas.length === 3 * this.replicas &&
      replicas.every((n) => redisCli(n.port, ['info', 'replication']).includes('master_link_status:up'))
    );
  }

  private async startNode(port: number): Promise<void> {
    const dir = path.join(this.dir, String(port));
    mkdirSync(dir);
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        'nodes.conf',
        '--cluster-node-timeout',
        '1000',
        '--appendonly',
        this.appendOnly ? 'yes' : 'no',
        '--save',
        '',
        // A replica's first sync starts at once, not after Redis 7's 5 s wait for more replicas to share it: a master
        // killed within 5 s of the start had a replica with no data, which the cluster never promoted.
        '--repl-diskless-sync-delay',
        '0',
        ...(this.withoutShardedPubSub
          ? [
              '--rename-command',
              'SPUBLISH',
              'spublish-renamed',
              '--rename-command',
              'SSUBSCRIBE',
              'ssubscribe-renamed',
            ]
          : []),
      ],
      { stdio: 'ignore' },
    );
    this.children.set(port, child);
    await this.waitUntil(async () => await accepting(port), `redis-server on ${port} to accept connections`);
  }

  private async waitUntil(
    check: () => boolean | Promise<boolean>,
    what: string,
    timeout = 30_000,
  ): Promise<void> {
    const deadline = Date.now() + timeout;
    for (;;) {
      try {
        if (await check()) return;
      } catch {
        // A node mid-failover may refuse a command; keep asking until the deadline.
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(100);
    }
  }
}

function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
