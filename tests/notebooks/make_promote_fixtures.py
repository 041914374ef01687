"""Regenerate the ``nbpipe promote`` fixture notebooks: python tests/notebooks/make_promote_fixtures.py.

``promote_orders`` is an explored notebook (read landing CSV, shape, write ``orders``);
``promote_orders_added`` adds a nullable column (an additive change; going back to
``promote_orders`` removes it, a breaking one). ``promote_bad`` breaks the lint rules that block
promotion.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent
KERNEL = {
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python"},
}
PARAMS = 'run_date = "2024-01-01"\nlimit = 100\nratio = 0.5\nverbose = False\nregion = None'
SETUP = "import nbpipe\nfrom pyspark.sql import functions as F\n\nctx = nbpipe.context()\nspark = ctx.spark"
READ = 'raw = ctx.read("raw_orders")\nraw.count()'
COLUMNS = [
    'F.col("order_id").cast("int").alias("order_id")',
    'F.col("status")',
    'F.col("amount").cast("double").alias("amount")',
    'F.col("order_date").cast("date").alias("order_date")',
    "F.lit(run_date).alias(\"batch\")",
]

NOTE = 'F.lit(None).cast("string").alias("note")'


def shape(columns: list[str]) -> str:
    body = ",\n    ".join(columns)
    return f"orders = raw.select(\n    {body},\n).limit(limit)"


WRITE = 'ctx.write(orders, "orders")\nctx.metric("orders", orders.count())'


def nb(*cells: str, params: str | None = PARAMS, title: str = "") -> nbformat.NotebookNode:
    out = [new_markdown_cell(f"# {title}")] if title else []
    if params is not None:
        out.append(new_code_cell(params, metadata={"tags": ["parameters"]}))
    out += [new_code_cell(c) for c in cells]
    book = new_notebook(cells=out, metadata=KERNEL)
    for i, cell in enumerate(book.cells):
        cell["id"] = f"cell-{i}"
    return book


FIXTURES = {
    "promote_orders": nb(SETUP, READ, shape(COLUMNS), WRITE, title="Orders, as explored"),
    "promote_orders_added": nb(
        SETUP, READ, shape([*COLUMNS, NOTE]), WRITE,
        title="Orders with a new nullable column",
    ),
    "promote_bad": nb(
        "from pyspark.sql import SparkSession\nspark = SparkSession.builder.getOrCreate()",
        'df = spark.read.parquet("/WAREHOUSE/orders")',
        "spark.stop()",
        params=None,
        title="Everything promote refuses",
    ),
}


def main() -> None:
    for name, book in FIXTURES.items():
        nbformat.validate(book)
        nbformat.write(book, HERE / f"{name}.ipynb")


if __name__ == "__main__":
    main()
