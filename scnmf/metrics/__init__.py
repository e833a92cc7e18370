"""Public metrics: agreement of a clustering with labels, and recovery of planted programs.

Both work on plain arrays, so they score any embedding (scnmf's, scanpy's or another tool's).
"""

from ._clustering import accuracy, agreement, contingency, kmeans_agreement, purity
from ._recovery import cosine_error, cosine_matrix, match_programs, matched_relative_error

__all__ = [
    "accuracy",
    "agreement",
    "contingency",
    "cosine_error",
    "cosine_matrix",
    "kmeans_agreement",
    "match_programs",
    "matched_relative_error",
    "purity",
]
