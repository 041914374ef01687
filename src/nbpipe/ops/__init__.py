"""Services above a single run: dependency-ordered DAG runs and backfills."""
