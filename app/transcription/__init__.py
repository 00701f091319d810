"""Transcription jobs for the app, without Qt: what a job reports while it runs, and
where the model runs (a thread of the app, or a long-lived worker process)."""
