// Shard 1 of 2 of the unit files that share a process (see shard.ts).
import { runShard } from './shard.ts';

await runShard(1, 2);
