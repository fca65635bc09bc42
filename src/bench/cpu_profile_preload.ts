// Loaded into each node process with `--require` (through NODE_OPTIONS, which does not allow
// --cpu-prof itself) when the benchmark runs with --profile: records a V8 CPU profile, as
// `node --cpu-prof` does, and writes it on exit to $RAFT_SIGNER_CPU_PROF_DIR as a .cpuprofile
// file (open it in Chrome DevTools or speedscope). A node killed with SIGKILL writes none.

import fs from 'node:fs';
import { Session } from 'node:inspector';
import path from 'node:path';

const dir = process.env.RAFT_SIGNER_CPU_PROF_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 500 });
  session.post('Profiler.start');
  process.on('exit', () => {
    // The same-thread inspector session answers synchronously, so this runs before exit.
    session.post('Profiler.stop', (err, result) => {
      if (err) return;
      const file = path.join(dir, `CPU.${new Date().toISOString().replace(/[:.]/g, '')}.${process.pid}.cpuprofile`);
      fs.writeFileSync(file, JSON.stringify(result.profile));
    });
  });
}
