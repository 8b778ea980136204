"""Code to job: a notebook function, a cell or a script folder turned into an ordinary manifest, on the kernel side.

`capture.py` finds what a live function or cell needs in the notebook, `notebook_file.py` does
the same from a saved .ipynb (the panel's wizard), `args.py` checks the arguments, `folder.py`
packs a script folder, `job.py` builds the JobSpec whose replicas run `runner.py`, `origin.py`
reads back where a job's code came from, and `results.py` reads what the replicas reported. The
server and the backends see the manifest, plus a script folder's archive
(`model.code_archive`), which the backends keep with the job.
"""
