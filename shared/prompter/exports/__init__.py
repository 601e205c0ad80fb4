"""The warehouse export (SPEC §8): a workspace's answers, brand mentions and citations over a window of
UTC days, written as Parquet files partitioned by org, workspace and day, and the reports that read them
(the same SQL for Athena when deployed and DuckDB locally)."""
