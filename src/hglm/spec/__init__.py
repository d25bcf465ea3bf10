"""What the user asked for, as arrays and term descriptions.

Response and random-effect families with their links; the formula layer (formulas as R
writes them: the bar parser, R's syntax and functions, formulaic's model matrices with
R's column names, the materializer of the design and random terms, the encoding
re-applied to new data); the designs of the dispersion models; covariance structures of
random terms (CAR/SAR, known covariance or precision); the checks of the arguments; and
the assembly of all of it into the :class:`Problem` every estimator takes.
"""

from .alignment import align_rows, align_to_index
from .assemble import (
    EngineHooks,
    assemble,
    rand_families,
    response_vector,
    split_z,
)
from .covariance import align_covariances, covariance_factors, times_factor
from .dispersion import (
    disp_design,
    disp_model_matrix,
    dispersion_columns,
    level_designs,
    rand_disp_designs,
)
from .encoding import FormulaTerm, ModelDesign, RandomTerm, VectorTerm, new_design, new_offset
from .families import (
    Beta,
    Binomial,
    Family,
    Gamma,
    Gaussian,
    InverseGamma,
    InverseGaussian,
    Poisson,
    RandomFamily,
    ResponseFamily,
    as_family,
    response_family,
)
from .formula import design_from_formulas, design_from_lme4
from .links import Link, get_link
from .model import (
    Covariance,
    Independent,
    KnownCovariance,
    KnownPrecision,
    Problem,
    RandomTermModel,
    SpatialCovariance,
    Unstructured,
)
from .names import Names
from .ordinal import (
    CUMULATIVE_LINKS,
    LatentDistribution,
    OrdinalDesign,
    OrdinalResponse,
    latent_distribution,
    ordinal_response,
)
from .ordinal_encoding import OrdinalEncoding, new_cluster_labels, new_ordinal_arrays
from .ordinal_formula import clmm_design, ordinal_design
from .precision import Precision, pedigree_precision
from .spatial import CAR, SAR, rotate_block
from .validation import (
    check_calc_like,
    check_controls,
    check_full_rank,
    check_parentheses,
    check_prior_weights,
    check_unique_columns,
    column_names,
    finite_matrix,
    integer_counts,
    plain_text,
    positive_number,
    vector_argument,
    warn_non_integer_counts,
)
from .variables import formula_columns

__all__ = [
    "CUMULATIVE_LINKS",
    "LatentDistribution",
    "OrdinalDesign",
    "OrdinalResponse",
    "latent_distribution",
    "ordinal_response",
    "OrdinalEncoding",
    "new_cluster_labels",
    "new_ordinal_arrays",
    "clmm_design",
    "ordinal_design",
    "Beta",
    "Binomial",
    "CAR",
    "Covariance",
    "EngineHooks",
    "Family",
    "Gamma",
    "Gaussian",
    "Independent",
    "InverseGamma",
    "InverseGaussian",
    "KnownCovariance",
    "KnownPrecision",
    "Link",
    "ModelDesign",
    "Names",
    "Poisson",
    "Precision",
    "Problem",
    "RandomFamily",
    "RandomTerm",
    "VectorTerm",
    "FormulaTerm",
    "RandomTermModel",
    "ResponseFamily",
    "SAR",
    "SpatialCovariance",
    "Unstructured",
    "align_covariances",
    "align_rows",
    "align_to_index",
    "as_family",
    "assemble",
    "check_calc_like",
    "check_controls",
    "check_full_rank",
    "check_parentheses",
    "check_prior_weights",
    "check_unique_columns",
    "column_names",
    "covariance_factors",
    "design_from_formulas",
    "design_from_lme4",
    "disp_design",
    "disp_model_matrix",
    "dispersion_columns",
    "finite_matrix",
    "formula_columns",
    "get_link",
    "level_designs",
    "new_design",
    "new_offset",
    "pedigree_precision",
    "plain_text",
    "positive_number",
    "rand_disp_designs",
    "rand_families",
    "response_family",
    "response_vector",
    "rotate_block",
    "split_z",
    "times_factor",
    "vector_argument",
    "integer_counts",
    "warn_non_integer_counts",
]
