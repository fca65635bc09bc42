// The leader's half of the admin commands: leadership transfer and membership changes, carried out
// through the driver (RaftNode) and answered only once they have taken effect here, or refused with
// an AdminError that says what to do. Runs on any node; every method first checks that this node
// leads, and names the leader otherwise (the CLI then asks it).
//
// A membership change takes effect when its entry commits (src/raft/confchange.ts), so "done" means:
// the entry is committed and this leader has applied it, and the membership it now has is the one
// asked for. If leadership changes before that, the change was not made (or was made by the entry
// surviving under the next leader); the answer says "lost" and a retry finds out which, because
// every change here is idempotent: adding a learner that is already one (at the same address) or
// promoting a voter answers "already so" without proposing anything.

import { isValidCertificateName } from '../certs/certificate_identity';
import type { Logger } from '../log/logger';
import { ConfChange } from '../raft/confchange';
import { ProposalRefusedError } from '../raft/errors';
import { NodeId, ProgressStatus, RaftStatus, Role } from '../raft/types';
import { AdminError, AdminErrorCode, NotLeaderAdminError } from '../transport/admin_errors';
import { MembershipChange, MembershipView, TransferLeaderView } from '../transport/admin_views';
import { isPeerAddress, MemberDirectory } from './member_directory';
import { NodeStoppedError } from '../replica/driver';
import { RaftNode } from './raft_node';
import { sleep } from '../util/sleep';

/** An add-learner change that carries the learner's address to every member (member_directory.ts). */
export type AddLearnerWithAddress = Extract<ConfChange, { type: 'addLearner' }> & { address: string };

export interface ClusterAdminOptions {
  node: RaftNode;
  directory: MemberDirectory;
  /**
   * Asks the node at `address` (certificate `id`) for its store id: the incarnation an add-learner
   * entry names, so that only that store ever counts once promoted (src/raft/types.ts ConfState).
   */
  askIncarnation: (id: NodeId, address: string) => Promise<string>;
  electionTimeoutMs: number;
  logger: Logger;
}

const POLL_MS = 10;

function list(ids: readonly string[]): string {
  return ids.length === 0 ? 'none' : ids.join(', ');
}

/** Whether the membership in `status` is what `change` asked for. */
function inEffect(change: MembershipChange, status: RaftStatus): boolean {
  const { voters, learners } = status.confState;
  switch (change.kind) {
    case 'add-learner':
      return learners.includes(change.id);
    case 'promote':
      return voters.includes(change.id);
    case 'remove':
      return !voters.includes(change.id) && !learners.includes(change.id);
  }
}

export class ClusterAdmin {
  private readonly node: RaftNode;
  private readonly directory: MemberDirectory;
  private readonly askIncarnation: (id: NodeId, address: string) => Promise<string>;
  private readonly electionTimeoutMs: number;
  private readonly logger: Logger;

  constructor(options: ClusterAdminOptions) {
    this.node = options.node;
    this.directory = options.directory;
    this.askIncarnation = options.askIncarnation;
    this.electionTimeoutMs = options.electionTimeoutMs;
    this.logger = options.logger;
  }

  private get id(): string {
    return this.node.id;
  }

  /** The status, if this node leads; otherwise throws naming the leader. */
  private requireLeader(): RaftStatus {
    if (this.node.isStopped()) throw new AdminError('node-stopped', `node ${this.id} is stopping or stopped; ask another node`, this.id);
    const status = this.node.status();
    if (status.role !== Role.Leader) {
      const leader = status.leader;
      throw new NotLeaderAdminError(this.id, leader, leader ? this.directory.addressOf(leader) : null);
    }
    return status;
  }

  /** A refusal of the core, as an AdminError with what to do. */
  private fromCore(e: unknown): Error {
    if (e instanceof NodeStoppedError) return new AdminError('node-stopped', `node ${this.id}: ${e.message}; ask another node`, this.id);
    if (!(e instanceof ProposalRefusedError)) return e as Error;
    const codes: Record<ProposalRefusedError['reason'], AdminErrorCode> = {
      'not-leader': 'not-leader',
      'transfer-in-progress': 'transfer-in-progress',
      'conf-change-pending': 'change-pending',
      'term-not-committed': 'term-not-committed',
      'invalid-conf-change': 'invalid-request',
      'learner-not-caught-up': 'learner-not-caught-up',
    };
    if (e.reason === 'not-leader') {
      const leader = e.leaderHint;
      return new NotLeaderAdminError(this.id, leader, leader ? this.directory.addressOf(leader) : null);
    }
    return new AdminError(codes[e.reason], `node ${this.id} (leader): ${e.message}`, this.id);
  }

