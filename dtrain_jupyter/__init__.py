"""dtrain-jupyter: distributed training jobs from inside Jupyter, locally or on Kubernetes."""

__version__ = "0.1.0"
