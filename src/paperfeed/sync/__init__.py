"""The daily sync: harvest, announce, embed, refresh, rank, send (see :mod:`.run`)."""

from paperfeed.sync.run import STEPS, Sync, SyncBusy, due, status, summary

__all__ = ["STEPS", "Sync", "SyncBusy", "due", "status", "summary"]
