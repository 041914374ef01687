"""The pure core both processes share: configuration, parameters, contracts, fingerprints, the DAG,
masking, events, run records, the runner↔kernel protocol and the on-disk layout.

Nothing here imports pyspark, papermill, nbconvert, great-expectations, sqlalchemy or the two sides.
"""
