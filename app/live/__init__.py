"""Live updates: a member's balance, pushed to the open app as it changes."""
