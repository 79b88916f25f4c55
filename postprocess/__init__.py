"""Narration, subtitles, music, transitions and the final mux (pure logic, no Prefect)."""
