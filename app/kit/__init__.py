"""Pure helpers: no I/O, no domain imports."""
