"""The loyalty program's backend."""
