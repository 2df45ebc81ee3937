"""Realistic parcels on a real Chinese express network, with injected, labelled anomalies.

``Simulation(SimConfig(...)).stream()`` yields replay lines (DESIGN.md "Replay") in arrival
order; ``labels`` says which parcels were harmed, how, where and by whom.
"""

from parcelguard.simulator.labels import ANOMALIES, Label
from parcelguard.simulator.network import Facility, Network, china, distance_km
from parcelguard.simulator.scenario import Progress, SimConfig, Simulation

__all__ = [
    "ANOMALIES", "Facility", "Label", "Network", "Progress", "SimConfig", "Simulation", "china",
    "distance_km",
]
