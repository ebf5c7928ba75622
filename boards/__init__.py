"""Board targets, board top with host link, build driver and power estimate.

Nothing is implemented here yet; see the open issues.
"""

__all__ = []
