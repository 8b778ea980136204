"""The 2-process DDP script both sides of the local benchmark run: a small MLP, 30 steps on gloo."""

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
