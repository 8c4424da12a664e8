"""Dejavoo SPIn REST v2 over HTTP: a pure codec (:mod:`~drivers.spin.codec`), the meaning of its
replies (:mod:`~drivers.spin.outcome`), and the terminal that moves them (:mod:`~drivers.spin.terminal`)."""
