"""`python -m opensearch_sparse` runs the CLI."""

from opensearch_sparse.cli import main

main()
