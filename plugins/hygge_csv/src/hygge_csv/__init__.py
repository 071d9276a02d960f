"""hygge-csv: CSV and JSON-lines files as hygge homes and stores."""

__version__ = "0.1.0"
