"""Profiles of datasets (start-time spread, AEM, order sensitivity, alignment gain) and
single-factor sweeps over synthetic levels: points, table, figures and their typed results."""
