"""The job model: kinds, JobSpec <-> manifest, validation, status. Imports no backend."""
