"""Tables of stored results: activities (cells × programs), top genes, program names."""

from ._activities import activities, program_names
from ._markers import marker_overlap
from ._programs import gene_specificity, programs

__all__ = ["activities", "gene_specificity", "marker_overlap", "program_names", "programs"]
