"""Listing: registry queries and filters, statistics, copies of a variant and last access."""
