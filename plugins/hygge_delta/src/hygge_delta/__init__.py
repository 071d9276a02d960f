"""hygge-delta: Delta Lake tables as hygge homes and stores (on delta-rs, `deltalake`)."""
