"""paperfeed: self-hosted research-paper discovery and recommendation."""

__version__ = "0.1.0"
