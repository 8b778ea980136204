"""A PyTorch replica: join the gloo group from the operator's env and all_reduce its rank + 1."""
import os
import sys

import torch
import torch.distributed as dist

dist.init_process_group("gloo", init_method="env://")
rank, world = dist.get_rank(), dist.get_world_size()
t = torch.tensor([rank + 1.0])
dist.all_reduce(t)
expected = world * (world + 1) / 2
# One write per line: ranks started by one torchrun share its stdout, and print() writes the text
# and its newline apart, so two ranks' lines could interleave ("...expected=10.0rank=3 ...").
sys.stdout.write(f"rank={rank} world={world} sum={t.item()} expected={expected}\n")
sys.stdout.flush()
if rank == 0:
    with open(os.path.join(os.environ["DTRAIN_OUTPUT_DIR"], "sum.txt"), "w") as f:
        f.write(f"{t.item()}\n")
# Rank 0 decides the job's success (the Master rule): leave only once every rank has printed.
dist.barrier()
dist.destroy_process_group()
sys.exit(0 if t.item() == expected else 3)
