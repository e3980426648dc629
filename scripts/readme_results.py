"""Print the README's generated tables from a run's tables: the claims of the default run, or the
protocol-variant comparison.

    python scripts/readme_results.py results/summary/mnist5k/claims.parquet --readme README.md
    python scripts/readme_results.py results/variants/mnist5k/overview.parquet --readme README.md
    python scripts/readme_results.py results/evidence/mnist5k/claims.parquet --readme README.md
    python scripts/readme_results.py results/diagnosis/mnist5k/overview.parquet --readme README.md

prints the table as Markdown; with ``--readme`` it also replaces the table between the markers
of that file: ``<!-- results table: <dataset> -->`` ... ``<!-- end of results table: <dataset> -->``
for a claims table of that dataset (the README has one for the embedded ``mnist5k`` and one for
full ``mnist``), ``<!-- variants table: <dataset> -->`` ... ``<!-- end of variants table: <dataset> -->``
for a comparison's ``overview.parquet`` (read with the ``verdicts.parquet`` beside it),
``<!-- evidence results: <dataset> -->`` ... for the evidence stage's ``claims.parquet`` (read with
the ``estimator_check.parquet`` beside it), ``<!-- diagnosis results: <dataset> -->`` ... for the
diagnosis' ``overview.parquet`` (read with the ``hypotheses.parquet`` beside it). Every cell is copied from
those tables (the verdicts the workflow computed), never typed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from bayes_sgd.claims.report import (  # noqa: E402
    diagnosis_markdown, evidence_markdown, results_markdown, rewrite_readme_section, variants_markdown,
)
from bayes_sgd.tables import read_provenance, read_table  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "table", type=Path,
        help="claims.parquet of a run (results/summary/<dataset>/ or results/evidence/<dataset>/), or overview.parquet "
        "of a comparison (results/variants/<dataset>/) or of the diagnosis (results/diagnosis/<dataset>/)",
    )
    parser.add_argument("--readme", type=Path, help="also rewrite the table between the markers of this file")
    args = parser.parse_args()

    provenance = read_provenance(args.table)["provenance"]
    if "hypotheses" in provenance:  # the diagnosis (rule diagnose)
        name = f"diagnosis results: {provenance['dataset']}"
        table = diagnosis_markdown(read_table(args.table.with_name("hypotheses.parquet")), read_table(args.table), provenance["dataset"])
    elif "variants" in provenance:
        name = f"variants table: {provenance['dataset']}"
        table = variants_markdown(read_table(args.table), read_table(args.table.with_name("verdicts.parquet")))
    elif "failed_accuracy" in provenance:  # the evidence stage's claims (rule assess_evidence_claims)
        name = f"evidence results: {provenance['dataset']}"
        table = evidence_markdown(read_table(args.table), read_table(args.table.with_name("estimator_check.parquet")),
                                  read_table(args.table.with_name("measures.parquet")))
    else:
        name = f"results table: {provenance['dataset']}"
        table = results_markdown(read_table(args.table), provenance["dataset"])
    print(table, end="")
    if args.readme:
        rewrite_readme_section(args.readme, name, table)


if __name__ == "__main__":
    main()
