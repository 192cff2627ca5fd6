"""The README's main command as a library call, and the corpus every machine has offline."""

from opensearch_sparse.demo.run import EXAMPLE_QUERIES, DemoReport, QueryComparison, run_demo

__all__ = ["EXAMPLE_QUERIES", "DemoReport", "QueryComparison", "run_demo"]
