"""The library: recordings and their transcripts, searchable by name and text."""
