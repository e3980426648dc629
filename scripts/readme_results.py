"""Print the README's "Results of the default run" table from a run's claims table.

    python scripts/readme_results.py results/summary/mnist5k/claims.parquet
    python scripts/readme_results.py results/summary/mnist5k/claims.parquet --readme README.md

prints the table as Markdown; with ``--readme`` it also replaces the table between the
``<!-- results table -->`` and ``<!-- end of results table -->`` markers of that file. Every
cell is copied from ``claims.parquet`` (the verdicts the workflow computed), never typed.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from bayes_sgd.report import results_markdown  # noqa: E402
from bayes_sgd.tables import read_provenance, read_table  # noqa: E402

START, END = "<!-- results table -->", "<!-- end of results table -->"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("claims", type=Path, help="claims.parquet of a run (results/summary/<dataset>/claims.parquet)")
    parser.add_argument("--readme", type=Path, help="also rewrite the table between the markers of this file")
    args = parser.parse_args()

    dataset = read_provenance(args.claims)["provenance"]["dataset"]
    table = results_markdown(read_table(args.claims), dataset)
    print(table, end="")
    if args.readme:
        text = args.readme.read_text()
        pattern = re.compile(re.escape(START) + r"\n.*?" + re.escape(END), re.DOTALL)
        if not pattern.search(text):
            sys.exit(f"{args.readme}: no '{START}' ... '{END}' markers")
        args.readme.write_text(pattern.sub(lambda _: f"{START}\n{table}{END}", text))


if __name__ == "__main__":
    main()
