"""Bus mode: the ingest pipeline split across processes over NATS JetStream (issue 7).

API nodes and receivers publish commands to a durable stream, partitioned by tracking number;
worker processes own partitions, run the same ingestor on PostgreSQL and acknowledge each
message after its commit.
"""
