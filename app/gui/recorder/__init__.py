"""Recording from a microphone: the dialog with device choice, level meter and timer."""
