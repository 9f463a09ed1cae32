"""Reading and writing Delta tables, sources and splits."""
