"""Code to job: a notebook function or cell turned into an ordinary manifest, on the kernel side.

`capture.py` finds what the code needs in the notebook, `args.py` checks the arguments,
`job.py` builds the JobSpec whose replicas run `runner.py`, and `results.py` reads back what the
replicas reported. The server and the backends only ever see the manifest.
"""
