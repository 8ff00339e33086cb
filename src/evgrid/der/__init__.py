"""Distributed energy resources: PV output and sizing, battery storage blocks (Kedro-free)."""

from evgrid.der.battery import BatteryParams, define_battery_block, size_battery
from evgrid.der.pv import pv_area_for_energy_m2, pv_power_kw

__all__ = ["BatteryParams", "define_battery_block", "size_battery", "pv_area_for_energy_m2", "pv_power_kw"]
