"""Per-input contributions of a model's raw output: exact for linear models, path attribution
for trees (HistGradientBoosting, GradientBoosting, random forests, decision trees).

Private to `keel.model.explain`; see its docstring for why path attribution and not SHAP. Other
models are explained by Shapley sampling (`keel.model._sampling`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

EXACT = (
    "linear models (coef_ and intercept_: LogisticRegression, LinearRegression, Ridge, …), "
    "HistGradientBoosting, GradientBoosting, RandomForest, ExtraTrees and DecisionTree "
    "classifiers and regressors, alone or as the last step of a scikit-learn Pipeline"
)
_TREE_ENSEMBLES = ("RandomForest", "ExtraTrees")


def _dense(data: Any) -> np.ndarray:
    if hasattr(data, "toarray"):
        return np.asarray(data.toarray())
    return np.asarray(data)


@dataclass
class Attribution:
    """The model's output on some rows split into a baseline and per-feature contributions."""

    method: str
    output_name: str
    baseline: np.ndarray  # (rows,)
    contributions: np.ndarray  # (rows, features of the final model)
    output: np.ndarray  # (rows,): the model's own output, computed independently
    errors: np.ndarray | None = None  # (rows, features): standard errors of estimated ones


def unsupported(final: Any) -> str | None:
    """Why Keel has no exact method for this final model, or None when it has one (other
    models are explained by Shapley sampling, `keel.model._sampling`)."""
    name = type(final).__name__
    if hasattr(final, "_predictors") and hasattr(final, "_baseline_prediction"):
        return None
    if name.startswith(("GradientBoosting", "DecisionTree", "ExtraTree", *_TREE_ENSEMBLES)):
        if getattr(final, "n_outputs_", 1) != 1:
            return f"{name} with several outputs is not supported"
        return None
    if hasattr(final, "coef_") and hasattr(final, "intercept_"):
        if np.ndim(final.coef_) == 2 and len(final.coef_) > 1 and not hasattr(final, "classes_"):
            return f"{name} with several outputs is not supported"
        one_vs_one = hasattr(final, "support_vectors_") and np.ndim(final.coef_) == 2
        if one_vs_one and len(final.coef_) > 1:
            return f"{name}'s multiclass decision function is not linear in its one-vs-one coef_"
        return None
    return f"{name} has no exact method in keel explain ({EXACT})"


def _class_index(raw: np.ndarray) -> np.ndarray:
    """The column of each row's explained output: the only one, or the predicted class's."""
    return np.zeros(len(raw), int) if raw.shape[1] == 1 else np.argmax(raw, axis=1)


