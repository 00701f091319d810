"""The transcription queue: one job at a time off the UI thread, shown with progress."""
