"""Helpers shared by the LSTM Course notebooks.

Each module holds one topic and is imported where a notebook needs it:
`profiles` (run sizes per profile), `environment` (the setup call of every notebook),
`datasets` (the corpora registry and verified loader). Importing this package is cheap: nothing
here imports TensorFlow until a function needs it.
"""

__version__ = "0.1.0"
