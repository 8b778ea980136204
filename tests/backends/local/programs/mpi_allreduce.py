"""An MPI rank: allreduce rank + 1 over COMM_WORLD with mpi4py; rank 0 writes the sum."""
import os
import sys

from mpi4py import MPI

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
total = comm.allreduce(rank + 1)
expected = size * (size + 1) // 2
print(f"rank={rank} size={size} sum={total} expected={expected}", flush=True)
if rank == 0:
    with open(os.path.join(os.environ["DTRAIN_OUTPUT_DIR"], "mpi-sum.txt"), "w") as f:
        f.write(f"{total}\n")
sys.exit(0 if total == expected else 3)
