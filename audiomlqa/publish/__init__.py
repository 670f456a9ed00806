"""Synthesis outputs → a Hugging Face dataset: finding and merging runs, the parquet files, the dataset card,
the upload."""
