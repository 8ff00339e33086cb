"""Planning study (paper 003): bi-level charging-station capacity planning with mixed ICEV/EV UE and OPF."""
