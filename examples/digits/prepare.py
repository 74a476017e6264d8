"""Write the handwritten-digits example's data from the copy that ships inside scikit-learn.

The data are real: 1,797 scans of handwritten digits (0-9) from the UCI "Optical Recognition of
Handwritten Digits" collection, each an 8x8 grid of pixel counts 0-16 (how many of the 4x4 block
of the original 32x32 bitmap were inked). scikit-learn ships them (`sklearn.datasets.load_digits`),
so nothing is downloaded.

    python examples/digits/prepare.py --out examples/digits/data

writes ``train.parquet`` (80% of the scans) and ``eval.parquet`` (the other 20%), split at
random with every digit in the same proportion in both (the scans carry no time or writer).
The same arguments always give the same rows.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

SEED = 11
EVAL_FRACTION = 0.2
SIDE = 8  # the scans are 8x8 grids


def pixel_names() -> list[str]:
    """``px_<row>_<column>`` for every pixel, row by row from the top left."""
    return [f"px_{r}_{c}" for r in range(SIDE) for c in range(SIDE)]


def scans() -> pd.DataFrame:
    """Every scan: ``image_id``, the 64 pixel counts (integers 0-16) and the ``digit`` drawn."""
    bunch = load_digits()
    pixels = pd.DataFrame(bunch.data.astype("int64"), columns=pixel_names())
    ids = pd.Series([f"D{i:04d}" for i in range(1, len(pixels) + 1)], name="image_id")
    digit = pd.Series(bunch.target.astype("int64"), name="digit")
    return pd.concat([ids, pixels, digit], axis=1)


def split(frame: pd.DataFrame, seed: int = SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training, evaluation) rows: a random split stratified on the digit."""
    train, evaluation = train_test_split(
        frame, test_size=EVAL_FRACTION, random_state=seed, stratify=frame["digit"]
    )
    return train.reset_index(drop=True), evaluation.reset_index(drop=True)


def write(out: Path, seed: int = SEED) -> tuple[Path, Path]:
    """Write ``out/train.parquet`` and ``out/eval.parquet``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = out / "train.parquet", out / "eval.parquet"
    for part, path in zip(split(scans(), seed), paths, strict=True):
        part.to_parquet(path, index=False)
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--seed", type=int, default=SEED, help="seed of the random split")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    paths = write(args.out, args.seed)
    elapsed = time.perf_counter() - started
    print(f"wrote {', '.join(str(p) for p in paths)} in {elapsed:.1f}s")


if __name__ == "__main__":
    main()
