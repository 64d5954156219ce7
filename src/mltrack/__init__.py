"""mltrack: MLflow's ML lifecycle stored in your own git repository."""

__version__ = "0.1.0"
