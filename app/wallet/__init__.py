"""Wallet passes: Apple Wallet and Google Wallet member cards that stay up to date."""
