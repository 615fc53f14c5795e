"""Ingest: parse every supported source into PaperRecords and merge them into the store."""
