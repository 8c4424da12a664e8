"""posplus-tui: take card payments against ServiceTitan invoices from the counter."""

__version__ = "0.1.0"
