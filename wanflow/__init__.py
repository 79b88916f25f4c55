"""Wanflow: prompt manifests in, safe narrated Wan2.2 short videos out.

The core package every stage shares: settings, bucket keys, storage, manifest models and
ingestion, the run report and video I/O. It imports none of the stage packages; the ``wanflow``
command lives in the top-level ``cli`` package, above everything else.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("wanflow")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
