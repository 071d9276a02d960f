"""hygge-parquet: Parquet files as a hygge home and store."""

__version__ = "0.1.0"
