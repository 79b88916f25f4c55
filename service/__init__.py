"""The web service (``wanflow serve``): the developers' ``/v1`` API and the reviewers' pages."""
