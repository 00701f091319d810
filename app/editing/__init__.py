"""Transcript editing logic without Qt: the in-memory document the editor shows,
word alignment (unsure words, the playing word, split times), the diff against
the ASR text, find/replace planning and time formatting."""
