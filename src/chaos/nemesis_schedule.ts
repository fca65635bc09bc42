// The nemesis's plan: which faults, on whom, for how long, in what order, drawn from the seed
// alone before the run starts, so the same seed replays the same schedule. What cannot be known
// in advance (which node leads when a fault starts) is planned as a role ("the leader", "the
// second follower") and resolved when the fault starts; the report shows both.

import { SeededRandom } from '../raft/rng';

export const FAULT_KINDS = [
  'kill-leader',
  'kill',
  'pause',
  'isolate-leader',
  'split',
  'one-way',
  'flap',
  'latency',
  'rolling-restart',
  'wipe',
  'restore',
  'partition-all',
  'rejoin-misordered',
  'rollback-home',
  'wipe-rejoined',
  'foreign-cert',
  'duplicate-identity',
] as const;

/**
 * Faults beyond the failure budget that a 3-node cluster is built for (one failure): never drawn
 * by "all", only when named. They show what the product does when more fails at once than it
 * promises to survive: it may stop signing, but it must still never double-sign.
 */
export const BEYOND_BUDGET_FAULT_KINDS = ['wipe-lagging', 'restore-lagging'] as const;

export type FaultKind = (typeof FAULT_KINDS)[number] | (typeof BEYOND_BUDGET_FAULT_KINDS)[number];

/** What each kind does, for --help and the report. */
export const FAULT_DESCRIPTIONS: Readonly<Record<FaultKind, string>> = {
  'kill-leader': 'SIGKILL the leader, restart it after a delay',
  kill: 'SIGKILL a node (leader or follower), restart it after a delay',
  pause: 'SIGSTOP a node (a frozen VM, a long GC pause), SIGCONT after a while; its data directory is copied while frozen',
  'isolate-leader': "cut the leader off from every other node (both ways), heal",
  split: 'split the nodes into a majority and a minority side, heal',
  'one-way': "lose every byte one way only: the leader's outbound, its inbound, or one node to another",
  flap: "make one node's links go down and up every few hundred ms, cutting connections at random",
  latency: 'add latency and jitter to every link, or to one node\'s links',
  'rolling-restart': 'SIGTERM and restart every node in turn, as an upgrade does; data directories are copied while stopped',
  wipe: 'SIGKILL a node, delete its data directory (a replaced disk), bring it back as the product requires (remove, rejoin as a learner, promote)',
  restore: 'SIGKILL a node, put back an older copy of its data directory (a restored backup), restart it',
  'partition-all': 'cut every node off from every other: no majority anywhere for a while',
  'rejoin-misordered':
    "SIGKILL a node, delete its data directory, and do the rejoin procedure in a wrong order (started with join: true before `cluster remove`, add-learner before it is up, promote before it caught up, add-learner before remove, or started without join: true); it must rejoin in the end",
  'rollback-home':
    "image a node's whole home (frozen or stopped), later SIGKILL it and put the image back (whole home: refused by a peer, \"behind its own past\"; data/ only: refused by its own record), then rejoin it as a learner",
  'wipe-rejoined':
    'a second disk loss of a node rejoined before (join: true left in its config): restarted at once on a new store, it must not count (sometimes the leader is SIGKILLed meanwhile: no leader may be elected) until removed, re-added and promoted',
  'foreign-cert':
    "start a node with another node's tls/ (in a spare home, or in its own home while stopped): the start must be refused",
  'duplicate-identity':
    "start a second process with a node's certificate and key on another port (a home image started twice): the peers refuse it (\"duplicate identity\") and the cluster keeps its leader",
  'wipe-lagging':
    "cut a follower off so it lags, replace another follower's disk (SIGKILL, wipe, restart) while the leader cannot reach it, then SIGKILL the leader and heal (not in \"all\": three failures at once)",
  'restore-lagging':
    "copy a follower's data, cut another follower off so it lags, put the copy back (SIGKILL, restore, restart) while the leader cannot reach it, then SIGKILL the leader and heal (not in \"all\")",
};

/** Kinds that need the cluster to run as separate processes with a data directory and peer links. */
export const FAULT_NEEDS: Readonly<Record<FaultKind, readonly ('pause' | 'terminate' | 'storage' | 'network' | 'operator')[]>> = {
  'kill-leader': [],
  kill: [],
  pause: ['pause'],
  'isolate-leader': ['network'],
  split: ['network'],
  'one-way': ['network'],
  flap: ['network'],
  latency: ['network'],
  'rolling-restart': ['terminate'],
  wipe: ['storage'],
  restore: ['storage', 'pause'],
  'partition-all': ['network'],
  'rejoin-misordered': ['storage', 'operator'],
  'rollback-home': ['storage', 'operator', 'pause', 'terminate'],
  'wipe-rejoined': ['storage', 'operator'],
  'foreign-cert': ['operator'],
  'duplicate-identity': ['operator', 'network'],
  'wipe-lagging': ['storage', 'network'],
  'restore-lagging': ['storage', 'network', 'pause'],
};

