"""Identity resolution: one customer ID for every record of the same person.

``rules`` holds the pure decisions (name compatibility, shared identifiers, the
constrained union-find); ``matching`` the probabilistic model (Splink); ``resolve``
runs the graph full or incrementally; ``merges`` the manual merge / un-merge and the
review queue; ``followers`` moves what belongs to a customer when IDs change.
"""
