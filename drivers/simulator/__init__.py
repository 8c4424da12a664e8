"""A simulated PAX terminal speaking POSLink through the same codec as the driver.

``Simulator`` is the terminal model; ``serve_tcp`` and ``serve_pty`` put it on a line;
``python -m drivers.simulator --tcp 127.0.0.1:0`` runs one in its own process.
"""

from drivers.simulator.faults import FAULTS
from drivers.simulator.model import SimRecord, Simulator
from drivers.simulator.servers import InProcessConnector, TcpSimServer, serve_tcp

__all__ = [
    "FAULTS",
    "InProcessConnector",
    "SimRecord",
    "Simulator",
    "TcpSimServer",
    "serve_pty",
    "serve_tcp",
]


def __getattr__(name: str) -> object:
    if name == "serve_pty":
        from drivers.simulator.pty import serve_pty

        return serve_pty
    raise AttributeError(name)
