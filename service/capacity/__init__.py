"""Capacity-aware matching: the agency's capacity policy, congestion prices, and what the
seeker match route does with them."""
