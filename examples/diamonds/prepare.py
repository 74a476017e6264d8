"""Write the diamond-prices example's data from the copy that ships inside plotnine.

The data are real: the prices and grading of 53,940 round-cut diamonds (ggplot2's ``diamonds``,
collected from a diamond retailer's listings), as plotnine ships them in its wheel
(``plotnine/data/diamonds.csv``). The file is read where pip installed it, without importing
plotnine (or matplotlib), so nothing is downloaded:

    pip install 'keel[examples]'          # or: pip install plotnine
    python examples/diamonds/prepare.py --out examples/diamonds/data

writes ``train.parquet`` (80% of the diamonds) and ``eval.parquet`` (the other 20%), split at
random (the listings carry no date), each diamond with an id ``diamond_id``. The same arguments
always give the same rows.
"""

from __future__ import annotations

import argparse
import time
from importlib import metadata
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

SEED = 3
EVAL_FRACTION = 0.2
PACKAGE = "plotnine"
FILE = "plotnine/data/diamonds.csv"
COLUMNS = ("carat", "cut", "color", "clarity", "depth", "table", "price", "x", "y", "z")


def source() -> Path:
    """Where the installed plotnine keeps ``diamonds.csv``; a clear error when it is not there."""
    try:
        dist = metadata.distribution(PACKAGE)
    except metadata.PackageNotFoundError:
        raise SystemExit(
            f"the diamonds data ship inside the {PACKAGE} package, which is not installed: "
            f"pip install 'keel[examples]' (or pip install {PACKAGE})"
        ) from None
    path = Path(str(dist.locate_file(FILE)))
    if not path.is_file():
        raise SystemExit(f"{PACKAGE} {dist.version} is installed but has no {FILE} ({path})")
    return path


def diamonds(path: Path | None = None) -> pd.DataFrame:
    """Every diamond: ``diamond_id``, its grading and measures, and its ``price`` in USD."""
    path = path if path is not None else source()
    frame = pd.read_csv(path)
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise SystemExit(f"{path}: expected the columns {', '.join(COLUMNS)}; missing {missing}")
    frame = frame[list(COLUMNS)]
    ids = pd.Series([f"G{i:05d}" for i in range(1, len(frame) + 1)], name="diamond_id")
    return pd.concat([ids, frame], axis=1)


def split(frame: pd.DataFrame, seed: int = SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training, evaluation) rows: a random split."""
    train, evaluation = train_test_split(frame, test_size=EVAL_FRACTION, random_state=seed)
    return train.reset_index(drop=True), evaluation.reset_index(drop=True)


def write(out: Path, seed: int = SEED) -> tuple[Path, Path]:
    """Write ``out/train.parquet`` and ``out/eval.parquet``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = out / "train.parquet", out / "eval.parquet"
    for part, path in zip(split(diamonds(), seed), paths, strict=True):
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
