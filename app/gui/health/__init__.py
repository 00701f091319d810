"""The Model health panel: is Tiro getting better for this person?"""
