"""The learning pipeline: snapshot -> split -> train -> evaluate -> gate -> publish -> report."""
