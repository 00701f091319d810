"""Learning algorithms of the personalization tier 1: alignment, lexicon, correction rules.

Everything here is a pure function of learning examples (hypothesis, reference) and
knows nothing about the store, the registry or the corpus it is run on.
"""
