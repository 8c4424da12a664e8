"""Card-not-present providers (payment links) and the ways a link reaches a customer.

A sibling of ``drivers/``: it never imports ``posplus_tui``, so each provider could ship alone.
"""
