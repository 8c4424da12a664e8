"""Card-terminal drivers. A separate package: it never imports ``posplus_tui``."""
