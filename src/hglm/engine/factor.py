"""The factor of C = T'WT and the error that every solver raises when C is not
numerically positive definite."""

from __future__ import annotations

import numpy as np


class NotPositiveDefiniteError(np.linalg.LinAlgError):
    """The augmented system T'WT is not numerically positive definite."""
