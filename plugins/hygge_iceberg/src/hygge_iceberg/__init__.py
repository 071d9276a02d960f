"""hygge-iceberg: Apache Iceberg tables as hygge homes and stores (on pyiceberg)."""
