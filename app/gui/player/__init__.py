"""Playback in the window: the controller bridging app.audio.Player to Qt, and the transport bar."""