def _two_d(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return values.reshape(len(values), -1)


def _depths(left: np.ndarray, right: np.ndarray, leaf: np.ndarray) -> list[np.ndarray]:
    """Node ids level by level from the root."""
    levels, frontier = [], np.array([0])
    while frontier.size:
        levels.append(frontier)
        inner = frontier[~leaf[frontier]]
        frontier = np.concatenate([left[inner], right[inner]])
    return levels


def expectations(
    left: np.ndarray, right: np.ndarray, leaf: np.ndarray, value: np.ndarray, weight: np.ndarray
) -> np.ndarray:
    """Each node's expected value: the weight-weighted mean of the leaf values below it."""
    ev, w = value.astype(float).copy(), weight.astype(float).copy()
    for level in reversed(_depths(left, right, leaf)):
        inner = level[~leaf[level]]
        lw, rw = w[left[inner]], w[right[inner]]
        total = lw + rw
        safe = np.where(total > 0, total, 1.0)
        mean = np.where(
            total > 0,
            (lw * ev[left[inner]] + rw * ev[right[inner]]) / safe,
            (ev[left[inner]] + ev[right[inner]]) / 2,
        )
        ev[inner], w[inner] = mean, total
    return ev


def _credit(
    path_from: list[np.ndarray],
    path_to: list[np.ndarray],
    feature: np.ndarray,
    ev: np.ndarray,
    shape: tuple[int, int],
) -> np.ndarray:
    """Contributions (rows, p) of steps parent → child along each row's path.

    `shape` is given, not read from the paths: a tree that is a single leaf (common in
    multiclass boosting once a class is separated) has no steps, and credits nothing.
    """
    n, p = shape
    out = np.zeros((n, p))
    rows = np.arange(n)
    for parent, child in zip(path_from, path_to, strict=True):
        moving = parent != child
        np.add.at(
            out,
            (rows[moving], feature[parent[moving]]),
            ev[child[moving]] - ev[parent[moving]],
        )
    return out


def _hgb_route(
    tree: Any, known: np.ndarray, f_map: np.ndarray, x: np.ndarray
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each row's path through one HistGradientBoosting tree, as scikit-learn routes it: the
    node each row is at, and the node it moves to, level by level."""
    nodes = tree.nodes
    leaf = nodes["is_leaf"].astype(bool)
    node = np.zeros(len(x), dtype=np.int64)
    froms, tos = [], []
    rows = np.arange(len(x))
    while not leaf[node].all():
        f = nodes["feature_idx"][node]
        v = x[rows, f]
        nan = np.isnan(v)
        miss_left = nodes["missing_go_to_left"][node].astype(bool)
        go_left = v <= nodes["num_threshold"][node]
        cat = nodes["is_categorical"][node].astype(bool) & ~nan
        if cat.any():  # left when in the split's bitset; unknown or negative codes as missing
            valid = cat & (v >= 0) & (v < 256)
            code = np.where(valid, v, 0).astype(np.int64)
            word, bit = code // 32, (code % 32).astype(np.uint32)
            idx = np.where(cat, nodes["bitset_idx"][node], 0)
            in_left = (tree.raw_left_cat_bitsets[idx, word] >> bit) & 1
            in_known = (known[f_map[f], word] >> bit) & 1
            cat_left = np.where(
                valid & (in_left == 1), True, np.where(valid & (in_known == 1), False, miss_left)
            )
            go_left = np.where(cat, cat_left, go_left)
        go_left = np.where(nan, miss_left, go_left)
        nxt = np.where(go_left, nodes["left"][node], nodes["right"][node]).astype(np.int64)
        nxt = np.where(leaf[node], node, nxt)
        froms.append(node)
        tos.append(nxt)
        node = nxt
    return froms, tos


def _hgb(final: Any, X: Any) -> Attribution:
    raw = _two_d(final._raw_predict(X))
    k = _class_index(raw)
    x = np.asarray(final._preprocess_X(X, reset=False), dtype=float)
    p_final = x.shape[1]
    # internal feature order → the final model's input columns (its own category encoder puts
    # categorical columns first)
    order = np.arange(p_final)
    pre = getattr(final, "_preprocessor", None)
    if pre is not None:
        order = np.empty(p_final, dtype=np.int64)
        for name, where in pre.output_indices_.items():
            columns = pre._transformer_to_input_indices.get(name, [])
            order[where] = columns[: where.stop - where.start]
    known, f_map = final._bin_mapper.make_known_categories_bitsets()
    n = len(x)
    baseline = np.asarray(final._baseline_prediction, dtype=float).reshape(-1)[k].copy()
    contrib = np.zeros((n, p_final))
    for iteration in final._predictors:
        for c, tree in enumerate(iteration):
            mine = k == c
            if not mine.any():
                continue
            nodes = tree.nodes
            leaf = nodes["is_leaf"].astype(bool)
            ev = expectations(
                nodes["left"].astype(np.int64),
                nodes["right"].astype(np.int64),
                leaf,
                nodes["value"],
                nodes["count"],
            )
            froms, tos = _hgb_route(tree, known, f_map, x[mine])
            part = _credit(
                froms, tos, nodes["feature_idx"].astype(np.int64), ev, (int(mine.sum()), p_final)
            )
            contrib[np.ix_(mine, order)] += part
            baseline[mine] += ev[0]
    name = _output_name(final, raw)
    return Attribution(
        "tree path attribution (Saabas)", name, baseline, contrib, raw[np.arange(n), k]
    )


def _take(X: Any, mask: np.ndarray) -> Any:
    return X.iloc[np.flatnonzero(mask)] if isinstance(X, pd.DataFrame) else X[mask]


def _sklearn_tree(tree: Any, X: Any, value: np.ndarray, p: int) -> tuple[np.ndarray, float]:
    """Contributions (rows, p) along each row's path through one scikit-learn tree, and the
    tree's root expectation; `value` holds each node's output (leaves matter)."""
    t = tree.tree_
    leaf = t.children_left < 0
    left, right = np.maximum(t.children_left, 0), np.maximum(t.children_right, 0)
    ev = expectations(left, right, leaf, value, t.weighted_n_node_samples)
    parent = np.zeros(t.node_count, dtype=np.int64)
    inner = np.flatnonzero(~leaf)
    parent[left[inner]], parent[right[inner]] = inner, inner
    path = tree.decision_path(X).tocoo()
    step = path.col != 0
    rows, nodes = path.row[step], path.col[step]
    out = np.zeros((X.shape[0], p))
    np.add.at(out, (rows, t.feature[parent[nodes]]), ev[nodes] - ev[parent[nodes]])
    return out, float(ev[0])


def _forest(final: Any, X: Any) -> Attribution:
    name = type(final).__name__
    is_classifier = hasattr(final, "classes_")
    trees = list(getattr(final, "estimators_", [final]))
    # a forest's trees were fitted on arrays, a lone tree on whatever it was given
    X_trees = final._validate_X_predict(X) if hasattr(final, "estimators_") else X
    n, p = X_trees.shape[0], final.n_features_in_
    if is_classifier:
        proba = _two_d(final.predict_proba(X))
        k = np.full(n, 1) if proba.shape[1] == 2 else np.argmax(proba, axis=1)
        output = proba[np.arange(n), k]
        label = final.classes_[1] if proba.shape[1] == 2 else "the predicted class"
        output_name = f"probability of {label}"
    else:
        output = np.asarray(final.predict(X), dtype=float).reshape(-1)
        k = np.zeros(n, int)
        output_name = "prediction"
    contrib, baseline = np.zeros((n, p)), np.zeros(n)
    for tree in trees:
        values = tree.tree_.value[:, 0, :]
        if is_classifier:  # class counts or fractions → fractions (the leaf's probabilities)
            totals = values.sum(axis=1, keepdims=True)
            values = values / np.where(totals > 0, totals, 1.0)
        for c in np.unique(k):
            mine = k == c
            part, root = _sklearn_tree(tree, _take(X_trees, mine), values[:, c], p)
            contrib[mine] += part / len(trees)
            baseline[mine] += root / len(trees)
    return Attribution(
        f"tree path attribution (Saabas), {name}", output_name, baseline, contrib, output
    )


def _gradient_boosting(final: Any, X: Any) -> Attribution:
    if hasattr(final, "classes_"):
        raw = _two_d(final.decision_function(X))
    else:
        raw = _two_d(final.predict(X))
    n, p = raw.shape[0], final.n_features_in_
    k = _class_index(raw)
    X32 = np.ascontiguousarray(final.estimators_[0, 0]._validate_X_predict(X, check_input=True))
    baseline = _two_d(final._raw_predict_init(X32))[np.arange(n), k]
    contrib = np.zeros((n, p))
    for stage in final.estimators_:
        for c, tree in enumerate(stage):
            mine = k == c
            if mine.any():
                values = tree.tree_.value[:, 0, 0] * final.learning_rate
                part, root = _sklearn_tree(tree, X32[mine], values, p)
                contrib[mine] += part
                baseline[mine] += root
    return Attribution(
        "tree path attribution (Saabas), GradientBoosting",
        _output_name(final, raw),
        baseline,
        contrib,
        raw[np.arange(n), k],
    )


def _output_name(final: Any, raw: np.ndarray) -> str:
    if hasattr(final, "classes_"):
        if raw.shape[1] == 1:
            return f"log-odds of {final.classes_[1]} (decision function)"
        return "decision function of the predicted class"
    link = type(getattr(getattr(final, "_loss", None), "link", None)).__name__
    return "prediction" if link in ("IdentityLink", "NoneType") else "link of the prediction (log)"


def _linear(final: Any, X: Any, background: Any) -> Attribution:
    x = _dense(X).astype(float)
    mean = _dense(background).astype(float).mean(axis=0)
    coef = np.atleast_2d(np.asarray(final.coef_, dtype=float))
    intercept = np.atleast_1d(np.asarray(final.intercept_, dtype=float))
    n = len(x)
    if hasattr(final, "decision_function"):
        raw = _two_d(final.decision_function(X))
        name = _output_name(final, raw) if hasattr(final, "classes_") else "decision function"
    elif hasattr(final, "_linear_predictor"):
        raw, name = _two_d(final._linear_predictor(x)), "linear predictor (log of the prediction)"
    else:
        raw, name = _two_d(final.predict(X)), "prediction"
    k = _class_index(raw)
    w = coef[k] if len(coef) > 1 else np.repeat(coef, n, axis=0)
    b = intercept[k] if len(intercept) > 1 else np.repeat(intercept, n)
    contrib = w * (x - mean)
    baseline = b + w @ mean if w.ndim == 1 else b + (w * mean).sum(axis=1)
    return Attribution(
        f"exact linear attribution, {type(final).__name__}",
        name,
        baseline,
        contrib,
        raw[np.arange(n), k],
    )


def attribute(final: Any, X: Any, background: Any) -> Attribution:
    """Split the final model's output on `X` (its own inputs) into baseline + contributions."""
    name = type(final).__name__
    if hasattr(final, "_predictors") and hasattr(final, "_baseline_prediction"):
        return _hgb(final, X)
    if name.startswith("GradientBoosting"):
        return _gradient_boosting(final, X)
    if name.startswith(("DecisionTree", "ExtraTree", *_TREE_ENSEMBLES)):
        return _forest(final, X)
    return _linear(final, X, background)
