"""The engine: arrays in, arrays out.

The factorisations of the augmented system T'WT (structured Cholesky, general sparse
Cholesky with its selected inverse, the n-space solver of bigRR), the interface they
share (:mod:`.factor`) and the helpers they share.  Nothing here knows of formulas, data
frames or estimators.
"""

from ._blas import cholesky_solve, optimizer_threads, single_thread
from .augmented_factor import AugmentedFactor
from .blocks import Block, Grouped, Indicator, as_block, block_matvec, block_width
from .congruence import gram_matvec, kept_products, transformed_blocks, transformed_system
from .factor import (
    Factor,
    NotPositiveDefiniteError,
    SolvingFactor,
    System,
    inverse_diag_blocks,
)
from .floor_screen import column_norms
from .lazy import LazyTail
from .ldl import spd_logdet
from .level_blocks import LevelBlocks
from .marker_basis import MarkerBasis, bigrr_leverages, marker_leverages, weighted_gram
from .nspace import MarginalFactor, MarginalSolver
from .pair_products import scaled_gram, scaled_gram_pair
from .partition import (
    Elimination,
    PartitionFactor,
    PartitionSystem,
    schur_cholesky,
    schur_inverse,
)
from .schur_buffer import schur_memory
from .solver_choice import make_system
from .sparse import precision_deviance

__all__ = [
    "AugmentedFactor",
    "Block",
    "Factor",
    "Grouped",
    "Indicator",
    "LazyTail",
    "LevelBlocks",
    "MarginalFactor",
    "MarginalSolver",
    "MarkerBasis",
    "NotPositiveDefiniteError",
    "Elimination",
    "PartitionFactor",
    "PartitionSystem",
    "SolvingFactor",
    "System",
    "as_block",
    "bigrr_leverages",
    "cholesky_solve",
    "block_matvec",
    "block_width",
    "column_norms",
    "inverse_diag_blocks",
    "make_system",
    "marker_leverages",
    "optimizer_threads",
    "precision_deviance",
    "scaled_gram",
    "scaled_gram_pair",
    "schur_cholesky",
    "gram_matvec",
    "kept_products",
    "transformed_blocks",
    "transformed_system",
    "schur_inverse",
    "schur_memory",
    "single_thread",
    "spd_logdet",
    "weighted_gram",
]