/** How often each kind is drawn, relative to the others. */
const WEIGHTS: Readonly<Record<FaultKind, number>> = {
  'kill-leader': 4,
  kill: 2,
  pause: 3,
  'isolate-leader': 2,
  split: 2,
  'one-way': 2,
  flap: 1,
  latency: 1.5,
  'rolling-restart': 0.7,
  wipe: 1,
  restore: 1,
  'partition-all': 0.4,
  'rejoin-misordered': 1,
  'rollback-home': 1,
  'wipe-rejoined': 0.7,
  'foreign-cert': 0.7,
  'duplicate-identity': 0.8,
  'wipe-lagging': 1,
  'restore-lagging': 1,
};

/** A node named by role, resolved when the fault starts. */
export type NodeTarget =
  | { role: 'leader' }
  /** The pick-th follower (modulo their number) at that moment. */
  | { role: 'follower'; pick: number }
  /** Node ids[index]. */
  | { role: 'node'; index: number };

/** The wrong orders of the lost-disk procedure (docs/operations.md, "A lost or replaced disk"). */
export const MISORDERED_REJOINS = [
  /** join: true and started before `cluster remove` (runs, unnamed), then remove, add-learner, promote. */
  'start-before-remove',
  /** remove, then add-learner while the node is still down (the CLI retries), started meanwhile. */
  'add-learner-before-start',
  /** remove, start, add-learner, and promote at once, before it caught up. */
  'promote-early',
  /** started with join: true, add-learner before remove (refused: still a voter), then the procedure. */
  'add-learner-before-remove',
  /** remove, then started without join: true (refused at start), then the procedure. */
  'start-without-join',
] as const;
export type MisorderedRejoin = (typeof MISORDERED_REJOINS)[number];

export type FaultSpec =
  | { kind: 'kill-leader'; downMs: number }
  | { kind: 'kill'; target: NodeTarget; downMs: number }
  | { kind: 'pause'; target: NodeTarget; pauseMs: number }
  | { kind: 'isolate-leader'; durationMs: number; cutOnHeal: boolean }
  /** The minority side: these node indices (fewer than half). */
  | { kind: 'split'; minority: number[]; durationMs: number; cutOnHeal: boolean }
  | { kind: 'one-way'; direction: 'leader-out' | 'leader-in' | 'pair'; from: number; to: number; durationMs: number }
  | { kind: 'flap'; node: NodeTarget; periodMs: number; durationMs: number }
  /** node -1: every link. */
  | { kind: 'latency'; node: number; delayMs: number; jitterMs: number; durationMs: number }
  | { kind: 'rolling-restart'; order: number[]; settleMs: number }
  | { kind: 'wipe'; target: NodeTarget; downMs: number }
  /** ageMs: if the node has no copy of its data yet, one is taken this long before the restore. */
  | { kind: 'restore'; target: NodeTarget; ageMs: number; downMs: number; oldest: boolean }
  | { kind: 'partition-all'; durationMs: number }
  | { kind: 'rejoin-misordered'; target: NodeTarget; order: MisorderedRejoin; downMs: number }
  /**
   * image: how the image is taken (SIGSTOP and copy, or SIGTERM, copy and restart); scope: what
   * is put back (the whole home, or only data/); ageMs: if the node has no image yet, one is taken
   * this long before; oldest: which of its images.
   */
  | { kind: 'rollback-home'; target: NodeTarget; image: 'frozen' | 'stopped'; scope: 'home' | 'data'; ageMs: number; downMs: number; oldest: boolean }
  /** killLeaderMs: how long the leader is down while the node runs unnamed (0: not killed). */
  | { kind: 'wipe-rejoined'; target: NodeTarget; downMs: number; killLeaderMs: number }
  /** from: whose tls/ (the pick-th other node); inPlace: in the node's own home (stopped) rather than a spare one. */
  | { kind: 'foreign-cert'; target: NodeTarget; from: number; inPlace: boolean }
  | { kind: 'duplicate-identity'; target: NodeTarget; durationMs: number }
  /** wipe: which follower loses its data (index among the followers); the other one lags. */
  | { kind: 'wipe-lagging' | 'restore-lagging'; lagMs: number; downMs: number; wipe: number };

