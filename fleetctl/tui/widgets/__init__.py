"""The dashboard's own widgets: the node table and its cells."""
