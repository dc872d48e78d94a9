"""Bonuses for who the member is: referrals and birthdays."""
