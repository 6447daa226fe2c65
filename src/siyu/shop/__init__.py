"""The web shop: the mini-program's journey in a browser (server-rendered, for the demo)."""