export interface Episode {
  /** Quiet time before the episode starts. */
  gapMs: number;
  /** Faults started together (more than one only with 5 or more nodes, never more than a minority of nodes). */
  faults: FaultSpec[];
  /** A rough length (the real one depends on how fast nodes restart and catch up). */
  estimatedMs: number;
}

export interface ScheduleOptions {
  seed: number;
  nodes: number;
  durationMs: number;
  /** Kinds to draw from (default all). */
  kinds?: readonly FaultKind[];
  /** Quiet time at the end of the run, to see the cluster recover (default 3 s). */
  tailMs?: number;
}

const PROCESS_KINDS: ReadonlySet<FaultKind> = new Set(['kill', 'pause']);

/** The whole schedule for a run: episodes until the duration (less the tail) is planned out. */
export function planSchedule(options: ScheduleOptions): Episode[] {
  const kinds = options.kinds ?? FAULT_KINDS;
  if (kinds.length === 0) return [];
  const random = new SeededRandom(options.seed);
  const n = options.nodes;
  const minority = Math.floor((n - 1) / 2);
  const budget = options.durationMs - (options.tailMs ?? 3000);
  const episodes: Episode[] = [];
  // The first fault waits for the cluster to settle into signing.
  let planned = 2000;
  for (;;) {
    const gapMs = random.between(1000, 4000);
    const first = drawFault(random, pickKind(random, kinds), n);
    const faults: FaultSpec[] = [first];
    // With five nodes a second node may fail meanwhile (a minority of two), which is when Raft
    // has the least slack; only process faults, on a node other than the first one's.
    const processKinds = kinds.filter((k) => PROCESS_KINDS.has(k));
    if (minority >= 2 && isSingleNodeFault(first) && processKinds.length > 0 && random.chance(0.35)) {
      const second = drawFault(random, random.pick(processKinds), n);
      // A home rolled back is caught by a live peer that saw its later terms, the leader above
      // all: never together with a leader crash (the README's undetectable combination).
      if (first.kind === 'rollback-home' && 'target' in second) second.target = { role: 'follower', pick: random.nextInt(n) };
      faults.push(second);
    }
    const estimatedMs = Math.max(...faults.map((f) => estimateMs(f, n)));
    if (planned + gapMs + estimatedMs > budget) break;
    planned += gapMs + estimatedMs;
    episodes.push({ gapMs, faults, estimatedMs });
  }
  return episodes;
}

function pickKind(random: SeededRandom, kinds: readonly FaultKind[]): FaultKind {
  const total = kinds.reduce((s, k) => s + WEIGHTS[k], 0);
  let x = random.nextFloat() * total;
  for (const k of kinds) {
    x -= WEIGHTS[k];
    if (x < 0) return k;
  }
  return kinds[kinds.length - 1] as FaultKind;
}

function drawTarget(random: SeededRandom, n: number): NodeTarget {
  const r = random.nextFloat();
  if (r < 0.4) return { role: 'leader' };
  if (r < 0.8) return { role: 'follower', pick: random.nextInt(n) };
  return { role: 'node', index: random.nextInt(n) };
}

