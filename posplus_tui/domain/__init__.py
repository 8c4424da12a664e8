"""Pure domain rules: money, ids, states. No I/O lives here."""
