"""Fits whose rows live in a Dask DataFrame (issue 19).

The user-facing functions route a ``dask.dataframe.DataFrame`` here: the frame is
partitioned by the grouping factor of the largest random term (:mod:`.frame`), each
partition's rows are encoded once by the formula layer into a ``fit.partition_chunk``
chunk held on the workers (:mod:`.partitions`), and the estimator of
``fit.partitioned`` runs its rounds over them; the result is an ``HGLMResult`` whose
per-row vectors are Dask Series (:mod:`.hglm2`).  Dask is imported here only, on first
use: ``import hglm`` does not import it.
"""

from .detect import is_dask_frame

__all__ = ["is_dask_frame"]
