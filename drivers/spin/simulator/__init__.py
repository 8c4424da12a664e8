"""A simulated Dejavoo terminal behind the SPIn proxy, served over real HTTP.

``SpinSimulator`` is the model; ``serve_spin`` puts it on a loopback port;
``python -m drivers.spin.simulator --port 0`` (or ``posplus terminal sim --protocol spin``) runs one.
"""

from drivers.spin.simulator.faults import FAULTS
from drivers.spin.simulator.http import SpinSimServer, SpinSimThread, serve_spin
from drivers.spin.simulator.model import SpinRecord, SpinSimulator

__all__ = ["FAULTS", "SpinRecord", "SpinSimServer", "SpinSimThread", "SpinSimulator", "serve_spin"]
