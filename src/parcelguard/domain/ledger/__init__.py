"""The custody ledger: canonical entries in an RFC 9162 Merkle tree with signed checkpoints."""
