"""Importers: parse, validate and normalise shop exports into facts and identities."""
