"""Rewards catalog, vouchers, causes and donations."""
