"""Datasets: split lists (shipped as package data), video discovery, decoding and frame sampling."""
