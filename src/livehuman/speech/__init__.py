"""Speech in and out: audio files, resampling, voice activity, recognition and synthesis."""
