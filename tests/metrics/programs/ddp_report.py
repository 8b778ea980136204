"""A DDP replica that trains a tiny model over gloo and reports its loss and progress with report()."""
import sys
import time

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from dtrain_jupyter import report

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 30
pause = float(sys.argv[2]) if len(sys.argv) > 2 else 0.1
dist.init_process_group("gloo", init_method="env://")
rank = dist.get_rank()
torch.manual_seed(0)
model = DistributedDataParallel(torch.nn.Linear(4, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
x, y = torch.randn(64, 4), torch.randn(64, 1)
for step in range(1, steps + 1):
    optimizer.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()  # DDP all-reduces the gradients here
    optimizer.step()
    report(step=step, loss=loss.item(), progress=step / steps)
    time.sleep(pause)
dist.barrier()
dist.destroy_process_group()
