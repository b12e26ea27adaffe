"""Misalignment measures of one dataset from its probe (AEM, start times, onset, references,
uncertainty, order, alignment embeddings), their typed report (``aem.json``), its text and
figures, and the files the commands write."""
