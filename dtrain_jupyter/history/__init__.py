"""Job history: records and logs kept after the cluster forgets a job (store.py, log_archive.py)."""
