"""Sound in and out for the app, without Qt: playback with a pitch-preserving speed
control, and microphone recording. Everything here is testable without a display;
the only system boundary is the sounddevice (PortAudio) stream.
"""
