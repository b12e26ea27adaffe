"""The TSM probes: settings, inputs, networks, training and the trained probe with its
scores (what the misalignment measures read)."""
