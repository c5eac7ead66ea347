"""Operator work on stored data: garbage collection, verification, purges."""
