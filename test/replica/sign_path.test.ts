// SignPath on a hand-run host: what a node that stopped after an error still answers.

import { discardLogger } from '../../src/log/logger';
import { EntryType, MessageType } from '../../src/raft/types';
import type { LeaderAnswer } from '../../src/replica/leader_answer';
import type { ReleaseAnswer } from '../../src/replica/release_rule';
import { SignPath } from '../../src/replica/sign_path';
import { KeyRing } from '../../src/signer/key_ring';
import { encodeSignerCommand } from '../../src/signer/signer_codec';
import { SignerStateMachine } from '../../src/signer/signer_state_machine';
import { voteRequest } from '../support/sign_requests';
import { CHAIN_A, KEY_A } from '../signer/signer_test_support';
import { handRunNode } from './hand_run_host';

describe('SignPath on a node that stopped after an error', () => {
  test('releases nothing, not even a decision it durably applied before the error', () => {
    const keys = new KeyRing([[CHAIN_A, KEY_A]]);
    const machine = SignerStateMachine.fromRecords({ applied: 0, records: [] }, keys, discardLogger());
    const { driver, clock, writes, run } = handRunNode('a', ['a', 'b'], machine);
    const forwarded: ((a: LeaderAnswer) => void)[] = [];
    const path = new SignPath({
      driver,
      machine,
      keys,
      clock,
      forwarder: { forward: (_leader, _request, _timeout, onAnswer) => (forwarded.push(onAnswer), { cancel: () => undefined }) },
      deadlineMs: 1000,
      logger: discardLogger(),
    });
    const append = (index: number, data: Uint8Array, commit: number) =>
      driver.receive({ type: MessageType.Append, from: 'b', to: 'a', term: 2, logTerm: index === 2 ? 1 : 2, index: index - 1, entries: [{ term: 2, index, type: EntryType.Normal, data }], commit, reject: false, rejectHint: 0 });
    driver.start();
    // b leads term 2; a follows it.
    append(2, new Uint8Array(0), 2);
    run();
    writes.shift()?.done(null);
    run();
    expect(driver.status().leader).toBe('b');

    const request = voteRequest(CHAIN_A, KEY_A.publicKey, { height: 5, type: 'prevote', block: 'A' });
    const answers: ReleaseAnswer[] = [];
    path.sign(request, 1000, (a) => answers.push(a));
    run();
    expect(forwarded).toHaveLength(1);
    // The entry deciding it commits, and a applies it durably...
    append(3, encodeSignerCommand({ kind: 'sign', requests: [request] }), 3);
    run();
    writes.shift()?.done(null);
    run();
    expect(driver.appliedDurably()).toBe(3);
    // ...then its next write fails: the node stops.
    append(4, new Uint8Array(0), 4);
    run();
    writes.shift()?.done(new Error('fsync failed: input/output error'));
    expect(driver.failure()?.message).toMatch(/fsync failed/);
    // The leader's answer arrives afterwards.
    forwarded[0]({ kind: 'decided', index: 3, term: 2, position: 0 });
    expect(answers).toHaveLength(1);
    expect(answers[0].kind).toBe('refused');
    if (answers[0].kind === 'refused') expect(answers[0].reason).toBe('node-stopped');
  });
});