  async transferLeader(to: NodeId | null, budgetMs: number): Promise<TransferLeaderView> {
    const status = this.requireLeader();
    if (to === this.id) return { from: this.id, leader: this.id, term: status.term };
    const voters = status.confState.voters;
    let target: NodeId;
    if (to !== null) {
      if (!voters.includes(to)) {
        const learner = status.confState.learners.includes(to);
        throw new AdminError(
          learner ? 'invalid-request' : 'not-a-member',
          learner
            ? `node ${this.id} (leader): ${to} is a learner and cannot lead; promote it first (raft-signer cluster promote --id ${to})`
            : `node ${this.id} (leader): ${to} is not a voter (voters: ${list(voters)})`,
          this.id,
        );
      }
      target = to;
    } else {
      const best = status.progress
        .filter((p: ProgressStatus) => !p.isLearner && p.recentActive && voters.includes(p.id))
        .sort((a, b) => b.match - a.match)[0];
      if (!best) {
        throw new AdminError(
          'transfer-failed',
          `node ${this.id} (leader): no other voter has answered recently, so none can take over; check \`raft-signer status\``,
          this.id,
        );
      }
      target = best.id;
    }
    try {
      await this.node.transferLeadership(target);
    } catch (e) {
      throw this.fromCore(e);
    }
    this.logger.info(`transferring leadership to ${target} on an admin request`);
    // The target needs to catch up, campaign and win: a few round trips, at most an election
    // timeout before the core gives up; allow twice that (and no more than the caller waits).
    const deadline = Date.now() + Math.min(budgetMs, 2 * this.electionTimeoutMs + 500);
    for (;;) {
      const now = this.node.status();
      if (now.leader !== null && now.leader !== this.id) return { from: this.id, leader: now.leader, term: now.term };
      if (Date.now() >= deadline) {
        if (now.role === Role.Leader) {
          throw new AdminError(
            'transfer-failed',
            `node ${this.id} is still the leader: ${target} did not take over within ${Math.round(budgetMs)} ms; is it running and caught up? (raft-signer status)`,
            this.id,
          );
        }
        throw new AdminError(
          'transfer-failed',
          `node ${this.id} stepped down but no new leader is known yet (an election is running); check \`raft-signer status\` in a moment`,
          this.id,
        );
      }
      await sleep(POLL_MS);
    }
  }

  async changeMembership(change: MembershipChange, budgetMs: number): Promise<MembershipView> {
    if (!isValidCertificateName(change.id)) {
      throw new AdminError('invalid-request', `node ${this.id}: ${JSON.stringify(change.id)} is not a valid node id (letters, digits, '-' and '.')`, this.id);
    }
    if (change.kind === 'add-learner' && !isPeerAddress(change.address)) {
      throw new AdminError('invalid-request', `node ${this.id}: ${JSON.stringify(change.address)} is not host:port`, this.id);
    }
    const status = this.requireLeader();
    const unchanged = this.alreadyDone(change, status);
    if (unchanged !== null) return this.view(status, false, 0, unchanged);

    let cc: ConfChange;
    if (change.kind === 'add-learner') {
      const incarnation = change.storeId !== undefined ? this.checkedStoreId(change.id, change.storeId) : await this.incarnationOf(change.id, change.address);
      // Known before the entry commits, so this leader's transport has the link ready when it is.
      this.directory.learn(change.id, change.address, 'the add-learner request');
      const withAddress: AddLearnerWithAddress = { type: 'addLearner', node: change.id, incarnation, address: change.address };
      cc = withAddress;
    } else {
      cc = { type: change.kind, node: change.id };
    }
    let proposed: { index: number; term: number };
    try {
      proposed = await this.node.proposeConfChange(cc);
    } catch (e) {
      throw this.fromCore(e);
    }
    this.logger.info(`membership change proposed on an admin request`, { change: change.kind, node: change.id, index: proposed.index });
    const applied = await this.waitAppliedWithin(proposed.index, budgetMs);
    const after = this.node.status();
    if (!applied || this.node.appliedDurably() < proposed.index) {
      if (this.node.isStopped()) throw new AdminError('node-stopped', `node ${this.id} stopped before the change (entry ${proposed.index}) committed`, this.id);
      throw new AdminError(
        'no-quorum',
        `node ${this.id} (leader) appended the change as entry ${proposed.index} but a majority of the voters did not acknowledge it within ` +
          `${Math.round(budgetMs)} ms; it commits when they answer again: check \`raft-signer status\` before trying anything else`,
        this.id,
      );
    }
    if (!inEffect(change, after)) {
      throw new AdminError(
        'lost',
        `leadership changed before the change (entry ${proposed.index}) committed, so it was not made; retry (the new leader is ${after.leader ?? 'not known yet'})`,
        this.id,
      );
    }
    return this.view(after, true, proposed.index, this.doneMessage(change));
  }