function drawFault(random: SeededRandom, kind: FaultKind, n: number): FaultSpec {
  switch (kind) {
    case 'kill-leader':
      return { kind, downMs: random.between(300, 4000) };
    case 'kill':
      return { kind, target: drawTarget(random, n), downMs: random.between(300, 5000) };
    case 'pause':
      return { kind, target: drawTarget(random, n), pauseMs: random.between(500, 7000) };
    case 'isolate-leader':
      return { kind, durationMs: random.between(1500, 8000), cutOnHeal: random.chance(0.5) };
    case 'split': {
      const size = 1 + random.nextInt(Math.max(1, Math.floor((n - 1) / 2)));
      const indices = shuffled(random, n).slice(0, size).sort((a, b) => a - b);
      return { kind, minority: indices, durationMs: random.between(1500, 8000), cutOnHeal: random.chance(0.5) };
    }
    case 'one-way': {
      const r = random.nextFloat();
      const direction = r < 0.35 ? 'leader-out' : r < 0.7 ? 'leader-in' : 'pair';
      const [from, to] = shuffled(random, n) as [number, number];
      return { kind, direction, from, to, durationMs: random.between(1500, 8000) };
    }
    case 'flap':
      return { kind, node: drawTarget(random, n), periodMs: random.between(150, 1500), durationMs: random.between(3000, 10000) };
    case 'latency':
      return {
        kind,
        node: random.chance(0.5) ? -1 : random.nextInt(n),
        delayMs: random.between(10, 150),
        jitterMs: random.between(0, 100),
        durationMs: random.between(3000, 10000),
      };
    case 'rolling-restart':
      return { kind, order: shuffled(random, n), settleMs: random.between(200, 1500) };
    case 'wipe':
      return { kind, target: drawTarget(random, n), downMs: random.between(300, 3000) };
    case 'restore':
      return { kind, target: drawTarget(random, n), ageMs: random.between(3000, 10000), downMs: random.between(300, 3000), oldest: random.chance(0.5) };
    case 'partition-all':
      return { kind, durationMs: random.between(1000, 4000) };
    case 'rejoin-misordered':
      return { kind, target: drawTarget(random, n), order: random.pick(MISORDERED_REJOINS), downMs: random.between(300, 2000) };
    case 'rollback-home':
      return {
        kind,
        target: drawTarget(random, n),
        image: random.chance(0.5) ? 'frozen' : 'stopped',
        scope: random.chance(0.75) ? 'home' : 'data',
        ageMs: random.between(3000, 8000),
        downMs: random.between(300, 2000),
        oldest: random.chance(0.5),
      };
    case 'wipe-rejoined':
      return { kind, target: drawTarget(random, n), downMs: random.between(300, 2000), killLeaderMs: random.chance(0.5) ? random.between(1000, 2500) : 0 };
    case 'foreign-cert':
      return { kind, target: drawTarget(random, n), from: random.nextInt(Math.max(1, n - 1)), inPlace: random.chance(0.4) };
    case 'duplicate-identity':
      return { kind, target: random.chance(0.6) ? { role: 'leader' } : drawTarget(random, n), durationMs: random.between(2000, 6000) };
    case 'wipe-lagging':
    case 'restore-lagging':
      return { kind, lagMs: random.between(1500, 5000), downMs: random.between(2000, 5000), wipe: random.nextInt(2) };
  }
}

function isSingleNodeFault(f: FaultSpec): boolean {
  return (
    f.kind === 'kill' ||
    f.kind === 'pause' ||
    f.kind === 'kill-leader' ||
    f.kind === 'wipe' ||
    f.kind === 'rejoin-misordered' ||
    f.kind === 'rollback-home' ||
    (f.kind === 'foreign-cert' && f.inPlace)
  );
}

/** Planned length; restarts are assumed to take about two seconds to start and catch up. */
function estimateMs(f: FaultSpec, n: number): number {
  const restart = 2000;
  switch (f.kind) {
    case 'kill-leader':
    case 'kill':
    case 'wipe':
      return f.downMs + restart;
    case 'pause':
      return f.pauseMs + 500;
    case 'restore':
      return f.ageMs + f.downMs + restart;
    case 'wipe-lagging':
    case 'restore-lagging':
      return f.lagMs + 1500 + f.downMs + 3 * restart;
    case 'rolling-restart':
      return n * (restart + f.settleMs);
    case 'rejoin-misordered':
      return f.downMs + 3 * restart;
    case 'rollback-home':
      return f.ageMs + f.downMs + 4 * restart;
    case 'wipe-rejoined':
      return f.downMs + f.killLeaderMs + 5 * restart;
    case 'foreign-cert':
      return f.inPlace ? 2 * restart : restart / 2;
    case 'duplicate-identity':
      return f.durationMs + restart / 2;
    case 'isolate-leader':
    case 'split':
    case 'one-way':
    case 'flap':
    case 'latency':
    case 'partition-all':
      return f.durationMs + 500;
  }
}

function shuffled(random: SeededRandom, n: number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = random.nextInt(i + 1);
    [a[i], a[j]] = [a[j] as number, a[i] as number];
  }
  return a;
}

/** Parses a --faults list: kind names separated by commas, "all", or "none" (a run without faults). */
export function parseFaultKinds(list: string): FaultKind[] {
  const names = list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (names.length === 1 && names[0] === 'all') return [...FAULT_KINDS];
  if (names.length === 1 && names[0] === 'none') return [];
  const known: readonly string[] = [...FAULT_KINDS, ...BEYOND_BUDGET_FAULT_KINDS];
  const unknown = names.filter((s) => !known.includes(s));
  if (unknown.length > 0) throw new Error(`unknown fault kind${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}: choose from ${known.join(', ')} (or all, or none)`);
  if (names.length === 0) throw new Error(`no fault kinds given: choose from ${FAULT_KINDS.join(', ')} (or all, or none)`);
  return [...new Set(names)] as FaultKind[];
}
