"""The dashboard's screens. None imports the app: each reaches it through ``tui.data.Dashboard``."""
