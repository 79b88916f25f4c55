"""Prompt expansion, presets, shot planning and Wan2.2 generation (pure logic, no Prefect)."""
