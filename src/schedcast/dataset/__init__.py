"""Dataset: next-event examples labelled from their own run, distribution groups with
Dirichlet posteriors, program-level splits, Parquet tables (docs/dataset.md)."""

from schedcast.dataset.build import PAPER_DEPTHS, BuildOptions, BuildReport, DatasetError, build_dataset
from schedcast.dataset.groups import GroupDistribution, group_distribution
from schedcast.dataset.splits import SplitError, assign_splits, check_split_hygiene

__all__ = [
    "PAPER_DEPTHS",
    "BuildOptions",
    "BuildReport",
    "DatasetError",
    "GroupDistribution",
    "SplitError",
    "assign_splits",
    "build_dataset",
    "check_split_hygiene",
    "group_distribution",
]
