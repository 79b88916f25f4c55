"""Text screening and visual review of generated clips (pure logic, no Prefect)."""