  private checkedStoreId(id: NodeId, storeId: string): string {
    if (!/^[0-9a-f]{32}$/.test(storeId)) {
      throw new AdminError('invalid-request', `node ${this.id} (leader): ${JSON.stringify(storeId)} is not a store id for ${id} (32 hex digits, as its status shows)`, this.id);
    }
    return storeId;
  }

  /** The new learner's store id, asked of the node itself; refused when it cannot be asked. */
  private async incarnationOf(id: NodeId, address: string): Promise<string> {
    let incarnation: string;
    try {
      incarnation = await this.askIncarnation(id, address);
    } catch (e) {
      throw new AdminError(
        'unreachable',
        `node ${this.id} (leader) cannot ask ${id} at ${address} which store it runs with (${(e as Error).message}): ` +
          `start it first (with \`join: true\` in its config.yaml, its peers listing this cluster's members), then retry`,
        this.id,
      );
    }
    if (!/^[0-9a-f]{32}$/.test(incarnation)) {
      throw new AdminError('invalid-request', `node ${this.id} (leader): ${id} at ${address} answered with no usable store id`, this.id);
    }
    return incarnation;
  }

  /** Whether this node applied `index` within `ms` (waitApplied also resolves when the node stops). */
  private waitAppliedWithin(index: number, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      void this.node.waitApplied(index).then(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /**
   * Before proposing: a message when `change` is already in effect (a retried request; nothing to
   * propose), null when it needs doing; throws when it cannot be done.
   */
  private alreadyDone(change: MembershipChange, status: RaftStatus): string | null {
    const { voters, learners } = status.confState;
    const membership = `(voters: ${list(voters)}; learners: ${list(learners)})`;
    switch (change.kind) {
      case 'add-learner': {
        if (voters.includes(change.id)) {
          throw new AdminError(
            'already-member',
            `node ${this.id} (leader): ${change.id} is already a voter ${membership}; if its disk was lost or replaced, remove it ` +
              `first (raft-signer cluster remove --id ${change.id}), then add its new store as a learner`,
            this.id,
          );
        }
        if (!learners.includes(change.id)) return null;
        const known = this.directory.addressOf(change.id);
        if (known !== null && known !== change.address) {
          throw new AdminError(
            'already-member',
            `node ${this.id} (leader): ${change.id} is already a learner at ${known}; to move it, remove it and add it again`,
            this.id,
          );
        }
        return `${change.id} is already a learner`;
      }
      case 'promote':
        if (voters.includes(change.id)) return `${change.id} is already a voter`;
        if (!learners.includes(change.id)) {
          throw new AdminError(
            'not-a-member',
            `node ${this.id} (leader): ${change.id} is not a learner ${membership}; add it first (raft-signer cluster add-learner --id ${change.id} --address HOST:PORT)`,
            this.id,
          );
        }
        return null;
      case 'remove':
        if (voters.includes(change.id) || learners.includes(change.id)) return null;
        // Most likely a typo: say so rather than report success.
        throw new AdminError('not-a-member', `node ${this.id} (leader): ${change.id} is not a member ${membership}`, this.id);
    }
  }

  private doneMessage(change: MembershipChange): string {
    switch (change.kind) {
      case 'add-learner':
        return `${change.id} is a learner at ${change.address}: it replicates the log and signs nothing until promoted`;
      case 'promote':
        return `${change.id} is a voter`;
      case 'remove':
        return `${change.id} is no longer a member: stop its process; it signs nothing and the others no longer talk to it`;
    }
  }

  private view(status: RaftStatus, changed: boolean, index: number, message: string): MembershipView {
    return {
      changed,
      index,
      voters: status.confState.voters,
      learners: status.confState.learners,
      leader: status.leader ?? '',
      message,
    };
  }
}
