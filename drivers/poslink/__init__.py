"""PAX POSLink: codec, messages, session, terminal."""
