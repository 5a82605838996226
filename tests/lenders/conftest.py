"""Lender tests run over every registered API style."""

from apps.sandbox.styles import sandbox_styles

# Every registered API style (apps/lenders/adapters/__init__.py), each with its sandbox lender:
# the adapter contract tests run over all of them.
STYLES = tuple(sandbox_styles())
