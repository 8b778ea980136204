"""A job that writes TensorBoard scalars into its output folder in two rounds.

Round one: "loss" at steps 0-4 into the folder itself and "accuracy" at steps 0-4 into its `eval`
sub-folder (a run of its own). Then it waits for a file named `go` in the folder (the test creates
it once it has read round one), and writes "loss" at steps 5-7 into the same event file: the
second round must arrive as newer points, not as a new run.
"""
import os
import sys
import time
from pathlib import Path

from torch.utils.tensorboard import SummaryWriter

out = Path(os.environ["DTRAIN_OUTPUT_DIR"])
train, evaluation = SummaryWriter(str(out)), SummaryWriter(str(out / "eval"))
for step in range(5):
    train.add_scalar("loss", 1.0 / (step + 1), step)
    evaluation.add_scalar("accuracy", 0.5 + step / 10, step)
train.flush()
evaluation.close()
print("round one written", flush=True)
deadline = time.monotonic() + 120
while not (out / "go").exists():
    if time.monotonic() > deadline:
        sys.exit("no go file within 120 s")
    time.sleep(0.1)
for step in range(5, 8):
    train.add_scalar("loss", 1.0 / (step + 1), step)
train.close()
print("round two written", flush=True)
