"""Change data capture from PostgreSQL: the `postgres_cdc` home (docs/cdc.md).

`pgoutput` decodes the slot's messages, `slot` manages the replication slot and the
publication, `home` plans bounded runs (an initial snapshot, then the changes up to the LSN
fixed at plan time) and advances the slot only after the store committed.
"""
