"""siyu (私域): an open-source private-domain retail operating system."""

__version__ = "0.1.0"
