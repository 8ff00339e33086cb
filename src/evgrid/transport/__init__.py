"""Traffic core (Kedro-free): network graph with BPR costs, TNTP I/O, static user-equilibrium assignment.

Modules: ``network`` (:class:`~evgrid.transport.network.TrafficNetwork`, shared with the tariff study's
time-expanded EV flow), ``tntp`` (readers for the TNTP benchmark format), ``assignment`` (multi-class
static UE).
"""
