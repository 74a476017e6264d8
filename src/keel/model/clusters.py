"""Groups of model inputs that stand in for each other (data.2), so they are judged together.

Shuffling one of several redundant inputs barely moves the metric: the model reads the same
information from the others. Judged one by one, every member of such a group looks useless,
and dropping them all can ruin the model (neighbouring pixels of an image, several sensors of
one quantity). Inputs are therefore grouped by how strongly they are associated, on at most
`CLUSTER_CELLS` values of a seeded sample of rows:

    numeric vs numeric           |Spearman ρ| (Pearson's r of the ranks, missing values
                                 dropped pair by pair): any monotone relation counts
    categorical vs categorical   bias-corrected Cramér's V (at most `MAX_CATEGORIES` values)
    categorical vs numeric       bias-corrected correlation ratio η of the ranks

Groups are the clusters of average-linkage hierarchical clustering on the distance
1 − association, cut at 1 − `min_association`: every group's members are, on average, at
least `min_association` associated with each other. Columns of other kinds (dates, categories
with more values) stay alone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from keel.model.fairness import correlation_ratio, cramers_v
from keel.model.importance import MAX_CATEGORIES, abs_pearson_matrix, sample_rows
from keel.model.slices import is_categorical

CLUSTER_CELLS = 2_000_000  # rows × inputs read to group the inputs
MIN_CLUSTER_ROWS = 500


def association_matrix(frame: pd.DataFrame) -> np.ndarray:
    """The association of every pair of columns of `frame` (module docstring), in [0, 1]; 0 for
    pairs of columns of other kinds, 1 on the diagonal."""
    names = list(frame.columns)
    numeric = [
        i
        for i, c in enumerate(names)
        if not is_categorical(frame[c]) and pd.api.types.is_numeric_dtype(frame[c].dtype)
    ]
    categorical = [
        i
        for i, c in enumerate(names)
        if is_categorical(frame[c]) and frame[c].nunique(dropna=False) <= MAX_CATEGORIES
    ]
    found = np.zeros((len(names), len(names)))
    ranks = {}
    if numeric:
        block = frame.iloc[:, numeric].rank().to_numpy(dtype="float64", na_value=np.nan)
        found[np.ix_(numeric, numeric)] = abs_pearson_matrix(block)
        ranks = {i: block[:, k] for k, i in enumerate(numeric)}
    labels = {
        i: frame.iloc[:, i].astype(object).where(frame.iloc[:, i].notna(), "<missing>")
        for i in categorical
    }
    for k, a in enumerate(categorical):
        for b in categorical[k + 1 :]:
            found[a, b] = found[b, a] = cramers_v(labels[a], labels[b])
        for b, values in ranks.items():
            present = ~np.isnan(values)
            found[a, b] = found[b, a] = correlation_ratio(labels[a][present], values[present])
    np.fill_diagonal(found, 1.0)
    return found


def correlated_groups(
    inputs: pd.DataFrame, *, min_association: float, seed: int = 0
) -> list[list[str]]:
    """The groups of at least two inputs that stand in for each other (module docstring), each
    in the order of the columns, groups in the order of their first member."""
    names = [str(c) for c in inputs.columns]
    if len(names) < 2:
        return []
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    rows = max(MIN_CLUSTER_ROWS, CLUSTER_CELLS // len(names))
    frame = inputs.iloc[sample_rows(len(inputs), rows, seed=seed)].reset_index(drop=True)
    distance = 1.0 - association_matrix(frame)
    np.fill_diagonal(distance, 0.0)
    tree = linkage(squareform(np.clip(distance, 0.0, 1.0), checks=False), method="average")
    labels = fcluster(tree, t=1.0 - min_association + 1e-12, criterion="distance")
    groups: dict[int, list[str]] = {}
    for name, label in zip(names, labels, strict=True):
        groups.setdefault(int(label), []).append(name)
    return [members for members in groups.values() if len(members) > 1]
