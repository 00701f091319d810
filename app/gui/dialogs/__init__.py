"""Dialogs: keyboard shortcuts, settings, learning consent, learning data, retime, export."""
