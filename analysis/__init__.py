"""Analysis code reads what methods expose through ``extras``; it never imports method internals."""
