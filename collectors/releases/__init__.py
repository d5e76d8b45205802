"""The release catalog: the bundled list of known Kata releases, and the GitHub releases feed."""
