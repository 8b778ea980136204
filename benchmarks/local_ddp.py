"""The 2-process DDP script both sides of the local benchmark run: a small MLP, 30 steps on gloo."""

import os
import sys

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

dist.init_process_group("gloo", init_method="env://")
torch.manual_seed(0)
model = DDP(torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.ReLU(), torch.nn.Linear(512, 10)))
opt = torch.optim.SGD(model.parameters(), lr=0.01)
for step in range(30):
    x = torch.randn(64, 256)
    loss = model(x).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
if dist.get_rank() == 0:
    print(f"loss={loss.item():.4f}", flush=True)
# Both ranks reach teardown together: a rank tearing gloo down while its peer still sends
# aborted now and then ("terminate called without an active exception", SIGABRT).
dist.barrier()
dist.destroy_process_group()
# Interpreter shutdown can still abort in gloo's thread destructors now and then (seen on both
# sides, ours and torchrun); the work is done and flushed, so leave without that shutdown.
sys.stdout.flush()
os._exit(0)
